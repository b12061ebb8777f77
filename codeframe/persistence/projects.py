"""Projects and their issues: the top of the work hierarchy."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codeframe.core.models import utc_now
from codeframe.errors import DuplicateError, InvalidInputError
from codeframe.persistence.codec import (
    _PROJECT_STATUSES,
    Row,
    _choice,
    _Encoder,
    _folder_key,
    _int_in,
    _opt_text,
    _priority,
    _project_row,
    _task_status,
    _title,
    _to_json,
)
from codeframe.persistence.store import Store

_PROJECT_UPDATES: dict[str, _Encoder] = {
    "name": _title,
    "description": lambda v: "" if v is None else str(v),
    "workspace_path": _opt_text,
    "status": lambda v: _choice(v, _PROJECT_STATUSES, "project status"),
    "config": lambda v: None if v is None else _to_json(v),
}

_ISSUE_FIELDS = frozenset(
    {"project_id", "issue_number", "title", "description", "status", "priority",
     "workflow_step", "created_at", "completed_at"}
)  # fmt: skip


class ProjectsMixin(Store):
    """Create, read and update projects and issues."""

    # --- projects ---------------------------------------------------------------------

    def create_project(
        self,
        name: str,
        description: str = "",
        *,
        workspace_path: str | Path | None = None,
        **fields: Any,
    ) -> int:
        """Insert a project (status ``init`` unless ``status=`` says otherwise); return its id.

        Extra keywords: ``status`` and ``config`` (any JSON-serialisable value). A folder
        belongs to one project: if another project already uses ``workspace_path`` (symlinks
        resolved) this raises ``DuplicateError`` naming it — ``get_or_create_project`` returns
        that project instead, e.g. when a notebook cell runs twice.
        """
        values = self._project_values(name, description, workspace_path, fields)
        with self._write(immediate=True) as conn:
            self._refuse_shared_folder(conn, workspace_path)
            return self._insert_project(conn, values)

    def get_or_create_project(self, name: str, *, workspace_path: str | Path, **fields: Any) -> int:
        """The id of the project that uses ``workspace_path``, creating it if there is none.

        Folders compare resolved (``~``, ``..`` and symlinks), so any spelling of the folder
        finds its project. ``name`` and ``fields`` (``description``, ``status``, ``config``)
        are used only when the project is created; an existing one is returned as it is.
        """
        if _folder_key(workspace_path) is None:
            raise InvalidInputError("get_or_create_project needs a workspace_path")
        extra = dict(fields)
        description = extra.pop("description", "")
        values = self._project_values(name, description, workspace_path, extra)
        with self._write(immediate=True) as conn:
            existing = self._project_in_folder(conn, workspace_path)
            if existing is not None:
                return int(existing["id"])
            return self._insert_project(conn, values)

    @staticmethod
    def _project_values(
        name: str, description: object, workspace_path: object, fields: Mapping[str, Any]
    ) -> tuple[object, ...]:
        unknown = set(fields) - {"status", "config"}
        if unknown:
            raise InvalidInputError(f"unknown project field(s): {', '.join(sorted(unknown))}")
        status = _choice(fields.get("status", "init"), _PROJECT_STATUSES, "project status")
        config = fields.get("config")
        return (
            _title(name),
            description or "",
            _opt_text(workspace_path),
            status,
            utc_now(),
            None if config is None else _to_json(config),
        )

    @staticmethod
    def _insert_project(conn: sqlite3.Connection, values: tuple[object, ...]) -> int:
        cur = conn.execute(
            "INSERT INTO projects (name, description, workspace_path, status, created_at,"
            " config) VALUES (?, ?, ?, ?, ?, ?)",
            values,
        )
        return int(cur.lastrowid or 0)

    @staticmethod
    def _project_in_folder(
        conn: sqlite3.Connection, workspace_path: object, *, other_than: int | None = None
    ) -> sqlite3.Row | None:
        """The first project whose folder resolves to ``workspace_path``'s, if any."""
        folder = _folder_key(workspace_path)
        if folder is None:
            return None
        # Stored as given, so compare resolved forms; projects are few, and this runs only
        # when a project is created or moved.
        rows: list[sqlite3.Row] = conn.execute(
            "SELECT id, name, workspace_path FROM projects"
            " WHERE workspace_path IS NOT NULL ORDER BY id"
        ).fetchall()
        for row in rows:
            if row["id"] != other_than and _folder_key(row["workspace_path"]) == folder:
                return row
        return None

    def _refuse_shared_folder(
        self, conn: sqlite3.Connection, workspace_path: object, *, other_than: int | None = None
    ) -> None:
        existing = self._project_in_folder(conn, workspace_path, other_than=other_than)
        if existing is not None:
            raise DuplicateError(
                f"project {existing['id']} ({existing['name']!r}) already uses folder "
                f"{_folder_key(workspace_path)}; use get_or_create_project(...) to reuse it, "
                "or give this project its own folder"
            )

    def get_project(self, project_id: int) -> Row | None:
        """The project as a dict (``config`` decoded), or ``None`` if unknown."""
        row = self._one("SELECT * FROM projects WHERE id = ?", (project_id,))
        return None if row is None else _project_row(row)

    def list_projects(self) -> list[Row]:
        """Every project, newest first, each with ``progress`` over its tasks."""
        rows = self._all(
            """SELECT p.*, COUNT(t.id) AS total_tasks,
                      COALESCE(SUM(t.status = 'completed'), 0) AS completed_tasks
               FROM projects p LEFT JOIN tasks t ON t.project_id = p.id
               GROUP BY p.id ORDER BY p.id DESC"""
        )
        projects = []
        for row in rows:
            project = _project_row(row)
            total = project.pop("total_tasks")
            done = project.pop("completed_tasks")
            project["progress"] = {
                "completed_tasks": done,
                "total_tasks": total,
                "percentage": round(done * 100 / total, 1) if total else 0.0,
            }
            projects.append(project)
        return projects

    def update_project(self, project_id: int, updates: Mapping[str, Any]) -> int:
        """Update the given columns; return rows affected (0 for an unknown id).

        Moving a project to a folder another project uses raises ``DuplicateError``.
        """
        columns, params = self._assignments(updates, _PROJECT_UPDATES, "project")
        if not columns:
            return 0
        moving = updates.get("workspace_path") is not None
        with self._write(immediate=moving) as conn:
            if moving:
                self._refuse_shared_folder(conn, updates["workspace_path"], other_than=project_id)
            cur = conn.execute(
                f"UPDATE projects SET {', '.join(columns)} WHERE id = ?", (*params, project_id)
            )
        return cur.rowcount

    # --- issues -----------------------------------------------------------------------

    def create_issue(self, issue: Mapping[str, Any] | None = None, **fields: Any) -> int:
        """Insert an issue given as one dict or as keywords; return its id.

        Needs ``project_id``, ``issue_number`` (text like "1.0") and ``title``. A number
        already used in the project raises ``DuplicateError``.
        """
        data = {**(issue or {}), **fields}
        unknown = set(data) - _ISSUE_FIELDS
        if unknown:
            raise InvalidInputError(f"unknown issue field(s): {', '.join(sorted(unknown))}")
        missing = [k for k in ("project_id", "issue_number", "title") if data.get(k) in (None, "")]
        if missing:
            raise InvalidInputError(f"an issue needs {', '.join(missing)}")
        project_id, number = data["project_id"], str(data["issue_number"])
        values = (
            project_id,
            number,
            _title(data["title"]),
            data.get("description") or "",
            _task_status(data.get("status", "pending")),
            _priority(data.get("priority", 2)),
            _int_in(data.get("workflow_step", 1), 0, None, "workflow_step"),
            data.get("created_at") or utc_now(),
            data.get("completed_at"),
        )
        try:
            with self._write(("project", "projects", project_id)) as conn:
                cur = conn.execute(
                    "INSERT INTO issues (project_id, issue_number, title, description, status,"
                    " priority, workflow_step, created_at, completed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
        except DuplicateError as exc:
            raise DuplicateError(
                f"issue {number!r} already exists in project {project_id}"
            ) from exc
        return int(cur.lastrowid or 0)

    def get_issue(self, issue_id: int) -> Row | None:
        """The issue as a dict, or ``None`` if unknown."""
        row = self._one("SELECT * FROM issues WHERE id = ?", (issue_id,))
        return None if row is None else dict(row)

    def get_project_issues(self, project_id: int) -> list[Row]:
        """A project's issues, ordered by id."""
        rows = self._all("SELECT * FROM issues WHERE project_id = ? ORDER BY id", (project_id,))
        return [dict(row) for row in rows]
