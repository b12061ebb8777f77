import pytest

from bookshelf.catalogue import Book
from bookshelf.pricing import format_price, total_price


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(12, "12.00 EUR"), (0.5, "0.50 EUR"), (0, "0.00 EUR"), (-3.5, "-3.50 EUR")],
)
def test_amounts_show_two_decimals(amount, shown):
    assert format_price(amount) == shown


def test_large_amounts_in_another_currency():
    assert format_price(1_250_000, "USD") == "1,250,000.00 USD"


def test_total_of_several_books():
    books = [
        Book("Dune", "Frank Herbert", "978-0-441-17271-9", 9.99, 1965),
        Book("Pride and Prejudice", "Jane Austen", "978-0-14-143951-8", 7.99, 1813),
    ]
    assert total_price(books) == pytest.approx(17.98)


def test_total_of_nothing_is_zero():
    assert total_price([]) == 0
