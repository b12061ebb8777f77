"""The catalogue as CSV, in the layout the accounting service reads."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from bookshelf.catalogue import Book
from bookshelf.isbn import normalize_isbn

HEADER = ("isbn", "title", "author", "year", "price")


def export_csv(books: Iterable[Book]) -> str:
    """A header row, then one row per book; prices rounded half up to whole cents."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for book in books:
        row = [normalize_isbn(book.isbn), book.title, book.author, book.year]
        writer.writerow([*row, _cents(book.price)])
    return out.getvalue()


def _cents(price: float) -> str:
    return f"{round(price, 2):.2f}"
