"""SQLite persistence: one connection, short transactions, rows handed out as plain dicts.

Access is synchronous on purpose: each method is one short transaction (usually one
statement) that commits before it returns, so a call never holds the event loop for long.
codeframe itself uses a ``Database`` from one thread — the event loop's. The connection is
opened with ``check_same_thread=False`` only so the thread-pool design codeframe replaced
can be benchmarked against the same object; an internal lock keeps each method's
transaction whole in that case and costs nothing measurable otherwise.

Every method commits. ``conn`` keeps sqlite3's default transaction handling, so raw SQL on
it behaves as usual (``conn.rollback()`` undoes an uncommitted raw UPDATE) until the next
method call commits the connection.
"""

from __future__ import annotations

import json
import logging
import operator
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from codeframe.core.models import (
    BlockerSeverity,
    CaseOutcome,
    ProjectStatus,
    TaskStatus,
    TestCase,
    TestStatus,
    parse_depends_on,
    utc_now,
)
from codeframe.errors import (
    CodeframeError,
    DuplicateError,
    InvalidInputError,
    NotFoundError,
    SchemaError,
)
from codeframe.persistence.migrations import AGENT_STATUSES, migrate
from codeframe.redaction import redact

logger = logging.getLogger(__name__)

Row = dict[str, Any]

#: Runs started by this process and not yet finished, as ``(database key, run id)``. A row
#: with our pid that is not in here belongs to a run that crashed in this same kernel.
_OPEN_RUNS: set[tuple[str, int]] = set()

_TASK_STATUSES = frozenset(TaskStatus)
_PROJECT_STATUSES = frozenset(ProjectStatus)
_TEST_STATUSES = frozenset(TestStatus)
_CASE_OUTCOMES = frozenset(CaseOutcome)
_SEVERITIES = frozenset(BlockerSeverity)
_AGENT_STATUSES = frozenset(AGENT_STATUSES)
_INTERRUPTED = (TaskStatus.IN_PROGRESS.value, TaskStatus.ASSIGNED.value)

# Request keys that may carry credentials; they never reach the llm_calls table.
_SECRET_KEY = re.compile(r"header|api[_-]?key|auth|secret|password|credential", re.IGNORECASE)


# --- validation and encoding -------------------------------------------------------------


def _choice(value: object, allowed: frozenset[str], what: str) -> str:
    if isinstance(value, str) and value in allowed:
        return str(value)
    options = ", ".join(sorted(allowed))
    raise InvalidInputError(f"invalid {what} {value!r}; expected one of: {options}")


def _int_in(value: object, low: int, high: int | None, what: str) -> int:
    # bool is an int to Python but never a count or a priority here. Plain ints take the
    # fast path: this runs for every column of every write.
    number: int | None
    if type(value) is int:
        number = value
    elif isinstance(value, bool):
        number = None
    else:
        try:
            number = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            number = None
    if number is None or number < low or (high is not None and number > high):
        bound = f"{low}–{high}" if high is not None else f"≥ {low}"
        raise InvalidInputError(f"{what} must be an integer {bound}, got {value!r}")
    return number


def _priority(value: object) -> int:
    return _int_in(value, 0, 4, "priority")


def _task_status(value: object) -> str:
    return _choice(value, _TASK_STATUSES, "task status")


def _flag(value: object) -> int:
    return 1 if value else 0


def _opt_text(value: object) -> str | None:
    return None if value is None else str(value)


def _title(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"a title must be non-empty text, got {value!r}")
    return value


def _encode_depends_on(value: object) -> str:
    """Store dependencies as JSON text whatever form they came in (list, JSON, "1,2")."""
    try:
        ids = parse_depends_on(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"depends_on must list task ids, got {value!r}") from exc
    return json.dumps(ids)


def _decode_depends_on(text: object) -> list[int]:
    try:
        return parse_depends_on(text)
    except (TypeError, ValueError):
        logger.warning("ignoring unparsable depends_on %r", text)
        return []


def _to_json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"value is not JSON-serialisable: {exc}") from exc


def _from_json(text: str | None, default: Any = None) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except ValueError:
        # Raw SQL may have stored plain text; hand it back rather than failing a read.
        logger.warning("column holds invalid JSON; returning it as text")
        return text


def _encode_notes(value: object) -> str:
    if not isinstance(value, list | tuple):
        raise InvalidInputError(f"notes must be a list, got {type(value).__name__}")
    return _to_json(list(value))


def _task_row(row: sqlite3.Row) -> Row:
    task = dict(row)
    task["depends_on"] = _decode_depends_on(task["depends_on"])
    task["can_parallelize"] = bool(task["can_parallelize"])
    task["requires_mcp"] = bool(task["requires_mcp"])
    task["notes"] = _from_json(task["notes"], [])
    return task


def _project_row(row: sqlite3.Row) -> Row:
    project = dict(row)
    project["config"] = _from_json(project["config"])
    return project


def _correction_row(row: sqlite3.Row) -> Row:
    attempt = dict(row)
    if attempt.pop("code_changes_format") == "json":
        attempt["code_changes"] = _from_json(attempt["code_changes"], "")
    return attempt


def _json_row(row: sqlite3.Row, column: str) -> Row:
    data = dict(row)
    data[column] = _from_json(data[column])
    return data


def _case_values(case: TestCase | Mapping[str, Any]) -> tuple[str, str, str, float]:
    if isinstance(case, TestCase):
        node_id, outcome, message, duration = (
            case.node_id,
            case.outcome,
            case.message,
            case.duration,
        )
    elif isinstance(case, Mapping):
        if "node_id" not in case or "outcome" not in case:
            raise InvalidInputError(f"a test case needs node_id and outcome, got {dict(case)!r}")
        node_id, outcome = case["node_id"], case["outcome"]
        message, duration = case.get("message") or "", case.get("duration") or 0.0
    else:
        raise InvalidInputError(f"a test case must be a TestCase or a dict, got {case!r}")
    outcome = _choice(outcome, _CASE_OUTCOMES, "test case outcome")
    return str(node_id), outcome, str(message), float(duration)


def _scrub_request(request: object) -> str:
    """The request as JSON without header or credential keys, and no key value anywhere."""
    if not isinstance(request, Mapping):
        raise InvalidInputError(f"request must be a dict, got {type(request).__name__}")
    clean = {k: v for k, v in request.items() if not _SECRET_KEY.search(str(k))}
    return redact(json.dumps(clean, ensure_ascii=False, default=str))


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


_Encoder = Callable[[Any], object]

#: Columns ``update_task`` accepts, each with the encoder that validates it.
_TASK_UPDATES: dict[str, _Encoder] = {
    "issue_id": lambda v: v,
    "task_number": _opt_text,
    "parent_issue_number": _opt_text,
    "title": _title,
    "description": lambda v: "" if v is None else str(v),
    "status": _task_status,
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
}

#: Keys a ``create_task`` / ``create_tasks`` spec may carry besides project_id.
_TASK_SPEC_KEYS = frozenset(
    {
        "title", "description", "depends_on", "priority", "workflow_step", "issue_id",
        "task_number", "parent_issue_number", "status", "assigned_to", "can_parallelize",
        "requires_mcp", "estimated_tokens",
    }
)  # fmt: skip

_TASK_INSERT = """INSERT INTO tasks (project_id, issue_id, task_number, parent_issue_number,
    title, description, status, assigned_to, depends_on, can_parallelize, priority,
    workflow_step, requires_mcp, estimated_tokens, created_at, completed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

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

_AGENT_UPDATES: dict[str, _Encoder] = {
    "status": lambda v: _choice(v, _AGENT_STATUSES, "agent status"),
    "current_task_id": lambda v: v,
    "tasks_completed": lambda v: _int_in(v, 0, None, "tasks_completed"),
    "retired_at": _opt_text,
    "run_id": lambda v: v,
}

#: For foreign-key failures: which table a reference names, for the NotFoundError message.
_Ref = tuple[str, str, object]


class Database:
    """The codeframe SQLite store: schema, validation and every query the agents need.

    ``Database(":memory:")`` works; a file path gets its parent folders created, WAL
    journal and ``synchronous=NORMAL`` (commits stay cheap; a power cut may lose the last
    commits but never corrupts the file).
    """

    def __init__(self, db_path: str | Path) -> None:
        memory = str(db_path) == ":memory:"
        self.db_path: str | Path = ":memory:" if memory else Path(db_path).expanduser()
        self.conn: sqlite3.Connection | None = None
        self.schema_version = 0
        self._lock = threading.RLock()
        self._my_runs: set[int] = set()
        # Identifies the database in the process-wide registry of open runs.
        self._key = f":memory:{id(self)}" if memory else str(Path(self.db_path).resolve())
        self._open(memory)
        try:
            self.initialize()
        except BaseException:
            self.close()
            raise

    def _open(self, memory: bool) -> None:
        if not memory:
            Path(self.db_path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.db_path), timeout=5.0, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 5000")
            # Refuse a file we do not own before WAL would rewrite its header.
            migrate(conn, where=str(self.db_path), apply=False)
            if not memory:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    logger.warning("%s: WAL journal unavailable, using %s", self.db_path, mode)
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SchemaError(f"{self.db_path} is not a SQLite database: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self.conn = conn

    def initialize(self, run_migrations: bool = True) -> None:
        """Check the file and bring its schema up to date; safe to call any number of times.

        With ``run_migrations=False`` the file is only checked. Raises ``SchemaError`` for
        a file holding our tables without a version, or a version newer than ours.
        """
        conn = self._db()
        with self._lock:
            self.schema_version = migrate(conn, where=str(self.db_path), apply=run_migrations)

    def close(self) -> None:
        """Close the connection (a second call does nothing); runs left open are released."""
        for run_id in self._my_runs:
            _OPEN_RUNS.discard((self._key, run_id))
        self._my_runs.clear()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.conn is None else f"schema v{self.schema_version}"
        return f"Database({str(self.db_path)!r}, {state})"

    # --- plumbing ---------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        conn = self.conn
        if conn is None:
            raise CodeframeError(f"database {str(self.db_path)!r} is closed")
        return conn

    @contextmanager
    def _write(self, *refs: _Ref, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction: commit at the end, roll back and translate errors on failure.

        ``refs`` name the ids the statement references, so a foreign-key failure becomes
        a ``NotFoundError`` that says which one is unknown.
        """
        conn = self._db()
        with self._lock:
            try:
                if immediate and not conn.in_transaction:
                    conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.commit()
            except sqlite3.IntegrityError as exc:
                conn.rollback()
                translated = self._translate(exc, refs)
                if translated is exc:
                    raise
                raise translated from exc
            except BaseException:
                conn.rollback()
                raise

    def _translate(self, exc: sqlite3.IntegrityError, refs: tuple[_Ref, ...]) -> Exception:
        message = str(exc)
        if isinstance(exc, CodeframeError):
            return exc
        if "FOREIGN KEY" in message:
            for what, table, ident in refs:
                if ident is not None and not self._exists(table, ident):
                    return NotFoundError(f"no {what} with id {ident!r}")
            return NotFoundError(f"a referenced row does not exist ({message})")
        if "UNIQUE" in message:
            return DuplicateError(message)
        if "CHECK" in message or "NOT NULL" in message:
            return InvalidInputError(f"value rejected by the schema: {message}")
        return exc

    def _exists(self, table: str, ident: object) -> bool:
        row = self._db().execute(f"SELECT 1 FROM {table} WHERE id = ?", (ident,)).fetchone()
        return row is not None

    def _require(self, table: str, ident: object, what: str) -> None:
        if not self._exists(table, ident):
            raise NotFoundError(f"no {what} with id {ident!r}")

    def _one(self, sql: str, params: Iterable[object]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db().execute(sql, tuple(params)).fetchone()
        return row

    def _all(self, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]:
        return self._db().execute(sql, tuple(params)).fetchall()

    @staticmethod
    def _assignments(
        updates: Mapping[str, object], encoders: Mapping[str, _Encoder], what: str
    ) -> tuple[list[str], list[object]]:
        columns: list[str] = []
        params: list[object] = []
        for key, value in updates.items():
            encode = encoders.get(key)
            if encode is None:
                allowed = ", ".join(sorted(encoders))
                raise InvalidInputError(f"cannot update {what} column {key!r}; allowed: {allowed}")
            columns.append(f"{key} = ?")
            params.append(encode(value))
        return columns, params

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

        Extra keywords: ``status`` and ``config`` (any JSON-serialisable value).
        """
        unknown = set(fields) - {"status", "config"}
        if unknown:
            raise InvalidInputError(f"unknown project field(s): {', '.join(sorted(unknown))}")
        status = _choice(fields.get("status", "init"), _PROJECT_STATUSES, "project status")
        config = fields.get("config")
        values = (
            _title(name),
            description or "",
            _opt_text(workspace_path),
            status,
            utc_now(),
            None if config is None else _to_json(config),
        )
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO projects (name, description, workspace_path, status, created_at,"
                " config) VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
        return int(cur.lastrowid or 0)

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
        """Update the given columns; return rows affected (0 for an unknown id)."""
        columns, params = self._assignments(updates, _PROJECT_UPDATES, "project")
        if not columns:
            return 0
        with self._write() as conn:
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
    ) -> int:
        """Insert one task; return its id. ``depends_on``: ids as a list, JSON or "1,2"."""
        spec = {
            "title": title, "description": description, "depends_on": depends_on,
            "priority": priority, "workflow_step": workflow_step, "issue_id": issue_id,
            "task_number": task_number, "parent_issue_number": parent_issue_number,
            "status": status, "assigned_to": assigned_to, "can_parallelize": can_parallelize,
            "requires_mcp": requires_mcp, "estimated_tokens": estimated_tokens,
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
        """Update the given columns in one statement; return rows affected (1).

        A new ``status`` also keeps ``completed_at`` true to it (set on ``completed``,
        cleared otherwise) unless ``completed_at`` is given. ``execution_count`` is the
        caller's to set (the lead agent counts executions). Unknown id → ``NotFoundError``;
        unknown column or invalid value → ``InvalidInputError``.
        """
        columns, params = self._assignments(updates, _TASK_UPDATES, "task")
        status = updates.get("status")
        if status is not None and "completed_at" not in updates:
            columns.append("completed_at = ?")
            params.append(utc_now() if status == TaskStatus.COMPLETED else None)
        if not columns:
            self._require("tasks", task_id, "task")
            return 0
        with self._write(("issue", "issues", updates.get("issue_id"))) as conn:
            cur = conn.execute(
                f"UPDATE tasks SET {', '.join(columns)} WHERE id = ?", (*params, task_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no task with id {task_id!r}")
        return cur.rowcount

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

    def recover_interrupted(self, project_id: int) -> list[int]:
        """Return tasks left ``in_progress``/``assigned`` by a crash to ``pending``, with a note.

        Returns the ids it reset, ascending.
        """
        self._require("projects", project_id, "project")
        now = utc_now()
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, status, assigned_to FROM tasks"
                " WHERE project_id = ? AND status IN (?, ?) ORDER BY id",
                (project_id, *_INTERRUPTED),
            ).fetchall()
            for row in rows:
                who = f" (assigned to {row['assigned_to']})" if row["assigned_to"] else ""
                note = f"recovered: was {row['status']}{who} when a run was interrupted"
                conn.execute(
                    "UPDATE tasks SET status = 'pending', assigned_to = NULL, completed_at = NULL,"
                    " notes = json_insert(COALESCE(notes, '[]'), '$[#]',"
                    " json_object('at', ?, 'text', ?)) WHERE id = ?",
                    (now, note, row["id"]),
                )
        if rows:
            logger.info("project %s: recovered %d interrupted task(s)", project_id, len(rows))
        return [int(row["id"]) for row in rows]

    # --- test results -------------------------------------------------------------------

    def create_test_result(
        self,
        task_id: int,
        status: str,
        passed: int = 0,
        failed: int = 0,
        errors: int = 0,
        skipped: int = 0,
        duration: float = 0.0,
        output: str | None = None,
        *,
        attempt: int = 0,
        cases: Iterable[TestCase | Mapping[str, Any]] = (),
    ) -> int:
        """Record one test run and its per-test ``cases`` in one transaction; return its id.

        ``attempt`` is 0 for a task's first run, *n* for the run after correction *n*.
        """
        values = (
            task_id,
            _choice(status, _TEST_STATUSES, "test status"),
            _int_in(passed, 0, None, "passed"),
            _int_in(failed, 0, None, "failed"),
            _int_in(errors, 0, None, "errors"),
            _int_in(skipped, 0, None, "skipped"),
            float(duration),
            output if output is None or isinstance(output, str) else _to_json(output),
            _int_in(attempt, 0, None, "attempt"),
            utc_now(),
        )
        case_rows = [_case_values(case) for case in cases]
        with self._write(("task", "tasks", task_id)) as conn:
            cur = conn.execute(
                "INSERT INTO test_results (task_id, status, passed, failed, errors, skipped,"
                " duration, output, attempt, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            result_id = int(cur.lastrowid or 0)
            if case_rows:
                conn.executemany(
                    "INSERT INTO test_cases (test_result_id, node_id, outcome, message, duration)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(result_id, *case) for case in case_rows],
                )
        return result_id

    def get_test_result(self, test_result_id: int) -> Row | None:
        """One test run as a dict, or ``None`` if unknown."""
        row = self._one("SELECT * FROM test_results WHERE id = ?", (test_result_id,))
        return None if row is None else dict(row)

    def get_test_results_by_task(self, task_id: int) -> list[Row]:
        """A task's test runs, oldest first."""
        rows = self._all("SELECT * FROM test_results WHERE task_id = ? ORDER BY id", (task_id,))
        return [dict(row) for row in rows]

    def get_test_cases(self, test_result_id: int) -> list[Row]:
        """The per-test outcomes of one run, in recorded order."""
        rows = self._all(
            "SELECT * FROM test_cases WHERE test_result_id = ? ORDER BY id", (test_result_id,)
        )
        return [dict(row) for row in rows]

    def get_test_cases_by_task(self, task_id: int) -> list[Row]:
        """Every test case of a task's runs, each with its run's ``attempt`` and ``task_id``."""
        rows = self._all(
            """SELECT c.*, r.task_id, r.attempt FROM test_cases c
               JOIN test_results r ON r.id = c.test_result_id
               WHERE r.task_id = ? ORDER BY r.id, c.id""",
            (task_id,),
        )
        return [dict(row) for row in rows]

    # --- correction attempts ----------------------------------------------------------

    def create_correction_attempt(
        self,
        task_id: int,
        attempt_number: int,
        error_analysis: str,
        fix_description: str,
        code_changes: str | list[Any] | dict[str, Any] | None = "",
        test_result_id: int | None = None,
    ) -> int:
        """Record self-correction attempt 1–3; ``code_changes`` reads back as given.

        ``test_result_id`` is the test run *after* this fix.
        """
        number = _int_in(attempt_number, 1, 3, "attempt_number")
        if code_changes is None or isinstance(code_changes, str):
            changes, fmt = code_changes or "", "text"
        elif isinstance(code_changes, list | tuple | dict):
            changes, fmt = _to_json(code_changes), "json"
        else:
            raise InvalidInputError(
                f"code_changes must be text, a list or a dict, got {type(code_changes).__name__}"
            )
        refs = (("task", "tasks", task_id), ("test result", "test_results", test_result_id))
        with self._write(*refs) as conn:
            cur = conn.execute(
                "INSERT INTO correction_attempts (task_id, attempt_number, error_analysis,"
                " fix_description, code_changes, code_changes_format, test_result_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    task_id, number, error_analysis or "", fix_description or "", changes, fmt,
                    test_result_id, utc_now(),
                ),
            )  # fmt: skip
        return int(cur.lastrowid or 0)

    def get_correction_attempts_by_task(self, task_id: int) -> list[Row]:
        """A task's correction attempts ordered by attempt_number (then id)."""
        rows = self._all(
            "SELECT * FROM correction_attempts WHERE task_id = ? ORDER BY attempt_number, id",
            (task_id,),
        )
        return [_correction_row(row) for row in rows]

    def get_latest_correction_attempt(self, task_id: int) -> Row | None:
        """The attempt with the highest number (newest on a tie), or ``None``."""
        row = self._one(
            "SELECT * FROM correction_attempts WHERE task_id = ?"
            " ORDER BY attempt_number DESC, id DESC LIMIT 1",
            (task_id,),
        )
        return None if row is None else _correction_row(row)

    def count_correction_attempts(self, task_id: int) -> int:
        """How many correction attempts a task has recorded."""
        row = self._one("SELECT COUNT(*) FROM correction_attempts WHERE task_id = ?", (task_id,))
        return int(row[0]) if row is not None else 0

    # --- blockers ---------------------------------------------------------------------

    def create_blocker(
        self,
        task_id: int,
        severity: str = BlockerSeverity.SYNC,
        reason: str = "",
        question: str = "",
    ) -> int:
        """Record a blocker for a human (``sync``: work waits; ``async``: it can wait)."""
        values = (
            task_id,
            _choice(severity, _SEVERITIES, "blocker severity"),
            reason or "",
            question or "",
            utc_now(),
        )
        with self._write(("task", "tasks", task_id)) as conn:
            cur = conn.execute(
                "INSERT INTO blockers (task_id, severity, reason, question, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
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
        now = utc_now()
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE blockers SET resolution = ?, resolved_at = ?"
                " WHERE id = ? AND resolved_at IS NULL",
                (str(resolution), now, blocker_id),
            )
            row = conn.execute(
                "SELECT task_id FROM blockers WHERE id = ?", (blocker_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no blocker with id {blocker_id!r}")
            if cur.rowcount == 0:
                return False
            task_id = row["task_id"]
            note = f"blocker {blocker_id} resolved: {resolution}"
            conn.execute(
                "UPDATE tasks SET notes = json_insert(COALESCE(notes, '[]'), '$[#]',"
                " json_object('at', ?, 'text', ?)) WHERE id = ?",
                (now, note, task_id),
            )
            conn.execute(
                "UPDATE tasks SET status = 'pending', completed_at = NULL"
                " WHERE id = ? AND status = 'blocked' AND NOT EXISTS"
                " (SELECT 1 FROM blockers WHERE task_id = ? AND resolved_at IS NULL)",
                (task_id, task_id),
            )
        return True

    # --- LLM calls --------------------------------------------------------------------

    def record_llm_call(
        self,
        *,
        task_id: int | None,
        agent_id: str | None,
        attempt: int,
        model: str | None,
        request: Mapping[str, Any],
        reply_text: str | None,
        stop_reason: str | None,
        input_tokens: int,
        output_tokens: int,
        latency_s: float,
        error: str | None = None,
        count_tokens: bool = False,
    ) -> int:
        """Record one Claude call. ``request`` ({system, messages, ...}) is stored as JSON
        without header or credential keys, and any API key value in it is redacted.

        With ``count_tokens`` the call's tokens are added to the task's ``actual_tokens`` in
        the same transaction (one commit per call keeps a worker's orchestration cheap).
        """
        values = (
            task_id,
            agent_id,
            _int_in(attempt, 0, None, "attempt"),
            model,
            _scrub_request(request),
            reply_text,
            stop_reason,
            _int_in(input_tokens or 0, 0, None, "input_tokens"),
            _int_in(output_tokens or 0, 0, None, "output_tokens"),
            float(latency_s or 0.0),
            error,
            utc_now(),
        )
        with self._write(("task", "tasks", task_id)) as conn:
            cur = conn.execute(
                "INSERT INTO llm_calls (task_id, agent_id, attempt, model, request, reply_text,"
                " stop_reason, input_tokens, output_tokens, latency_s, error, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            tokens = values[7] + values[8]
            if count_tokens and task_id is not None and tokens:
                conn.execute(
                    "UPDATE tasks SET actual_tokens = COALESCE(actual_tokens, 0) + ? WHERE id = ?",
                    (tokens, task_id),
                )
        return int(cur.lastrowid or 0)

    def get_llm_calls(self, task_id: int | None = None, project_id: int | None = None) -> list[Row]:
        """Recorded calls (``request`` decoded), oldest first, filtered by task and/or project."""
        where: list[str] = []
        params: list[object] = []
        if task_id is not None:
            where.append("c.task_id = ?")
            params.append(task_id)
        if project_id is not None:
            where.append("t.project_id = ?")
            params.append(project_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._all(
            f"SELECT c.* FROM llm_calls c LEFT JOIN tasks t ON t.id = c.task_id{clause}"
            " ORDER BY c.id",
            params,
        )
        return [_json_row(row, "request") for row in rows]

    # --- runs -------------------------------------------------------------------------

    def _run_is_live(self, run_id: int, pid: int) -> bool:
        if not _pid_alive(pid):
            return False
        if pid == os.getpid():
            # Our own pid: alive only if this process still has the run open.
            return (self._key, run_id) in _OPEN_RUNS
        return True

    def start_run(self, project_id: int) -> int:
        """Claim the project for a lead-agent run; return the run id.

        A live run (not ended, its process alive, and — if that is this process — still
        open here) raises ``CodeframeError``; a dead one is ended with a note and taken
        over. The row is committed at once so other connections see the claim.
        """
        now = utc_now()
        with self._write(immediate=True) as conn:
            if (
                conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone()
                is None
            ):
                raise NotFoundError(f"no project with id {project_id!r}")
            stale = conn.execute(
                "SELECT id, pid FROM runs WHERE project_id = ? AND ended_at IS NULL ORDER BY id",
                (project_id,),
            ).fetchall()
            for row in stale:
                if self._run_is_live(row["id"], row["pid"]):
                    raise CodeframeError(f"a run is already in progress for project {project_id}")
                note = f"taken over at {now}: process {row['pid']} no longer runs it"
                conn.execute(
                    "UPDATE runs SET ended_at = ?, note = ? WHERE id = ?", (now, note, row["id"])
                )
                logger.warning("project %s: run %s %s", project_id, row["id"], note)
            cur = conn.execute(
                "INSERT INTO runs (project_id, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?)",
                (project_id, os.getpid(), now, now),
            )
            run_id = int(cur.lastrowid or 0)
        _OPEN_RUNS.add((self._key, run_id))
        self._my_runs.add(run_id)
        return run_id

    def heartbeat_run(self, run_id: int) -> None:
        """Stamp ``heartbeat_at`` so observers can tell a run is still moving."""
        with self._write() as conn:
            cur = conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (utc_now(), run_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"no run with id {run_id!r}")

    def finish_run(self, run_id: int, summary: Mapping[str, Any] | None = None) -> None:
        """End a run, storing its summary as JSON; the project is free for the next run."""
        now = utc_now()
        encoded = None if summary is None else _to_json(dict(summary))
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET ended_at = ?, heartbeat_at = ?, summary = ? WHERE id = ?",
                (now, now, encoded, run_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no run with id {run_id!r}")
        _OPEN_RUNS.discard((self._key, run_id))
        self._my_runs.discard(run_id)

    def get_runs(self, project_id: int) -> list[Row]:
        """A project's runs, oldest first, ``summary`` decoded."""
        rows = self._all("SELECT * FROM runs WHERE project_id = ? ORDER BY id", (project_id,))
        return [_json_row(row, "summary") for row in rows]

    # --- agents -----------------------------------------------------------------------

    def record_agent(
        self,
        project_id: int,
        agent_id: str,
        agent_type: str,
        *,
        run_id: int | None = None,
        status: str = "idle",
    ) -> int:
        """Record a worker agent (``agent_id`` like "backend-1"); return the row id."""
        if not agent_id or not agent_type:
            raise InvalidInputError("an agent needs an agent_id and an agent_type")
        values = (
            str(agent_id),
            project_id,
            run_id,
            str(agent_type),
            _choice(status, _AGENT_STATUSES, "agent status"),
            utc_now(),
        )
        refs = (("project", "projects", project_id), ("run", "runs", run_id))
        with self._write(*refs) as conn:
            cur = conn.execute(
                "INSERT INTO agents (agent_id, project_id, run_id, agent_type, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
        return int(cur.lastrowid or 0)

    def update_agent(
        self,
        project_id: int,
        agent_id: str,
        updates: Mapping[str, Any] | None = None,
        *,
        run_id: int | None = None,
        **fields: Any,
    ) -> int:
        """Update the newest record of ``agent_id`` in the project (in ``run_id`` if given).

        Columns: status (idle/busy/blocked/retired), current_task_id, tasks_completed,
        retired_at; ``status="retired"`` stamps ``retired_at``. Returns rows affected.
        """
        data = {**(updates or {}), **fields}
        columns, params = self._assignments(data, _AGENT_UPDATES, "agent")
        if data.get("status") == "retired" and "retired_at" not in data:
            columns.append("retired_at = ?")
            params.append(utc_now())
        run_clause = "" if run_id is None else " AND run_id = ?"
        target = (project_id, agent_id) if run_id is None else (project_id, agent_id, run_id)
        newest = (
            "SELECT id FROM agents WHERE project_id = ? AND agent_id = ?"
            f"{run_clause} ORDER BY id DESC LIMIT 1"
        )
        missing = NotFoundError(f"no agent {agent_id!r} recorded for project {project_id}")
        if not columns:
            if self._one(newest, target) is None:
                raise missing
            return 0
        refs = (("task", "tasks", data.get("current_task_id")), ("run", "runs", data.get("run_id")))
        with self._write(*refs) as conn:
            # One statement: the pool updates an agent at every task it runs.
            cur = conn.execute(
                f"UPDATE agents SET {', '.join(columns)} WHERE id = ({newest})", (*params, *target)
            )
            if cur.rowcount == 0:
                raise missing
        return cur.rowcount

    def get_agents(self, project_id: int, run_id: int | None = None) -> list[Row]:
        """A project's agent records (of one run if given), oldest first."""
        if run_id is None:
            rows = self._all("SELECT * FROM agents WHERE project_id = ? ORDER BY id", (project_id,))
        else:
            rows = self._all(
                "SELECT * FROM agents WHERE project_id = ? AND run_id = ? ORDER BY id",
                (project_id, run_id),
            )
        return [dict(row) for row in rows]

    def record_assignment(self, task_id: int, agent_id: str, run_id: int | None = None) -> int:
        """Append to a task's assignment history; ``tasks.assigned_to`` is left to the caller."""
        refs = (("task", "tasks", task_id), ("run", "runs", run_id))
        with self._write(*refs) as conn:
            cur = conn.execute(
                "INSERT INTO task_assignments (task_id, agent_id, run_id, assigned_at)"
                " VALUES (?, ?, ?, ?)",
                (task_id, str(agent_id), run_id, utc_now()),
            )
        return int(cur.lastrowid or 0)

    def assign_task(self, task_id: int, agent_id: str, *, run_id: int | None = None) -> int:
        """Hand a task to an agent in one transaction: status ``assigned``, ``assigned_to``,
        one more execution, and a row in the assignment history. Returns the execution count.
        """
        refs = (("task", "tasks", task_id), ("run", "runs", run_id))
        with self._write(*refs) as conn:
            row = conn.execute(
                "UPDATE tasks SET status = 'assigned', assigned_to = ?, completed_at = NULL,"
                " execution_count = COALESCE(execution_count, 0) + 1 WHERE id = ?"
                " RETURNING execution_count",
                (str(agent_id), task_id),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no task with id {task_id!r}")
            conn.execute(
                "INSERT INTO task_assignments (task_id, agent_id, run_id, assigned_at)"
                " VALUES (?, ?, ?, ?)",
                (task_id, str(agent_id), run_id, utc_now()),
            )
        return int(row[0])

    def get_task_assignments(self, task_id: int) -> list[Row]:
        """A task's assignment history, oldest first."""
        rows = self._all("SELECT * FROM task_assignments WHERE task_id = ? ORDER BY id", (task_id,))
        return [dict(row) for row in rows]


__all__ = ["Database"]
