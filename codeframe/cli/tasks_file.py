"""A task list written by hand, in TOML or YAML, checked whole before anything runs.

TOML::

    [[tasks]]
    title = "Add a multiply function"
    worker = "backend"

    [[tasks]]
    title = "Test multiply with negative numbers"
    depends_on = [1]

YAML: the same fields under a top-level ``tasks:`` list. A task's number is its position
(from 1) unless it gives ``number``; ``depends_on`` names other tasks of the file by number.
Every problem is collected, each naming the task and the field, so one look at the error
fixes the whole file.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeframe.cli.data_files import read_data_file
from codeframe.core.models import WorkerType
from codeframe.errors import InputFileError

FIELDS = ("number", "title", "description", "depends_on", "worker", "priority", "budget_usd")
WORKERS = tuple(worker.value for worker in WorkerType)
_TOP_LEVEL = "tasks"
_SHAPE = "a top-level `tasks` list ([[tasks]] tables in TOML, `tasks:` in YAML)"


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task of the file, checked: what ``Database.create_tasks`` needs to create it."""

    number: int
    title: str
    description: str = ""
    depends_on: tuple[int, ...] = ()
    worker: str | None = None
    priority: int | None = None
    budget_usd: float | None = None

    def create_spec(self) -> dict[str, Any]:
        """The spec for ``Database.create_tasks``: dependencies by task number."""
        spec: dict[str, Any] = {
            "title": self.title,
            "description": self.description,
            "task_number": str(self.number),
            "depends_on": [str(number) for number in self.depends_on],
        }
        if self.worker is not None:
            spec["worker"] = self.worker
        if self.priority is not None:
            spec["priority"] = self.priority
        if self.budget_usd is not None:
            spec["budget_usd"] = self.budget_usd
        return spec


def load_tasks_file(path: Path | str) -> list[TaskSpec]:
    """The tasks of a ``.toml``/``.yaml``/``.yml`` file, in file order.

    Raises :class:`~codeframe.errors.InputFileError` listing every problem found.
    """
    path = Path(path)
    return parse_tasks(read_data_file(path), str(path))


def parse_tasks(data: Any, source: str = "<tasks>") -> list[TaskSpec]:
    """Check a task list already read from a file; ``source`` names it in errors."""
    if not isinstance(data, Mapping) or _TOP_LEVEL not in data:
        raise InputFileError(source, [f"expected {_SHAPE}"])
    problems = [
        f"unknown top-level key {key!r}: the file holds only `{_TOP_LEVEL}`"
        for key in data
        if key != _TOP_LEVEL
    ]
    entries = data[_TOP_LEVEL]
    if not isinstance(entries, list) or not entries:
        raise InputFileError(source, [*problems, f"`{_TOP_LEVEL}` must be a non-empty list"])
    drafts = [_Draft.read(position, entry, problems) for position, entry in enumerate(entries, 1)]
    numbers = _check_numbers(drafts, problems)
    for draft in drafts:
        draft.check_dependencies(numbers, problems)
    # Looked for even when other problems were found, so one pass lists them all; a task
    # naming itself is reported above, and numbers held twice make the graph ambiguous.
    if len({d.number for d in drafts}) == len(drafts):
        cycle = _find_cycle(
            {d.number: tuple(up for up in d.depends_on if up != d.number) for d in drafts}
        )
        if cycle:
            path = " → ".join(str(number) for number in cycle)
            problems.append(f"tasks depend on each other in a circle: {path}")
    if problems:
        raise InputFileError(source, problems)
    return [draft.spec() for draft in drafts]


class _Draft:
    """One entry while it is being checked; problems go to the shared list."""

    def __init__(self, position: int, label: str) -> None:
        self.position = position
        self.label = label
        self.number = position
        self.title = ""
        self.description = ""
        self.depends_on: tuple[int, ...] = ()
        self.worker: str | None = None
        self.priority: int | None = None
        self.budget_usd: float | None = None

    @classmethod
    def read(cls, position: int, entry: object, problems: list[str]) -> _Draft:
        if not isinstance(entry, Mapping):
            draft = cls(position, f"task {position}")
            problems.append(f"{draft.label}: must be a table of fields, not {_kind(entry)}")
            return draft
        title = entry.get("title")
        number = entry.get("number", position)
        shown = number if _is_int(number) and number >= 1 else position
        where = [f"entry {position}"] if shown != position else []
        if isinstance(title, str) and title.strip():
            where.append(repr(title.strip()))
        draft = cls(position, f"task {shown}" + (f" ({', '.join(where)})" if where else ""))
        draft._read_fields(entry, problems)
        return draft

    def _read_fields(self, entry: Mapping[Any, Any], problems: list[str]) -> None:
        def problem(field: str, text: str) -> None:
            problems.append(f"{self.label}: {field}: {text}")

        for key in entry:
            if key not in FIELDS:
                close = difflib.get_close_matches(str(key), FIELDS, n=1)
                hint = (
                    f" (did you mean {close[0]!r}?)" if close else f"; fields: {', '.join(FIELDS)}"
                )
                problems.append(f"{self.label}: unknown field {key!r}{hint}")
        if "number" in entry:
            number = entry["number"]
            if _is_int(number) and number >= 1:
                self.number = number
            else:
                problem("number", f"must be a whole number from 1, not {number!r}")
        title = entry.get("title")
        if title is None:
            problem("title", "missing (every task needs a title)")
        elif not isinstance(title, str) or not title.strip():
            problem("title", f"must be non-empty text, not {title!r}")
        else:
            self.title = title.strip()
        description = entry.get("description", "")
        if isinstance(description, str):
            self.description = description
        else:
            problem("description", f"must be text, not {_kind(description)}")
        self._read_depends_on(entry.get("depends_on", []), problem)
        worker = entry.get("worker")
        if worker is not None:
            name = worker.strip().lower() if isinstance(worker, str) else None
            if name in WORKERS:
                self.worker = name
            else:
                problem("worker", f"{worker!r} is not one of {', '.join(WORKERS)}")
        priority = entry.get("priority")
        if priority is not None:
            if _is_int(priority) and 0 <= priority <= 4:
                self.priority = priority
            else:
                problem("priority", f"must be a whole number from 0 (first) to 4, not {priority!r}")
        budget = entry.get("budget_usd")
        if budget is not None:
            if _is_number(budget) and math.isfinite(budget) and budget >= 0:
                self.budget_usd = float(budget)
            else:
                problem("budget_usd", f"must be a number of dollars, 0 or more, not {budget!r}")

    def _read_depends_on(self, value: object, problem: Any) -> None:
        items = [value] if _is_int(value) else value
        if not isinstance(items, list) or not all(_is_int(item) for item in items):
            problem("depends_on", f"must be a list of task numbers, like [1, 2], not {value!r}")
            return
        self.depends_on = tuple(dict.fromkeys(items))  # a number named twice counts once

    def check_dependencies(self, numbers: set[int], problems: list[str]) -> None:
        for upstream in self.depends_on:
            if upstream == self.number:
                problems.append(f"{self.label}: depends_on: a task cannot depend on itself")
            elif upstream not in numbers:
                problems.append(
                    f"{self.label}: depends_on: there is no task {upstream} in the file "
                    f"(its tasks are {_ranges(numbers)})"
                )

    def spec(self) -> TaskSpec:
        return TaskSpec(
            number=self.number,
            title=self.title,
            description=self.description,
            depends_on=self.depends_on,
            worker=self.worker,
            priority=self.priority,
            budget_usd=self.budget_usd,
        )


def _check_numbers(drafts: list[_Draft], problems: list[str]) -> set[int]:
    """Every task's number, reporting numbers used twice (explicit ones can clash)."""
    seen: dict[int, _Draft] = {}
    for draft in drafts:
        other = seen.get(draft.number)
        if other is not None:
            problems.append(
                f"{draft.label}: number: {draft.number} is already the number of {other.label} "
                "(a task without `number` is numbered by its position)"
            )
        else:
            seen[draft.number] = draft
    return set(seen)


def _find_cycle(graph: dict[int, tuple[int, ...]]) -> list[int]:
    """One dependency cycle as ``[a, b, ..., a]``, or ``[]``; iterative, so no depth limit."""
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    for start in graph:
        if start in state:
            continue
        path: list[int] = []
        stack: list[tuple[int, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                state[node] = 1
                path.append(node)
            upstream = graph.get(node, ())
            if index < len(upstream):
                stack.append((node, index + 1))
                nxt = upstream[index]
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if nxt not in state:
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return []


def _ranges(numbers: set[int]) -> str:
    ordered = sorted(numbers)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(map(str, ordered))


def _is_int(value: object) -> bool:
    # bool is an int subclass, and `true` is never meant as a task number.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return "text" if isinstance(value, str) else repr(value)


__all__ = ["FIELDS", "WORKERS", "TaskSpec", "load_tasks_file", "parse_tasks"]
