import pytest
from bookshelf.catalogue import Book, Catalogue

DUNE = Book("Dune", "Frank Herbert", "978-0-441-17271-9", 9.99, 1965)
PRAGMATIC = Book("The Pragmatic Programmer", "Andrew Hunt", "978-0-201-61622-4", 39.95, 1999)


def test_books_keep_the_order_they_were_added_in():
    catalogue = Catalogue([DUNE, PRAGMATIC])
    assert catalogue.books() == [DUNE, PRAGMATIC]
    assert len(catalogue) == 2


def test_the_same_isbn_cannot_be_added_twice():
    catalogue = Catalogue([DUNE])
    with pytest.raises(ValueError, match="duplicate ISBN"):
        catalogue.add(DUNE)


def test_books_returns_a_copy():
    catalogue = Catalogue([DUNE])
    catalogue.books().clear()
    assert list(catalogue) == [DUNE]
