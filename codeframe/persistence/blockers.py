"""Blockers: the questions a task puts to a human, their answers, and automatic releases.

A blocker has a type (:class:`~codeframe.core.models.BlockerType`) that decides what
resolving it does: a ``dependency`` blocker names the upstream task it waits for and is
released by codeframe itself when that task completes; a ``budget`` blocker is answered with
a new figure, which becomes the task's budget. When a task's last open blocker is resolved,
the task goes back to ``pending`` in the same transaction (through the one status writer).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from codeframe.core.models import BlockerSeverity, BlockerType, Resolver, TaskStatus, utc_now
from codeframe.errors import InvalidInputError, NotFoundError
from codeframe.persistence.codec import _SEVERITIES, Row, _choice
from codeframe.persistence.store import Store
from codeframe.persistence.task_status import set_status
from codeframe.redaction import clean_text

_BLOCKER_TYPES = frozenset(BlockerType)
_RESOLVERS = frozenset(Resolver)
# Anything that looks like a number, sign, dollar sign, separators and exponent included, so
# that "-1", "1e3" or "1,5" is read whole and refused rather than half-read as 1, 1 or 15.
_FIGURE = re.compile(r"[-+]?\$?[-+]?(?:\d|\.\d)[\d.,]*(?:[eE][-+]?\d+)?")
# Dollars as people write them: 3, 2.50, .5, 1500, 1,500.25 (commas only between thousands).
_DOLLARS = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+")


@dataclass(frozen=True, slots=True)
class Answered:
    """What answering a blocker did: its task, and whether that task is ``pending`` again."""

    blocker_id: int
    task_id: int
    blocker_type: str
    released: bool
    task_title: str = ""


def budget_from_answer(text: str) -> float:
    """The dollar figure in an answer to a budget blocker ("3", "$2.50", "raise it to 5").

    The answer sets what a task may spend, so anything that could be read two ways is
    refused, never guessed: no figure, more than one, a negative or zero one, an exponent,
    a decimal comma.
    """
    figures = [figure.rstrip(".,") for figure in _FIGURE.findall(text)]
    example = "answer a budget blocker with a new budget in dollars, e.g. '2.50'"
    if not figures:
        raise InvalidInputError(f"{example} (got {text!r})")
    if len(figures) > 1:
        raise InvalidInputError(
            f"{example}: the answer holds {len(figures)} figures ({', '.join(figures)}), "
            "so which one is the budget is unclear"
        )
    figure = figures[0]
    if "-" in figure.lower().split("e")[0]:
        raise InvalidInputError(f"a budget cannot be negative (got {figure!r})")
    plain = figure.lstrip("+$")
    if not _DOLLARS.fullmatch(plain):
        raise InvalidInputError(
            f"{example}: {figure!r} is not a plain dollar figure (write 1.5, not 1,5 or 1.5e0)"
        )
    dollars = float(plain.replace(",", ""))
    if dollars <= 0:
        raise InvalidInputError(f"a budget must be more than $0 (got {figure!r})")
    return dollars


def _release_if_unblocked(conn: sqlite3.Connection, task_id: int, note: str) -> tuple[bool, str]:
    """Return a blocked task to ``pending`` if it has no open blocker left.

    Returns whether it did, and the task's title.
    """
    still_open = conn.execute(
        "SELECT 1 FROM blockers WHERE task_id = ? AND resolved_at IS NULL LIMIT 1", (task_id,)
    ).fetchone()
    task = conn.execute("SELECT status, title FROM tasks WHERE id = ?", (task_id,)).fetchone()
    title = "" if task is None else str(task["title"])
    if still_open is None and task is not None and task["status"] == TaskStatus.BLOCKED:
        set_status(conn, task_id, TaskStatus.PENDING, expected=(TaskStatus.BLOCKED,), note=note)
        return True, title
    conn.execute(
        "UPDATE tasks SET notes = json_insert(COALESCE(notes, '[]'), '$[#]',"
        " json_object('at', ?, 'text', ?)) WHERE id = ?",
        (utc_now(), clean_text(note), task_id),
    )
    return False, title


_WAITING_SQL = (
    "SELECT id, task_id FROM blockers WHERE upstream_task_id = ?"
    " AND resolved_at IS NULL AND blocker_type = ? ORDER BY id"
)


class BlockersMixin(Store):
    """Create, read, answer and release blockers."""

    def create_blocker(
        self,
        task_id: int,
        severity: str = BlockerSeverity.SYNC,
        reason: str = "",
        question: str = "",
        *,
        blocker_type: str = BlockerType.QUESTION,
        upstream_task_id: int | None = None,
    ) -> int:
        """Record a blocker for a human (``sync``: work waits; ``async``: it can wait)."""
        values = (
            task_id,
            _choice(severity, _SEVERITIES, "blocker severity"),
            clean_text(reason or ""),
            clean_text(question or ""),
            utc_now(),
            _choice(blocker_type, _BLOCKER_TYPES, "blocker type"),
            upstream_task_id,
        )
        refs = (("task", "tasks", task_id), ("upstream task", "tasks", upstream_task_id))
        with self._write(*refs) as conn:
            cur = conn.execute(
                "INSERT INTO blockers (task_id, severity, reason, question, created_at,"
                " blocker_type, upstream_task_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        return int(cur.lastrowid or 0)

    def get_blocker(self, blocker_id: int) -> Row | None:
        """One blocker as a dict, or ``None`` if unknown."""
        row = self._one("SELECT * FROM blockers WHERE id = ?", (blocker_id,))
        return None if row is None else dict(row)

    def get_blockers(self, project_id: int, *, include_resolved: bool = False) -> list[Row]:
        """A project's unresolved blockers (all with ``include_resolved``), newest first."""
        resolved = "" if include_resolved else " AND b.resolved_at IS NULL"
        rows = self._all(
            "SELECT b.* FROM blockers b JOIN tasks t ON t.id = b.task_id"
            f" WHERE t.project_id = ?{resolved} ORDER BY b.id DESC",
            (project_id,),
        )
        return [dict(row) for row in rows]

    def get_blockers_by_task(self, task_id: int) -> list[Row]:
        """Every blocker of a task, resolved or not, oldest first."""
        rows = self._all("SELECT * FROM blockers WHERE task_id = ? ORDER BY id", (task_id,))
        return [dict(row) for row in rows]

    def resolve_blocker(self, blocker_id: int, resolution: str) -> bool:
        """Mark a blocker resolved and, if it was the task's last one, return the task to
        ``pending`` (with a note). Returns ``False`` if it was already resolved."""
        return self.answer_blocker(blocker_id, resolution) is not None

    def answer_blocker(
        self, blocker_id: int, resolution: str, *, resolved_by: str = Resolver.HUMAN
    ) -> Answered | None:
        """Resolve one blocker with ``resolution``; ``None`` if it was already resolved.

        A budget blocker's answer must hold a dollar figure: it becomes the task's budget.
        The task goes back to ``pending`` when this was its last open blocker.
        """
        who = _choice(resolved_by, _RESOLVERS, "resolver")
        with self._write() as conn:
            row = conn.execute(
                "SELECT task_id, blocker_type, resolved_at FROM blockers WHERE id = ?",
                (blocker_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no blocker with id {blocker_id!r}")
            if row["resolved_at"] is not None:
                return None
            task_id, kind = int(row["task_id"]), str(row["blocker_type"])
            if kind == BlockerType.BUDGET:
                conn.execute(
                    "UPDATE tasks SET budget_usd = ? WHERE id = ?",
                    (budget_from_answer(resolution), task_id),
                )
            conn.execute(
                "UPDATE blockers SET resolution = ?, resolved_at = ?, resolved_by = ? WHERE id = ?",
                (clean_text(resolution), utc_now(), who, blocker_id),
            )
            note = f"blocker {blocker_id} resolved by {who}: {resolution}"
            released, title = _release_if_unblocked(conn, task_id, note)
        return Answered(blocker_id, task_id, kind, released, title)

    def release_dependency_blockers(self, upstream_task_id: int) -> list[Answered]:
        """Resolve, as the system, every open dependency blocker waiting for a task that has
        now completed; their tasks with no other open blocker go back to ``pending``."""
        resolution = f"task #{upstream_task_id} completed"
        waiting = (upstream_task_id, BlockerType.DEPENDENCY.value)
        # Almost every completed task releases nobody: a read settles that without opening a
        # write. It sees what a write would: this connection's pending writes, and (committed
        # first) those of other codeframe connections to the file.
        self._before_write()
        if self._one(_WAITING_SQL + " LIMIT 1", waiting) is None:
            return []
        with self._write() as conn:
            rows = conn.execute(_WAITING_SQL, waiting).fetchall()
            answered = []
            for row in rows:
                conn.execute(
                    "UPDATE blockers SET resolution = ?, resolved_at = ?, resolved_by = ?"
                    " WHERE id = ?",
                    (resolution, utc_now(), Resolver.SYSTEM.value, row["id"]),
                )
                note = f"blocker {row['id']} released: {resolution}"
                task_id = int(row["task_id"])
                released, title = _release_if_unblocked(conn, task_id, note)
                answered.append(
                    Answered(int(row["id"]), task_id, BlockerType.DEPENDENCY, released, title)
                )
        return answered


__all__ = ["Answered", "BlockersMixin", "budget_from_answer"]
