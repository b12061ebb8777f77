import pytest

from bookshelf.catalogue import Book, Catalogue
from bookshelf.isbn import normalize_isbn


def test_hyphens_and_spaces_are_dropped():
    assert normalize_isbn("978-0-201 61622-4") == "9780201616224"


def test_a_duplicate_typed_differently_is_refused():
    catalogue = Catalogue([Book("Dune", "Frank Herbert", "978-0-441-17271-9", 9.99, 1965)])
    with pytest.raises(ValueError, match="duplicate ISBN"):
        catalogue.add(Book("Dune", "Frank Herbert", "9780441172719", 9.99, 1965))
