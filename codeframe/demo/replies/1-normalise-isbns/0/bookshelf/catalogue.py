"""Books and the catalogue that holds them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bookshelf.isbn import normalize_isbn


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
        isbn = normalize_isbn(book.isbn)
        if any(normalize_isbn(existing.isbn) == isbn for existing in self._books):
            raise ValueError(f"duplicate ISBN: {book.isbn}")
        self._books.append(book)

    def books(self) -> list[Book]:
        """A copy of the catalogue's books, so callers cannot reorder the shelf."""
        return list(self._books)

    def __len__(self) -> int:
        return len(self._books)

    def __iter__(self) -> Iterator[Book]:
        return iter(self.books())
