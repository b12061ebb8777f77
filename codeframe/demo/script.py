"""The demo's scripted Claude: real code for each task, keyed by task title and attempt.

Every reply is code that really passes or really fails the sample project's tests; nothing
here decides an outcome except that code. Task 4's first two versions of the ISBN check are
wrong in two different ways and its third is right; task 7's four ways of rounding a float
price to cents all fail the half-cent cases (binary floats cannot hold 2.675 or 1.005
exactly), so it runs out of attempts and asks a human. Tasks 8 and 9 have no replies: they
are blocked before they could run.
"""

from __future__ import annotations

import re
from typing import Any

from codeframe.demo.tasks import DEMO_TASKS
from codeframe.llm import ScriptedClient

# Enough simulated thinking time for several tasks to be visibly in flight at once.
DEMO_LATENCY_S = 0.25
DEMO_USAGE = (900, 450)

Reply = dict[str, Any]


def _files(explanation: str, *files: tuple[str, str, str]) -> Reply:
    """A reply in the files contract from ``(path, action, content)`` tuples."""
    return {
        "files": [{"path": p, "action": a, "content": c} for p, a, c in files],
        "explanation": explanation,
    }


# -- bookshelf/isbn.py --------------------------------------------------------------------

_NORMALIZE = '''\
"""ISBN helpers: one spelling for every way an ISBN is typed, and its check digit."""

from __future__ import annotations


def normalize_isbn(text: str) -> str:
    """``"978-0-201-61622-4"`` -> ``"9780201616224"``: no hyphens or spaces."""
    return "".join(text.split()).replace("-", "")
'''

_CHECK_DIGIT = '''

def is_valid_isbn13(text: str) -> bool:
    """Whether ``text`` is 13 digits whose last one is the right check digit."""
    digits = normalize_isbn(text)
    if len(digits) != 13 or not digits.isdigit():
        return False
    total = sum(int(d) * ({weights}) for i, d in enumerate(digits[:12]))
    return {check} == int(digits[12])
'''


def _isbn_module(*, weights: str, check: str) -> str:
    return _NORMALIZE + _CHECK_DIGIT.format(weights=weights, check=check)


ISBN_V1 = _NORMALIZE
ISBN_WRONG_WEIGHTS = _isbn_module(weights="3 if i % 2 == 0 else 1", check="10 - total % 10")
ISBN_NO_MODULO = _isbn_module(weights="1 if i % 2 == 0 else 3", check="10 - total % 10")
ISBN_FIXED = _isbn_module(weights="1 if i % 2 == 0 else 3", check="(10 - total % 10) % 10")

# -- bookshelf/catalogue.py -----------------------------------------------------------------

_CATALOGUE_HEAD = '''\
"""Books and the catalogue that holds them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bookshelf.isbn import {imports}


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
'''

_VALIDATE = """\
        if not is_valid_isbn13(book.isbn):
            raise ValueError(f"invalid ISBN-13: {book.isbn}")
"""

_ADD_AND_ACCESS = '''\
        isbn = normalize_isbn(book.isbn)
        if any(normalize_isbn(existing.isbn) == isbn for existing in self._books):
            raise ValueError(f"duplicate ISBN: {book.isbn}")
        self._books.append(book)

    def books(self) -> list[Book]:
        """A copy of the catalogue's books, so callers cannot reorder the shelf."""
        return list(self._books)
'''

_SEARCH = '''
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
'''

_CATALOGUE_TAIL = """
    def __len__(self) -> int:
        return len(self._books)

    def __iter__(self) -> Iterator[Book]:
        return iter(self.books())
"""


def _catalogue(*, validate: bool, search: bool) -> str:
    imports = "is_valid_isbn13, normalize_isbn" if validate else "normalize_isbn"
    return (
        _CATALOGUE_HEAD.format(imports=imports)
        + (_VALIDATE if validate else "")
        + _ADD_AND_ACCESS
        + (_SEARCH if search else "")
        + _CATALOGUE_TAIL
    )


CATALOGUE_V1 = _catalogue(validate=False, search=False)
CATALOGUE_V2 = _catalogue(validate=True, search=False)
CATALOGUE_V3 = _catalogue(validate=True, search=True)

# -- tests the backend tasks write with their code --------------------------------------------

TEST_ISBN = """\
import pytest

from bookshelf.catalogue import Book, Catalogue
from bookshelf.isbn import normalize_isbn


def test_hyphens_and_spaces_are_dropped():
    assert normalize_isbn("978-0-201 61622-4") == "9780201616224"


def test_a_duplicate_typed_differently_is_refused():
    catalogue = Catalogue([Book("Dune", "Frank Herbert", "978-0-441-17271-9", 9.99, 1965)])
    with pytest.raises(ValueError, match="duplicate ISBN"):
        catalogue.add(Book("Dune", "Frank Herbert", "9780441172719", 9.99, 1965))
"""

TEST_ISBN13 = """\
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
"""

TEST_SEARCH = """\
from bookshelf.catalogue import Book, Catalogue

DUNE = Book("Dune", "Frank Herbert", "978-0-441-17271-9", 9.99, 1965)
AUSTEN = Book("Pride and Prejudice", "Jane Austen", "978-0-14-143951-8", 7.99, 1813)


def test_search_by_part_of_the_author_name():
    assert Catalogue([DUNE, AUSTEN]).search("herbert") == [DUNE]


def test_search_by_isbn():
    assert Catalogue([DUNE, AUSTEN]).search("9780141439518") == [AUSTEN]
"""

# -- task 3 and task 6: the test worker's files ---------------------------------------------

TEST_PRICING_HELPERS = """\
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
"""

TEST_SEARCH_EDGE_CASES = """\
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
"""

# -- task 7: bookshelf/export.py, four ways to round a float that all fail ----------------

_EXPORT = '''\
"""The catalogue as CSV, in the layout the accounting service reads."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
{imports}
from bookshelf.catalogue import Book
from bookshelf.isbn import normalize_isbn

HEADER = ("isbn", "title", "author", "year", "price")


def export_csv(books: Iterable[Book]) -> str:
    """A header row, then one row per book; prices rounded half up to whole cents."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\\n")
    writer.writerow(HEADER)
    for book in books:
        row = [normalize_isbn(book.isbn), book.title, book.author, book.year]
        writer.writerow([*row, _cents(book.price)])
    return out.getvalue()


def _cents(price: float) -> str:
{body}
'''


def _export(body: str, imports: str = "") -> str:
    return _EXPORT.format(imports=imports, body=body)


EXPORT_FORMAT = _export('    return f"{price:.2f}"')
EXPORT_ROUND = _export('    return f"{round(price, 2):.2f}"')
EXPORT_DECIMAL = _export(
    '    return str(Decimal(price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
    "from decimal import ROUND_HALF_UP, Decimal\n",
)
EXPORT_FLOOR = _export('    return f"{math.floor(price * 100 + 0.5) / 100:.2f}"', "import math\n")

TEST_EXPORT = """\
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
"""

# -- task 2: the frontend component ----------------------------------------------------------

STYLES_WITH_CARDS = """\
body {
  font-family: system-ui, sans-serif;
  margin: 2rem;
}

.book-list {
  list-style: none;
  padding: 0;
}

.book-list__item {
  padding: 0.25rem 0;
  border-bottom: 1px solid #ddd;
}

.book-cards {
  display: grid;
  grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr));
  gap: 1rem;
}

.book-card {
  border: 1px solid #ddd;
  border-radius: 0.5rem;
  padding: 1rem;
}

.book-card__title {
  margin: 0 0 0.25rem;
  font-size: 1.1rem;
}

.book-card__author {
  margin: 0;
  color: #555;
}

.book-card__price {
  margin: 0.5rem 0 0;
  font-weight: 600;
}
"""

BOOK_CARD_JS = """\
import { escapeHtml } from "../escape.js";

export function BookCard(book) {
  return `<article class="book-card">
  <h3 class="book-card__title">${escapeHtml(book.title)}</h3>
  <p class="book-card__author">${escapeHtml(book.author)}</p>
  <p class="book-card__price">${book.price.toFixed(2)} EUR</p>
</article>`;
}
"""

APP_WITH_CARDS_JS = """\
import { BookCard } from "./components/BookCard.js";

const books = [
  { title: "Dune", author: "Frank Herbert", price: 9.99 },
  { title: "The Pragmatic Programmer", author: "Andrew Hunt", price: 39.95 },
];

const cards = books.map(BookCard).join("");
document.getElementById("app").innerHTML = `<section class="book-cards">${cards}</section>`;
"""

# -- the script: task number -> attempt -> reply ---------------------------------------------

REPLIES: dict[str, dict[int, Reply]] = {
    "1": {
        0: _files(
            "Added bookshelf/isbn.py with normalize_isbn and made Catalogue.add compare "
            "normalised ISBNs, with tests for both.",
            ("bookshelf/isbn.py", "create", ISBN_V1),
            ("bookshelf/catalogue.py", "modify", CATALOGUE_V1),
            ("tests/test_isbn.py", "create", TEST_ISBN),
        ),
    },
    "2": {
        # The stylesheet first: each write leaves the frontend checks passing for any
        # backend run that reads the tree in between.
        0: _files(
            "Added the BookCard component and its styles; the page renders a grid of cards.",
            ("frontend/styles.css", "modify", STYLES_WITH_CARDS),
            ("frontend/components/BookCard.js", "create", BOOK_CARD_JS),
            ("frontend/app.js", "modify", APP_WITH_CARDS_JS),
        ),
    },
    "3": {
        0: _files(
            "Tests for format_price (whole, fractional, zero, negative, other currency) and "
            "total_price.",
            ("tests/test_pricing_helpers.py", "create", TEST_PRICING_HELPERS),
        ),
    },
    "4": {
        0: _files(
            "Added is_valid_isbn13 (weighted sum of the first twelve digits) and made the "
            "catalogue refuse invalid ISBNs; tests use real ISBNs.",
            ("bookshelf/isbn.py", "modify", ISBN_WRONG_WEIGHTS),
            ("bookshelf/catalogue.py", "modify", CATALOGUE_V2),
            ("tests/test_isbn13.py", "create", TEST_ISBN13),
        ),
        1: _files(
            "The weights were swapped: ISBN-13 weighs the first digit 1, the second 3, and "
            "so on. Fixed the weights.",
            ("bookshelf/isbn.py", "modify", ISBN_NO_MODULO),
        ),
        2: _files(
            "When the weighted sum is a multiple of 10 the check digit is 0, not 10: "
            "take the result modulo 10.",
            ("bookshelf/isbn.py", "modify", ISBN_FIXED),
        ),
    },
    "5": {
        0: _files(
            "Added Catalogue.search: author substring in any case, or the normalised ISBN.",
            ("bookshelf/catalogue.py", "modify", CATALOGUE_V3),
            ("tests/test_search.py", "create", TEST_SEARCH),
        ),
    },
    "6": {
        0: _files(
            "Edge-case tests for Catalogue.search: blank queries, case, ISBN spellings, "
            "order and no match.",
            ("tests/test_search_edge_cases.py", "create", TEST_SEARCH_EDGE_CASES),
        ),
    },
    "7": {
        0: _files(
            "Added bookshelf/export.py with export_csv (csv module, header row, prices with "
            "two decimals) and its tests.",
            ("bookshelf/export.py", "create", EXPORT_FORMAT),
            ("tests/test_export.py", "create", TEST_EXPORT),
        ),
        1: _files(
            "Format strings do not round half up; round to two places first.",
            ("bookshelf/export.py", "modify", EXPORT_ROUND),
        ),
        2: _files(
            "round() rounds half to even; use Decimal with ROUND_HALF_UP instead.",
            ("bookshelf/export.py", "modify", EXPORT_DECIMAL),
        ),
        3: _files(
            "Round half up by hand: floor(price * 100 + 0.5) / 100.",
            ("bookshelf/export.py", "modify", EXPORT_FLOOR),
        ),
    },
}


def _prompt_pattern(title: str, attempt: int) -> re.Pattern[str]:
    """The prompt of one attempt at one task, as the workers word it (agents/prompts.py)."""
    heading = rf"^Task #\d+: {re.escape(title)}$"
    if attempt == 0:
        # A first prompt names the task and is not a correction.
        return re.compile(rf"{heading}(?![\s\S]*^Self-correction attempt)", re.MULTILINE)
    return re.compile(rf"{heading}\s+^Self-correction attempt {attempt} of \d+\.", re.MULTILINE)


def demo_rules() -> list[tuple[re.Pattern[str], Reply, str]]:
    """``(match, reply, worker_type)`` rules for every scripted attempt of every task.

    Replies are keyed by what the prompt says (task and attempt), not by call order, so the
    script gives the same answers however the tasks interleave. The worker type is part of
    each rule: a task sent to the wrong worker gets no reply and fails loudly.
    """
    rules: list[tuple[re.Pattern[str], Reply, str]] = []
    for task in DEMO_TASKS:
        for attempt, reply in sorted(REPLIES.get(task.number, {}).items()):
            rules.append((_prompt_pattern(task.title, attempt), reply, task.worker))
    return rules


def demo_client(*, latency: float = DEMO_LATENCY_S) -> ScriptedClient:
    """A fresh offline Claude that plays the demo's script (no key, no network)."""
    return ScriptedClient(demo_rules(), latency=latency, usage=DEMO_USAGE)


__all__ = ["DEMO_LATENCY_S", "REPLIES", "demo_client", "demo_rules"]
