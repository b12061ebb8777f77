"""The one place that writes ``tasks.status``.

Every status change — a lifecycle transition, a manual ``update_task``, a resolved blocker,
crash recovery — goes through :func:`set_status`: one ``UPDATE … RETURNING`` that checks the
current status when told which ones it may come from, writes the task's other columns with it,
and hands back the row as written. What belongs with a status change (a blocker row, a note,
the assignment history) is written in the same transaction by :meth:`TaskStatusMixin.write_status`.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from codeframe.core.models import BlockerSeverity, BlockerType, TaskStatus, utc_now
from codeframe.errors import IllegalTransitionError, InvalidInputError, NotFoundError
from codeframe.persistence.codec import (
    _SEVERITIES,
    Row,
    _choice,
    _Encoder,
    _opt_text,
    _task_row,
    _task_status,
)
from codeframe.persistence.store import Store
from codeframe.redaction import clean_text

logger = logging.getLogger(__name__)

_ACTIVE = (TaskStatus.ASSIGNED.value, TaskStatus.IN_PROGRESS.value)

#: Task columns a status change may write alongside the status, each with its encoder.
STATUS_FIELDS: dict[str, _Encoder] = {
    "assigned_to": _opt_text,
    "output": lambda v: None if v is None else clean_text(v),
    "error": lambda v: None if v is None else clean_text(v),
    "completed_at": _opt_text,
}


@dataclass(frozen=True, slots=True)
class NewBlocker:
    """A blocker row written together with a task's move to ``blocked``."""

    reason: str
    question: str
    severity: str = BlockerSeverity.SYNC
    blocker_type: str = BlockerType.QUESTION
    upstream_task_id: int | None = None


@dataclass(frozen=True, slots=True)
class StatusWrite:
    """One status change and everything written with it, as one transaction.

    ``expected`` lists the statuses the task may be in (``None``: any — a manual override).
    ``fields`` are other task columns (see :data:`STATUS_FIELDS`). ``assignment`` is
    ``(agent_id, run_id)``: one more execution and a row in the assignment history.
    """

    status: str
    expected: Collection[str] | None = None
    fields: Mapping[str, object] = field(default_factory=dict)
    blocker: NewBlocker | None = None
    note: str | None = None
    assignment: tuple[str, int | None] | None = None
    #: Hand back the whole task row (decoded) rather than :data:`BRIEF_COLUMNS`.
    full_row: bool = False


@dataclass(frozen=True, slots=True)
class StatusWritten:
    """The task row as the write left it, and the id of the blocker written with it."""

    task: Row
    blocker_id: int | None = None


#: What a status change hands back unless asked for the whole row: what announcing it needs.
BRIEF_COLUMNS = (
    "id, project_id, title, status, assigned_to, actual_tokens, cost_usd, error, execution_count"
)


@functools.lru_cache(maxsize=64)
def _status_sql(
    fields: tuple[str, ...], note: bool, count_execution: bool, expected: int, full: bool
) -> str:
    """The UPDATE for one shape of status change (built once per shape, not per call)."""
    columns = ["status = ?", *(f"{name} = ?" for name in fields)]
    if "completed_at" not in fields:
        columns.append("completed_at = ?")
    if count_execution:
        columns.append("execution_count = COALESCE(execution_count, 0) + 1")
    if note:
        columns.append(
            "notes = json_insert(COALESCE(notes, '[]'), '$[#]', json_object('at', ?, 'text', ?))"
        )
    guard = f" AND status IN ({', '.join('?' * expected)})" if expected else ""
    returning = "*" if full else BRIEF_COLUMNS
    return f"UPDATE tasks SET {', '.join(columns)} WHERE id = ?{guard} RETURNING {returning}"


def set_status(
    conn: sqlite3.Connection,
    task_id: int,
    status: str,
    *,
    expected: Collection[str] | None = None,
    fields: Mapping[str, object] = {},  # read only
    note: str | None = None,
    count_execution: bool = False,
    full: bool = True,
) -> sqlite3.Row:
    """Write a task's status (and ``fields``) in one statement; return the row as written
    (only :data:`BRIEF_COLUMNS` unless ``full``).

    ``completed_at`` follows the status (set on ``completed``, cleared otherwise) unless
    ``fields`` gives it. Raises ``IllegalTransitionError`` when the task is not in one of
    the ``expected`` statuses, ``NotFoundError`` when there is no such task.
    """
    target = _task_status(status)
    params: list[object] = [target]
    for name, value in fields.items():
        encode = STATUS_FIELDS.get(name)
        if encode is None:
            raise InvalidInputError(f"a status change cannot write task column {name!r}")
        params.append(encode(value))
    if "completed_at" not in fields:
        params.append(utc_now() if target == TaskStatus.COMPLETED else None)
    if note is not None:
        params.extend((utc_now(), clean_text(note)))
    params.append(task_id)
    allowed = () if expected is None else tuple(_task_status(s) for s in expected)
    params.extend(allowed)
    sql = _status_sql(tuple(fields), note is not None, count_execution, len(allowed), full)
    row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
    if row is not None:
        return row
    current = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
    if current is None:
        raise NotFoundError(f"no task with id {task_id!r}")
    raise IllegalTransitionError(task_id, str(current[0]), target)


class TaskStatusMixin(Store):
    """Status changes: the lifecycle's writes, assignment, and crash recovery."""

    def write_status(self, task_id: int, change: StatusWrite) -> StatusWritten:
        """Apply one status change and what belongs with it in one transaction."""
        blocker = change.blocker
        blocker_values = None
        if blocker is not None:
            severity = _choice(blocker.severity, _SEVERITIES, "blocker severity")
            kind = _choice(blocker.blocker_type, frozenset(BlockerType), "blocker type")
            blocker_values = (task_id, severity, clean_text(blocker.reason),
                              clean_text(blocker.question), utc_now(), kind,
                              blocker.upstream_task_id)  # fmt: skip
        run_id = None if change.assignment is None else change.assignment[1]
        refs = (("task", "tasks", task_id), ("run", "runs", run_id))
        with self._write(*refs) as conn:
            row = set_status(
                conn,
                task_id,
                change.status,
                expected=change.expected,
                fields=change.fields,
                note=change.note,
                count_execution=change.assignment is not None,
                full=change.full_row,
            )
            blocker_id = None
            if blocker_values is not None:
                cur = conn.execute(
                    "INSERT INTO blockers (task_id, severity, reason, question, created_at,"
                    " blocker_type, upstream_task_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    blocker_values,
                )
                blocker_id = int(cur.lastrowid or 0)
            if change.assignment is not None:
                agent_id, run_id = change.assignment
                conn.execute(
                    "INSERT INTO task_assignments (task_id, agent_id, run_id, assigned_at)"
                    " VALUES (?, ?, ?, ?)",
                    (task_id, str(agent_id), run_id, utc_now()),
                )
        return StatusWritten(_task_row(row) if change.full_row else dict(row), blocker_id)

    def assign_task(self, task_id: int, agent_id: str, *, run_id: int | None = None) -> int:
        """Hand a task to an agent in one transaction: status ``assigned``, ``assigned_to``,
        one more execution, and a row in the assignment history. Returns the execution count.

        A manual write (any current status); the lead agent's own hand-over is the lifecycle's
        ``assign``, which also checks the task is ``pending``.
        """
        change = StatusWrite(
            TaskStatus.ASSIGNED,
            fields={"assigned_to": str(agent_id)},
            assignment=(str(agent_id), run_id),
            full_row=True,
        )
        return int(self.write_status(task_id, change).task["execution_count"])

    def status_counts(self, project_id: int) -> dict[str, int]:
        """How many of the project's tasks are in each status (every status, zeros included)."""
        counts = {status.value: 0 for status in TaskStatus}
        rows = self._all(
            "SELECT status, COUNT(*) FROM tasks WHERE project_id = ? GROUP BY status",
            (project_id,),
        )
        counts.update({str(status): int(count) for status, count in rows})
        return counts

    def recover_interrupted(self, project_id: int) -> list[int]:
        """Return tasks left ``in_progress``/``assigned`` by a crash to ``pending``, with a note.

        Returns the ids it reset, ascending.
        """
        self._require("projects", project_id, "project")
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, status, assigned_to FROM tasks"
                " WHERE project_id = ? AND status IN (?, ?) ORDER BY id",
                (project_id, *_ACTIVE),
            ).fetchall()
            for row in rows:
                who = f" (assigned to {row['assigned_to']})" if row["assigned_to"] else ""
                set_status(
                    conn,
                    int(row["id"]),
                    TaskStatus.PENDING,
                    expected=_ACTIVE,
                    fields={"assigned_to": None},
                    note=f"recovered: was {row['status']}{who} when a run was interrupted",
                )
        if rows:
            logger.info("project %s: recovered %d interrupted task(s)", project_id, len(rows))
        return [int(row["id"]) for row in rows]

    def active_task_ids(self, project_id: int) -> list[int]:
        """Ids of the project's ``assigned`` or ``in_progress`` tasks, ascending."""
        rows = self._all(
            "SELECT id FROM tasks WHERE project_id = ? AND status IN (?, ?) ORDER BY id",
            (project_id, *_ACTIVE),
        )
        return [int(row[0]) for row in rows]


__all__ = [
    "STATUS_FIELDS",
    "NewBlocker",
    "StatusWrite",
    "StatusWritten",
    "TaskStatusMixin",
    "set_status",
]
