"""Prices as the shop shows them."""

from __future__ import annotations

from collections.abc import Iterable

from bookshelf.catalogue import Book


def format_price(amount: float, currency: str = "EUR") -> str:
    """``1234.5`` → ``"1,234.50 EUR"``: two decimals, thousands separated by commas."""
    return f"{amount:,.2f} {currency}"


def total_price(books: Iterable[Book]) -> float:
    """What the given books cost together."""
    return sum(book.price for book in books)
