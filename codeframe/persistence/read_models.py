"""The notebook's read models: what the frames and the panel show, each in one query.

The DataFrame functions and the panel's final refresh read the database only through these
methods, so the SQL, the names of the columns shown and the decoding of stored text (the
``depends_on`` JSON, the paths a correction changed) live here and nowhere else. Each
method returns plain dicts whose keys are exactly the columns shown, in order, filtered by
project (``None`` meaning every project in the file) and ordered by id.

A task's attempt count and last test status are scalar subqueries: the ``task_id`` indexes
answer them per row inside the one statement. Grouped or windowed subqueries measured an
order of magnitude slower for one project among many, and slower for the whole file too
(``benchmarks/read_models.py``), because they aggregate whole tables before the project
filter applies.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, TypedDict, cast

from codeframe.persistence.codec import _decode_depends_on
from codeframe.persistence.store import Store

logger = logging.getLogger(__name__)


# --- the rows ----------------------------------------------------------------------------
# Timestamps are the stored ISO-8601 UTC text; statuses are the stored enum values.


class TaskRow(TypedDict):
    task_id: int
    title: str
    status: str
    assigned_to: str | None
    depends_on: list[int]
    priority: int
    workflow_step: int
    attempts: int
    last_test_status: str | None
    actual_tokens: int | None
    cost_usd: float
    budget_usd: float | None
    worker: str | None
    error: str | None
    created_at: str
    completed_at: str | None


class TestResultRow(TypedDict):
    test_result_id: int
    task_id: int
    task_title: str
    attempt: int
    status: str
    passed: int
    failed: int
    errors: int
    skipped: int
    total: int
    duration_s: float
    created_at: str
    output: str | None


class CorrectionAttemptRow(TypedDict):
    attempt_id: int
    task_id: int
    task_title: str
    attempt_number: int
    error_analysis: str
    fix_description: str
    files: list[str]
    test_result_id: int | None
    test_status: str | None
    created_at: str


class BlockerRow(TypedDict):
    blocker_id: int
    task_id: int
    task_title: str
    severity: str
    blocker_type: str
    reason: str
    question: str
    resolution: str | None
    resolved_by: str | None
    created_at: str
    resolved_at: str | None


class TestCaseRow(TypedDict):
    test_case_id: int
    test_result_id: int
    task_id: int
    task_title: str
    attempt: int
    node_id: str
    outcome: str
    message: str
    duration_s: float


class LlmCallRow(TypedDict):
    call_id: int
    task_id: int | None
    task_title: str | None
    agent_id: str | None
    attempt: int
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_write_tokens: int | None
    cache_read_tokens: int | None
    cost_usd: float | None
    latency_s: float
    stop_reason: str | None
    error: str | None
    created_at: str


class CommitRow(TypedDict):
    commit_id: int
    task_id: int
    task_title: str
    sha: str
    branch: str
    files: list[str]
    insertions: int
    deletions: int
    merge_sha: str | None
    created_at: str


class PanelTaskRow(TypedDict):
    task_id: int
    title: str
    status: str
    assigned_to: str | None
    actual_tokens: int | None
    cost_usd: float
    attempts: int
    last_test_status: str | None


class OpenBlockerRow(TypedDict):
    blocker_id: int
    task_id: int
    blocker_type: str
    reason: str
    question: str


class PanelOverview(TypedDict):
    """One project's tasks (by id) and its open blockers (oldest first), read as one state."""

    tasks: list[PanelTaskRow]
    blockers: list[OpenBlockerRow]


# pytest would otherwise try to collect these two when a test module imports them by name.
TestResultRow.__test__ = False  # type: ignore[attr-defined]
TestCaseRow.__test__ = False  # type: ignore[attr-defined]


class ReadModels(Protocol):
    """What the notebook reads; ``Database`` provides it (tests may hand in a fake)."""

    def task_rows(self, project_id: int | None = None) -> list[TaskRow]: ...
    def test_result_rows(self, project_id: int | None = None) -> list[TestResultRow]: ...
    def correction_attempt_rows(
        self, project_id: int | None = None
    ) -> list[CorrectionAttemptRow]: ...
    def blocker_rows(self, project_id: int | None = None) -> list[BlockerRow]: ...
    def test_case_rows(self, project_id: int | None = None) -> list[TestCaseRow]: ...
    def llm_call_rows(self, project_id: int | None = None) -> list[LlmCallRow]: ...
    def commit_rows(self, project_id: int | None = None) -> list[CommitRow]: ...
    def panel_overview(self, project_id: int) -> PanelOverview: ...


# --- the queries -------------------------------------------------------------------------
# ``{where}`` becomes the project filter on ``t`` (the tasks table) or nothing.

_ATTEMPTS = "(SELECT COUNT(*) FROM correction_attempts c WHERE c.task_id = t.id)"
_LAST_TEST_STATUS = (
    "(SELECT r.status FROM test_results r WHERE r.task_id = t.id ORDER BY r.id DESC LIMIT 1)"
)

_TASKS = f"""SELECT t.id AS task_id, t.title, t.status, t.assigned_to, t.depends_on,
           t.priority, t.workflow_step, {_ATTEMPTS} AS attempts,
           {_LAST_TEST_STATUS} AS last_test_status,
           t.actual_tokens, t.cost_usd, t.budget_usd, t.worker, t.error,
           t.created_at, t.completed_at
    FROM tasks t {{where}} ORDER BY t.id"""

_TEST_RESULTS = """SELECT r.id AS test_result_id, r.task_id, t.title AS task_title, r.attempt,
           r.status, r.passed, r.failed, r.errors, r.skipped,
           r.passed + r.failed + r.errors + r.skipped AS total,
           r.duration AS duration_s, r.created_at, r.output
    FROM test_results r JOIN tasks t ON t.id = r.task_id {where} ORDER BY r.id"""

# ``files`` is read as the raw code_changes text and decoded in place (see _changed_paths).
_CORRECTION_ATTEMPTS = """SELECT c.id AS attempt_id, c.task_id, t.title AS task_title,
           c.attempt_number, c.error_analysis, c.fix_description, c.code_changes AS files,
           c.test_result_id, r.status AS test_status, c.created_at, c.code_changes_format
    FROM correction_attempts c JOIN tasks t ON t.id = c.task_id
    LEFT JOIN test_results r ON r.id = c.test_result_id {where} ORDER BY c.id"""

_BLOCKERS = """SELECT b.id AS blocker_id, b.task_id, t.title AS task_title, b.severity,
           b.blocker_type, b.reason, b.question, b.resolution, b.resolved_by, b.created_at,
           b.resolved_at
    FROM blockers b JOIN tasks t ON t.id = b.task_id {where} ORDER BY b.id"""

_TEST_CASES = """SELECT c.id AS test_case_id, c.test_result_id, r.task_id,
           t.title AS task_title, r.attempt, c.node_id, c.outcome, c.message,
           c.duration AS duration_s
    FROM test_cases c JOIN test_results r ON r.id = c.test_result_id
    JOIN tasks t ON t.id = r.task_id {where} ORDER BY c.id"""

# A call made outside any task has no project, so only the all-projects view shows it.
_LLM_CALLS = """SELECT l.id AS call_id, l.task_id, t.title AS task_title, l.agent_id,
           l.attempt, l.model, l.input_tokens, l.output_tokens, l.cache_write_tokens,
           l.cache_read_tokens, l.cost_usd, l.latency_s, l.stop_reason, l.error, l.created_at
    FROM llm_calls l LEFT JOIN tasks t ON t.id = l.task_id {where} ORDER BY l.id"""

_COMMITS = """SELECT c.id AS commit_id, c.task_id, t.title AS task_title, c.sha, c.branch,
           c.files, c.insertions, c.deletions, c.merge_sha, c.created_at
    FROM commits c JOIN tasks t ON t.id = c.task_id {where} ORDER BY c.id"""

_PANEL_TASKS = f"""SELECT t.id AS task_id, t.title, t.status, t.assigned_to, t.actual_tokens,
           t.cost_usd,
           {_ATTEMPTS} AS attempts, {_LAST_TEST_STATUS} AS last_test_status
    FROM tasks t WHERE t.project_id = ? ORDER BY t.id"""

_OPEN_BLOCKERS = """SELECT b.id AS blocker_id, b.task_id, b.blocker_type, b.reason, b.question
    FROM blockers b JOIN tasks t ON t.id = b.task_id
    WHERE t.project_id = ? AND b.resolved_at IS NULL ORDER BY b.id"""


# --- decoding ----------------------------------------------------------------------------


def _changed_paths(text: str | None, fmt: str | None) -> list[str]:
    """The paths a correction changed; a free-text ``code_changes`` names none we can list."""
    if fmt != "json" or not text:
        return []
    try:
        changes = json.loads(text)
    except ValueError:
        logger.warning("code_changes is marked JSON but does not parse; listing no files")
        return []
    if isinstance(changes, Mapping):
        changes = changes.get("files", [changes])
    paths = []
    for change in changes if isinstance(changes, list) else ():
        path = change.get("path") if isinstance(change, Mapping) else change
        if isinstance(path, str):
            paths.append(path)
    return paths


# --- the mixin ---------------------------------------------------------------------------


class ReadModelsMixin(Store):
    """The notebook's reads: one query per frame, two for the panel's overview."""

    def _select(self, sql: str, project_id: int | None) -> list[dict[str, Any]]:
        if project_id is None:
            rows = self._all(sql.format(where=""))
        else:
            rows = self._all(sql.format(where="WHERE t.project_id = ?"), (project_id,))
        return [dict(row) for row in rows]

    @contextmanager
    def _read_snapshot(self) -> Iterator[None]:
        """Let several SELECTs see one state of the file, even if another process writes.

        Inside a transaction the caller opened with raw SQL, read there and leave it open.
        """
        conn = self._db()
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def task_rows(self, project_id: int | None = None) -> list[TaskRow]:
        """Every task with its correction-attempt count and its newest test run's status."""
        rows = self._select(_TASKS, project_id)
        for row in rows:
            row["depends_on"] = _decode_depends_on(row["depends_on"])
        return cast(list[TaskRow], rows)

    def test_result_rows(self, project_id: int | None = None) -> list[TestResultRow]:
        """Every test run with its task's title and its total test count."""
        return cast(list[TestResultRow], self._select(_TEST_RESULTS, project_id))

    def correction_attempt_rows(self, project_id: int | None = None) -> list[CorrectionAttemptRow]:
        """Every correction attempt, the paths it changed and the status of the run after it."""
        rows = self._select(_CORRECTION_ATTEMPTS, project_id)
        for row in rows:
            row["files"] = _changed_paths(row["files"], row.pop("code_changes_format"))
        return cast(list[CorrectionAttemptRow], rows)

    def blocker_rows(self, project_id: int | None = None) -> list[BlockerRow]:
        """Every blocker, resolved or not, with its task's title."""
        return cast(list[BlockerRow], self._select(_BLOCKERS, project_id))

    def test_case_rows(self, project_id: int | None = None) -> list[TestCaseRow]:
        """Every per-test outcome with its run's task and attempt."""
        return cast(list[TestCaseRow], self._select(_TEST_CASES, project_id))

    def llm_call_rows(self, project_id: int | None = None) -> list[LlmCallRow]:
        """Every Claude call's numbers (the prompts and replies stay in the table)."""
        return cast(list[LlmCallRow], self._select(_LLM_CALLS, project_id))

    def commit_rows(self, project_id: int | None = None) -> list[CommitRow]:
        """Every commit a task made, with the files it changed and the merge that took it in."""
        rows = self._select(_COMMITS, project_id)
        for row in rows:
            row["files"] = json.loads(row["files"] or "[]")
        return cast(list[CommitRow], rows)

    def panel_overview(self, project_id: int) -> PanelOverview:
        """What the panel shows of a project: two queries whatever its number of tasks.

        Both read one state of the file, so no blocker appears beside a task status from
        before it.
        """
        with self._read_snapshot():
            tasks = [dict(row) for row in self._all(_PANEL_TASKS, (project_id,))]
            blockers = [dict(row) for row in self._all(_OPEN_BLOCKERS, (project_id,))]
        return {
            "tasks": cast(list[PanelTaskRow], tasks),
            "blockers": cast(list[OpenBlockerRow], blockers),
        }


__all__ = [
    "BlockerRow",
    "CorrectionAttemptRow",
    "LlmCallRow",
    "OpenBlockerRow",
    "PanelOverview",
    "PanelTaskRow",
    "ReadModels",
    "ReadModelsMixin",
    "TaskRow",
    "TestCaseRow",
    "TestResultRow",
]
