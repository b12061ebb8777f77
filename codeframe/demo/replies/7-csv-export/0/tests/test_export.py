import pytest

from bookshelf.catalogue import Book
from bookshelf.export import export_csv


def book(price, title="Dune"):
    return Book(title, "Frank Herbert", "978-0-441-17271-9", price, 1965)


def test_header_then_one_row_per_book():
    lines = export_csv([book(9.99)]).splitlines()
    assert lines == ["isbn,title,author,year,price", "9780441172719,Dune,Frank Herbert,1965,9.99"]


def test_titles_with_commas_are_quoted():
    assert '"Dune, Part One"' in export_csv([book(9.99, "Dune, Part One")])


@pytest.mark.parametrize(
    ("price", "cents"), [(2.675, "2.68"), (1.005, "1.01"), (0.125, "0.13"), (9.99, "9.99")]
)
def test_prices_round_half_up_to_cents(price, cents):
    assert export_csv([book(price)]).splitlines()[1].endswith("," + cents)
