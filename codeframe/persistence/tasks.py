"""Tasks: creation (single and batched with dependencies), reads and updates."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from codeframe.core.models import TaskStatus, utc_now
from codeframe.errors import InvalidInputError, NotFoundError
from codeframe.persistence.codec import (
    Row,
    _budget,
    _encode_depends_on,
    _encode_notes,
    _Encoder,
    _flag,
    _int_in,
    _opt_text,
    _priority,
    _task_row,
    _task_status,
    _title,
    _worker_type,
)
from codeframe.persistence.store import Store
from codeframe.persistence.task_status import set_status

logger = logging.getLogger(__name__)

#: Columns ``update_task`` accepts, each with the encoder that validates it.
_TASK_UPDATES: dict[str, _Encoder] = {
    "issue_id": lambda v: v,
    "task_number": _opt_text,
    "parent_issue_number": _opt_text,
    "title": _title,
    "description": lambda v: "" if v is None else str(v),
    "assigned_to": _opt_text,
    "depends_on": _encode_depends_on,
    "can_parallelize": _flag,
    "priority": _priority,
    "workflow_step": lambda v: _int_in(v, 0, None, "workflow_step"),
    "requires_mcp": _flag,
    "estimated_tokens": lambda v: _int_in(v, 0, None, "estimated_tokens"),
    "actual_tokens": lambda v: None if v is None else _int_in(v, 0, None, "actual_tokens"),
    "output": _opt_text,
    "error": _opt_text,
    "notes": _encode_notes,
    "execution_count": lambda v: _int_in(v, 0, None, "execution_count"),
    "completed_at": _opt_text,
    "worker": _worker_type,
    "budget_usd": _budget,
}

#: Keys a ``create_task`` / ``create_tasks`` spec may carry besides project_id.
_TASK_SPEC_KEYS = frozenset(
    {
        "title", "description", "depends_on", "priority", "workflow_step", "issue_id",
        "task_number", "parent_issue_number", "status", "assigned_to", "can_parallelize",
        "requires_mcp", "estimated_tokens", "worker", "budget_usd",
    }
)  # fmt: skip

_TASK_INSERT = """INSERT INTO tasks (project_id, issue_id, task_number, parent_issue_number,
    title, description, status, assigned_to, depends_on, can_parallelize, priority,
    workflow_step, requires_mcp, estimated_tokens, created_at, completed_at, worker, budget_usd)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


class TasksMixin(Store):
    """Create, read, update and recover tasks."""

    # --- tasks ------------------------------------------------------------------------

    def _task_values(self, project_id: int, spec: Mapping[str, Any]) -> tuple[object, ...]:
        unknown = set(spec) - _TASK_SPEC_KEYS
        if unknown:
            raise InvalidInputError(f"unknown task field(s): {', '.join(sorted(unknown))}")
        if "title" not in spec:
            raise InvalidInputError("a task needs a title")
        status = _task_status(spec.get("status", TaskStatus.PENDING))
        now = utc_now()
        return (
            project_id,
            spec.get("issue_id"),
            _opt_text(spec.get("task_number")),
            _opt_text(spec.get("parent_issue_number")),
            _title(spec["title"]),
            spec.get("description") or "",
            status,
            _opt_text(spec.get("assigned_to")),
            _encode_depends_on(spec.get("depends_on", ())),
            _flag(spec.get("can_parallelize", False)),
            _priority(spec.get("priority", 2)),
            _int_in(spec.get("workflow_step", 1), 0, None, "workflow_step"),
            _flag(spec.get("requires_mcp", False)),
            _int_in(spec.get("estimated_tokens", 0), 0, None, "estimated_tokens"),
            now,
            now if status == TaskStatus.COMPLETED else None,
            _worker_type(spec.get("worker")),
            _budget(spec.get("budget_usd")),
        )

    def create_task(
        self,
        project_id: int,
        title: str,
        description: str = "",
        *,
        depends_on: Iterable[int] | str | None = (),
        priority: int = 2,
        workflow_step: int = 1,
        issue_id: int | None = None,
        task_number: str | int | None = None,
        parent_issue_number: str | None = None,
        status: str = TaskStatus.PENDING,
        assigned_to: str | None = None,
        can_parallelize: bool = False,
        requires_mcp: bool = False,
        estimated_tokens: int = 0,
        worker: str | None = None,
        budget_usd: float | None = None,
    ) -> int:
        """Insert one task; return its id. ``depends_on``: ids as a list, JSON or "1,2".

        ``worker`` names the worker type the task needs ("backend", "frontend", "test");
        ``budget_usd`` caps what its model calls may cost (else the run's per-task budget).
        """
        spec = {
            "title": title, "description": description, "depends_on": depends_on,
            "priority": priority, "workflow_step": workflow_step, "issue_id": issue_id,
            "task_number": task_number, "parent_issue_number": parent_issue_number,
            "status": status, "assigned_to": assigned_to, "can_parallelize": can_parallelize,
            "requires_mcp": requires_mcp, "estimated_tokens": estimated_tokens,
            "worker": worker, "budget_usd": budget_usd,
        }  # fmt: skip
        values = self._task_values(project_id, spec)
        refs = (("project", "projects", project_id), ("issue", "issues", issue_id))
        with self._write(*refs) as conn:
            cur = conn.execute(_TASK_INSERT, values)
        return int(cur.lastrowid or 0)

    def create_tasks(self, project_id: int, specs: Iterable[Mapping[str, Any]]) -> list[int]:
        """Insert a task list in one transaction; return the new ids in order.

        Each spec takes ``create_task``'s keywords. Its ``depends_on`` names other tasks by
        ``task_number`` — a spec of this batch first, else an existing task of the project
        — because ids do not exist before the insert. An unknown or ambiguous number raises
        ``InvalidInputError`` and nothing is inserted.
        """
        specs = list(specs)
        rows = [self._task_values(project_id, {**spec, "depends_on": ()}) for spec in specs]
        batch: dict[str, int] = {}
        for index, spec in enumerate(specs):
            number = spec.get("task_number")
            if number is None:
                continue
            if str(number) in batch:
                raise InvalidInputError(f"task_number {number!r} appears twice in the batch")
            batch[str(number)] = index
        existing: dict[str, list[int]] = {}
        for row in self._all(
            "SELECT id, task_number FROM tasks WHERE project_id = ? AND task_number IS NOT NULL",
            (project_id,),
        ):
            existing.setdefault(row["task_number"], []).append(row["id"])

        def refs_of(index: int, spec: Mapping[str, Any]) -> list[tuple[str, int]]:
            raw = spec.get("depends_on") or ()
            if isinstance(raw, str):
                text = raw.strip()
                numbers = json.loads(text) if text.startswith("[") else text.split(",")
            else:
                numbers = [raw] if isinstance(raw, int) else list(raw)
            resolved: list[tuple[str, int]] = []
            for number in (str(n).strip() for n in numbers):
                if not number:
                    continue
                if number in batch:
                    resolved.append(("batch", batch[number]))
                elif len(existing.get(number, ())) == 1:
                    resolved.append(("id", existing[number][0]))
                else:
                    title = spec.get("title")
                    problem = "is ambiguous in" if number in existing else "is not in the batch or"
                    raise InvalidInputError(
                        f"task {index + 1} ({title!r}) depends on task_number {number!r}, "
                        f"which {problem} project {project_id}"
                    )
            return resolved

        try:
            references = [refs_of(i, spec) for i, spec in enumerate(specs)]
        except ValueError as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"depends_on is not a list of task numbers: {exc}") from exc
        issue_ids = {spec.get("issue_id") for spec in specs} - {None}
        refs = [("project", "projects", project_id)] + [("issue", "issues", i) for i in issue_ids]
        ids: list[int] = []
        with self._write(*refs) as conn:
            for values in rows:
                ids.append(int(conn.execute(_TASK_INSERT, values).lastrowid or 0))
            updates = [
                (json.dumps([ids[i] if kind == "batch" else i for kind, i in refs_here]), task_id)
                for refs_here, task_id in zip(references, ids, strict=True)
                if refs_here
            ]
            conn.executemany("UPDATE tasks SET depends_on = ? WHERE id = ?", updates)
        return ids

    def create_task_with_issue(
        self,
        project_id: int,
        issue_id: int | None,
        task_number: str,
        parent_issue_number: str,
        title: str,
        description: str,
        status: str,
        priority: int,
        workflow_step: int,
        can_parallelize: bool,
        requires_mcp: bool = False,
    ) -> int:
        """The seed's positional form of ``create_task``, for code written against it."""
        return self.create_task(
            project_id,
            title,
            description,
            issue_id=issue_id,
            task_number=task_number,
            parent_issue_number=parent_issue_number,
            status=status,
            priority=priority,
            workflow_step=workflow_step,
            can_parallelize=can_parallelize,
            requires_mcp=requires_mcp,
        )

    def get_task(self, task_id: int) -> Row | None:
        """The task as a dict (depends_on ``list[int]``, flags ``bool``, notes a list)."""
        row = self._one("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return None if row is None else _task_row(row)

    def get_project_tasks(
        self, project_id: int, status: str | Iterable[str] | None = None
    ) -> list[Row]:
        """A project's tasks ordered by id, optionally only those in ``status`` (one or many)."""
        if status is None:
            rows = self._all("SELECT * FROM tasks WHERE project_id = ? ORDER BY id", (project_id,))
        else:
            wanted = [status] if isinstance(status, str) else list(status)
            statuses = [_task_status(s) for s in wanted]
            marks = ", ".join("?" * len(statuses))
            rows = self._all(
                f"SELECT * FROM tasks WHERE project_id = ? AND status IN ({marks}) ORDER BY id",
                (project_id, *statuses),
            )
        return [_task_row(row) for row in rows]

    def update_task(self, task_id: int, updates: Mapping[str, Any]) -> int:
        """Update the given columns in one transaction; return rows affected (1).

        A new ``status`` is a manual override (any current status) written by the one status
        writer, which also keeps ``completed_at`` true to it (set on ``completed``, cleared
        otherwise) unless ``completed_at`` is given. ``execution_count`` is the caller's to
        set (the lead agent counts executions). Unknown id → ``NotFoundError``; unknown
        column or invalid value → ``InvalidInputError``.
        """
        rest = {k: v for k, v in updates.items() if k != "status"}
        columns, params = self._assignments(rest, _TASK_UPDATES, "task")
        status = updates.get("status")
        if status is None and not columns:
            self._require("tasks", task_id, "task")
            return 0
        with self._write(("issue", "issues", updates.get("issue_id"))) as conn:
            if status is not None:
                completed_at = (
                    {"completed_at": rest["completed_at"]} if "completed_at" in rest else {}
                )
                set_status(conn, task_id, status, fields=completed_at)
            if columns:
                cur = conn.execute(
                    f"UPDATE tasks SET {', '.join(columns)} WHERE id = ?", (*params, task_id)
                )
                if cur.rowcount == 0:
                    raise NotFoundError(f"no task with id {task_id!r}")
        return 1

    def add_task_note(self, task_id: int, text: str) -> None:
        """Append ``{"at", "text"}`` to the task's notes (recoveries, resolved blockers, …)."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE tasks SET notes = json_insert(COALESCE(notes, '[]'), '$[#]',"
                " json_object('at', ?, 'text', ?)) WHERE id = ?",
                (utc_now(), str(text), task_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no task with id {task_id!r}")

    def add_task_tokens(self, task_id: int, n: int) -> int:
        """Add ``n`` tokens to ``actual_tokens`` atomically; return the new total."""
        n = _int_in(n, 0, None, "token count")
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE tasks SET actual_tokens = COALESCE(actual_tokens, 0) + ? WHERE id = ?",
                (n, task_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no task with id {task_id!r}")
            row = conn.execute("SELECT actual_tokens FROM tasks WHERE id = ?", (task_id,))
            total = int(row.fetchone()[0])
        return total
