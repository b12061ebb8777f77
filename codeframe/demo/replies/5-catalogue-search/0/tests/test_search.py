from bookshelf.catalogue import Book, Catalogue

DUNE = Book("Dune", "Frank Herbert", "978-0-441-17271-9", 9.99, 1965)
AUSTEN = Book("Pride and Prejudice", "Jane Austen", "978-0-14-143951-8", 7.99, 1813)


def test_search_by_part_of_the_author_name():
    assert Catalogue([DUNE, AUSTEN]).search("herbert") == [DUNE]


def test_search_by_isbn():
    assert Catalogue([DUNE, AUSTEN]).search("9780141439518") == [AUSTEN]
