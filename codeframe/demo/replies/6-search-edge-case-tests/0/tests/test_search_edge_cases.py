import pytest

from bookshelf.catalogue import Book, Catalogue

DUNE = Book("Dune", "Frank Herbert", "978-0-441-17271-9", 9.99, 1965)
MESSIAH = Book("Dune Messiah", "Frank Herbert", "978-0-593-09823-3", 10.99, 1969)
AUSTEN = Book("Pride and Prejudice", "Jane Austen", "978-0-14-143951-8", 7.99, 1813)


@pytest.fixture
def catalogue():
    return Catalogue([DUNE, AUSTEN, MESSIAH])


@pytest.mark.parametrize("query", ["", "   "])
def test_a_blank_query_finds_nothing(catalogue, query):
    assert catalogue.search(query) == []


def test_letter_case_does_not_matter(catalogue):
    assert catalogue.search("JANE austen") == [AUSTEN]


@pytest.mark.parametrize("query", ["978 0 14 143951 8", "978-0-14-143951-8"])
def test_isbns_may_be_typed_with_spaces_or_hyphens(catalogue, query):
    assert catalogue.search(query) == [AUSTEN]


def test_results_keep_catalogue_order(catalogue):
    assert catalogue.search("Herbert") == [DUNE, MESSIAH]


def test_no_match_finds_nothing(catalogue):
    assert catalogue.search("Tolkien") == []
