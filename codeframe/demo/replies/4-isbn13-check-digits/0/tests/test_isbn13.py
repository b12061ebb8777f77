import pytest

from bookshelf.catalogue import Book, Catalogue
from bookshelf.isbn import is_valid_isbn13


@pytest.mark.parametrize(
    "isbn", ["978-0-441-17271-9", "978-0-201-61622-4", "978-3-16-148410-0"]
)
def test_real_isbns_are_valid(isbn):
    assert is_valid_isbn13(isbn)


@pytest.mark.parametrize(
    "isbn", ["978-0-441-17271-8", "978-3-16-148410-1", "978-0-441", "978-0-441-1727X-9"]
)
def test_wrong_check_digits_and_shapes_are_invalid(isbn):
    assert not is_valid_isbn13(isbn)


def test_the_catalogue_refuses_an_invalid_isbn():
    with pytest.raises(ValueError, match="invalid ISBN-13"):
        Catalogue().add(Book("Dune", "Frank Herbert", "978-0-441-17271-8", 9.99, 1965))
