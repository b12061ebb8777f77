"""The demo's task list, as data: nine tasks on the bookshelf sample project.

The graph is shaped so the demo's outcome is the same on every run, although workers share
one tree and a backend worker runs the whole suite: the backend tasks form one chain
(1 → 4 → 5 → 7), so a backend task whose tests fail never overlaps another backend test run,
and the task that ends blocked (7) is the chain's last, so its failing tests, left in the
tree, are never run by anyone else. Frontend and test workers run only their own tests, so
they may run beside anything. Tasks 1, 2 and 3 start together, which shows the concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WorkerType = str  # "backend" | "frontend" | "test"

DEMO_ISSUE: dict[str, Any] = {
    "issue_number": "1.0",
    "title": "Bookshelf 0.2: ISBN checks, search and a CSV export",
    "description": (
        "Shop staff want duplicate and mistyped ISBNs caught, a search by author or ISBN, "
        "a CSV file for the accounting service and book cards on the shop page."
    ),
    "priority": 1,
}


@dataclass(frozen=True, slots=True)
class DemoTask:
    """One task of the demo; ``worker`` is where the keyword rules send it (tests check)."""

    number: str
    title: str
    description: str
    worker: WorkerType
    outcome: str  # what the scripted replies make of it; shown in docs, asserted in tests
    depends_on: tuple[str, ...] = ()
    priority: int = 2
    workflow_step: int = 1

    def spec(self, issue_id: int | None = None) -> dict[str, Any]:
        """Keywords for ``Database.create_tasks`` (``depends_on`` by task number)."""
        return {
            "task_number": self.number,
            "parent_issue_number": DEMO_ISSUE["issue_number"],
            "issue_id": issue_id,
            "title": self.title,
            "description": self.description,
            "depends_on": list(self.depends_on),
            "priority": self.priority,
            "workflow_step": self.workflow_step,
        }


DEMO_TASKS: tuple[DemoTask, ...] = (
    DemoTask(
        "1",
        "Normalise ISBNs in the catalogue model",
        "Add bookshelf/isbn.py with normalize_isbn(text), which drops hyphens and spaces; "
        "the Catalogue model compares normalised ISBNs, so a duplicate written differently "
        "is refused.",
        worker="backend",
        outcome="completed first time",
        priority=1,
    ),
    DemoTask(
        "2",
        "Add a BookCard UI component",
        "frontend/components/BookCard.js renders one book (title, author, price) as a card; "
        "its classes go in frontend/styles.css and the page shows cards instead of a list.",
        worker="frontend",
        outcome="completed first time",
    ),
    DemoTask(
        "3",
        "Write pytest tests for the pricing helpers",
        "Cover bookshelf/pricing.py: whole and fractional amounts, zero, negative amounts, "
        "other currencies and the total of several books.",
        worker="test",
        outcome="completed first time",
    ),
    DemoTask(
        "4",
        "Validate ISBN-13 check digits",
        "Add is_valid_isbn13(text) to bookshelf/isbn.py and make the Catalogue model refuse "
        "a book whose ISBN-13 check digit is wrong.",
        worker="backend",
        outcome="fails, then self-corrects on attempt 2",
        depends_on=("1",),
        priority=1,
        workflow_step=2,
    ),
    DemoTask(
        "5",
        "Search the catalogue by author or ISBN",
        "Catalogue.search(query) returns, in catalogue order, the books whose author "
        "contains the query (any case) or whose ISBN equals it once normalised.",
        worker="backend",
        outcome="completed first time",
        depends_on=("4",),
        priority=1,
        workflow_step=3,
    ),
    DemoTask(
        "6",
        "Write pytest tests for search edge cases",
        "Blank queries, letter case, ISBNs typed with spaces or hyphens, catalogue order and "
        "queries that match nothing.",
        worker="test",
        outcome="completed first time",
        depends_on=("5",),
        workflow_step=4,
    ),
    DemoTask(
        "7",
        "Export the catalogue as CSV for the accounting service",
        "Add export_csv(books) to bookshelf/export.py: a header row, then one row per book; "
        "prices rounded half up to whole cents (2.675 gives 2.68), as the accounting "
        "service expects.",
        worker="backend",
        outcome="exhausts 3 correction attempts and files a blocker",
        depends_on=("5",),
        priority=1,
        workflow_step=4,
    ),
    DemoTask(
        "8",
        "Add an export button to the catalogue page",
        "A button on the shop page that offers the CSV export as a download.",
        worker="frontend",
        outcome="blocked: depends on task 7",
        depends_on=("7",),
        workflow_step=5,
    ),
    DemoTask(
        "9",
        "Write pytest tests for CSV export edge cases",
        "Titles with commas and quotes, an empty catalogue, and prices on the half cent.",
        worker="test",
        outcome="blocked: depends on task 7",
        depends_on=("7",),
        workflow_step=5,
    ),
)


def task_specs(issue_id: int | None = None) -> list[dict[str, Any]]:
    """The task list in the form ``Database.create_tasks`` takes."""
    return [task.spec(issue_id) for task in DEMO_TASKS]


def task_by_title(title: str) -> DemoTask:
    """The demo task with this title (``KeyError`` if none)."""
    for task in DEMO_TASKS:
        if task.title == title:
            return task
    raise KeyError(title)


__all__ = ["DEMO_ISSUE", "DEMO_TASKS", "DemoTask", "task_by_title", "task_specs"]
