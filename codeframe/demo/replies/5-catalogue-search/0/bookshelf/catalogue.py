"""Books and the catalogue that holds them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bookshelf.isbn import is_valid_isbn13, normalize_isbn


@dataclass(frozen=True)
class Book:
    """One edition of a book; ``isbn`` is the ISBN-13 as printed on the cover."""

    title: str
    author: str
    isbn: str
    price: float
    year: int


class Catalogue:
    """The books of one shop, in the order they were added, one entry per ISBN."""

    def __init__(self, books: Iterable[Book] = ()) -> None:
        self._books: list[Book] = []
        for book in books:
            self.add(book)

    def add(self, book: Book) -> None:
        """Add a book; an ISBN already in the catalogue, however it is typed, is refused."""
        if not is_valid_isbn13(book.isbn):
            raise ValueError(f"invalid ISBN-13: {book.isbn}")
        isbn = normalize_isbn(book.isbn)
        if any(normalize_isbn(existing.isbn) == isbn for existing in self._books):
            raise ValueError(f"duplicate ISBN: {book.isbn}")
        self._books.append(book)

    def books(self) -> list[Book]:
        """A copy of the catalogue's books, so callers cannot reorder the shelf."""
        return list(self._books)

    def search(self, query: str) -> list[Book]:
        """Books whose author contains ``query`` (any case) or whose ISBN equals it."""
        wanted = query.strip().casefold()
        if not wanted:
            return []
        isbn = normalize_isbn(query)
        return [
            book
            for book in self._books
            if wanted in book.author.casefold() or normalize_isbn(book.isbn) == isbn
        ]

    def __len__(self) -> int:
        return len(self._books)

    def __iter__(self) -> Iterator[Book]:
        return iter(self.books())
