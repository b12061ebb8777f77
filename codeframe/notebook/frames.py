"""The database as pandas DataFrames: one function per table a user asks questions of.

Columns and dtypes are pinned (SPEC §7.8) and stay the same when a table is empty, so
notebook code can filter, group and plot without checking first: ids are ``<thing>_id``,
statuses are ordered categoricals in enum order (so sorting follows the lifecycle),
timestamps are tz-aware UTC datetimes, task titles are joined in, and the index is a plain
RangeIndex. ``project_id=None`` means every project in the file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from codeframe.core.models import BlockerSeverity, CaseOutcome, TaskStatus, TestStatus

logger = logging.getLogger(__name__)

TASK_STATUS = pd.CategoricalDtype([s.value for s in TaskStatus], ordered=True)
TEST_STATUS = pd.CategoricalDtype([s.value for s in TestStatus], ordered=True)
CASE_OUTCOME = pd.CategoricalDtype([s.value for s in CaseOutcome], ordered=True)
SEVERITY = pd.CategoricalDtype([s.value for s in BlockerSeverity], ordered=True)
UTC = pd.DatetimeTZDtype("ns", "UTC")
TEXT = pd.StringDtype()
INT = "int64"
MAYBE_INT = "Int64"  # nullable: a NULL stays <NA> instead of turning the column to float
FLOAT = "float64"
OBJECT = "object"  # lists (depends_on, files)

Columns = Sequence[tuple[str, Any]]

TASK_COLUMNS: Columns = (
    ("task_id", INT),
    ("title", TEXT),
    ("status", TASK_STATUS),
    ("assigned_to", TEXT),
    ("depends_on", OBJECT),
    ("priority", INT),
    ("workflow_step", INT),
    ("attempts", INT),
    ("last_test_status", TEST_STATUS),
    ("actual_tokens", MAYBE_INT),
    ("error", TEXT),
    ("created_at", UTC),
    ("completed_at", UTC),
)
TEST_RESULT_COLUMNS: Columns = (
    ("test_result_id", INT),
    ("task_id", INT),
    ("task_title", TEXT),
    ("attempt", INT),
    ("status", TEST_STATUS),
    ("passed", INT),
    ("failed", INT),
    ("errors", INT),
    ("skipped", INT),
    ("total", INT),
    ("duration_s", FLOAT),
    ("created_at", UTC),
    ("output", TEXT),
)
CORRECTION_COLUMNS: Columns = (
    ("attempt_id", INT),
    ("task_id", INT),
    ("task_title", TEXT),
    ("attempt_number", INT),
    ("error_analysis", TEXT),
    ("fix_description", TEXT),
    ("files", OBJECT),
    ("test_result_id", MAYBE_INT),
    ("test_status", TEST_STATUS),
    ("created_at", UTC),
)
BLOCKER_COLUMNS: Columns = (
    ("blocker_id", INT),
    ("task_id", INT),
    ("task_title", TEXT),
    ("severity", SEVERITY),
    ("reason", TEXT),
    ("question", TEXT),
    ("resolution", TEXT),
    ("created_at", UTC),
    ("resolved_at", UTC),
)
TEST_CASE_COLUMNS: Columns = (
    ("test_case_id", INT),
    ("test_result_id", INT),
    ("task_id", INT),
    ("task_title", TEXT),
    ("attempt", INT),
    ("node_id", TEXT),
    ("outcome", CASE_OUTCOME),
    ("message", TEXT),
    ("duration_s", FLOAT),
)
LLM_CALL_COLUMNS: Columns = (
    ("call_id", INT),
    ("task_id", MAYBE_INT),
    ("task_title", TEXT),
    ("agent_id", TEXT),
    ("attempt", INT),
    ("model", TEXT),
    ("input_tokens", INT),
    ("output_tokens", INT),
    ("latency_s", FLOAT),
    ("stop_reason", TEXT),
    ("error", TEXT),
    ("created_at", UTC),
)

# -- reading -----------------------------------------------------------------------------


def _rows(db: Any, sql: str, project_id: int | None) -> list[dict[str, Any]]:
    """Run ``sql`` (whose ``{where}`` filters on ``t.project_id``) and return plain dicts."""
    if project_id is None:
        cursor = db.conn.execute(sql.format(where=""))
    else:
        cursor = db.conn.execute(sql.format(where="WHERE t.project_id = ?"), (project_id,))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _column(values: list[Any], dtype: Any) -> pd.Series:
    if dtype is UTC:
        # Stored as ISO-8601 text ending in "Z"; format="ISO8601" takes any precision.
        parsed = pd.to_datetime(pd.Series(values, dtype=OBJECT), utc=True, format="ISO8601")
        return parsed.astype(UTC)
    return pd.Series(values, dtype=dtype)


def _frame(rows: list[Mapping[str, Any]], columns: Columns) -> pd.DataFrame:
    """A frame with exactly ``columns`` (and their dtypes), even when there are no rows."""
    data = {name: _column([row[name] for row in rows], dtype) for name, dtype in columns}
    return pd.DataFrame(data, columns=[name for name, _ in columns])


def _json_list(text: str | None) -> list[Any]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        logger.warning("depends_on holds text that is not JSON: %r", text)
        return []
    return list(value) if isinstance(value, list) else [value]


def _changed_paths(text: str | None, fmt: str | None) -> list[str]:
    """The paths a correction changed; a free-text ``code_changes`` names none we can list."""
    if fmt != "json" or not text:
        return []
    try:
        changes = json.loads(text)
    except ValueError:
        return []
    if isinstance(changes, Mapping):
        changes = changes.get("files", [changes])
    paths = []
    for change in changes if isinstance(changes, list) else ():
        path = change.get("path") if isinstance(change, Mapping) else change
        if isinstance(path, str):
            paths.append(path)
    return paths


# -- the frames --------------------------------------------------------------------------


def tasks_frame(db: Any, project_id: int | None = None) -> pd.DataFrame:
    """One row per task: status, agent, dependencies, attempts, last test status, tokens."""
    rows = _rows(
        db,
        """SELECT t.id AS task_id, t.title, t.status, t.assigned_to, t.depends_on,
                  t.priority, t.workflow_step,
                  (SELECT COUNT(*) FROM correction_attempts c WHERE c.task_id = t.id)
                      AS attempts,
                  (SELECT r.status FROM test_results r WHERE r.task_id = t.id
                   ORDER BY r.id DESC LIMIT 1) AS last_test_status,
                  t.actual_tokens, t.error, t.created_at, t.completed_at
           FROM tasks t {where} ORDER BY t.id""",
        project_id,
    )
    for row in rows:
        row["depends_on"] = [int(v) for v in _json_list(row["depends_on"])]
    return _frame(rows, TASK_COLUMNS)


def test_results_frame(db: Any, project_id: int | None = None) -> pd.DataFrame:
    """One row per test run; ``attempt`` is 0 for a first run, n after correction n."""
    rows = _rows(
        db,
        """SELECT r.id AS test_result_id, r.task_id, t.title AS task_title, r.attempt,
                  r.status, r.passed, r.failed, r.errors, r.skipped,
                  r.passed + r.failed + r.errors + r.skipped AS total,
                  r.duration AS duration_s, r.created_at, r.output
           FROM test_results r JOIN tasks t ON t.id = r.task_id {where} ORDER BY r.id""",
        project_id,
    )
    return _frame(rows, TEST_RESULT_COLUMNS)


def correction_attempts_frame(db: Any, project_id: int | None = None) -> pd.DataFrame:
    """One row per self-correction attempt, with the status of the test run after it."""
    rows = _rows(
        db,
        """SELECT c.id AS attempt_id, c.task_id, t.title AS task_title, c.attempt_number,
                  c.error_analysis, c.fix_description, c.code_changes, c.code_changes_format,
                  c.test_result_id, r.status AS test_status, c.created_at
           FROM correction_attempts c JOIN tasks t ON t.id = c.task_id
           LEFT JOIN test_results r ON r.id = c.test_result_id {where} ORDER BY c.id""",
        project_id,
    )
    for row in rows:
        row["files"] = _changed_paths(row["code_changes"], row["code_changes_format"])
    return _frame(rows, CORRECTION_COLUMNS)


def blockers_frame(db: Any, project_id: int | None = None) -> pd.DataFrame:
    """Every blocker, resolved or not (``resolved_at`` is NaT while it is open)."""
    rows = _rows(
        db,
        """SELECT b.id AS blocker_id, b.task_id, t.title AS task_title, b.severity, b.reason,
                  b.question, b.resolution, b.created_at, b.resolved_at
           FROM blockers b JOIN tasks t ON t.id = b.task_id {where} ORDER BY b.id""",
        project_id,
    )
    return _frame(rows, BLOCKER_COLUMNS)


def test_cases_frame(db: Any, project_id: int | None = None) -> pd.DataFrame:
    """One row per test per run: which test failed on which attempt is a filter away."""
    rows = _rows(
        db,
        """SELECT c.id AS test_case_id, c.test_result_id, r.task_id, t.title AS task_title,
                  r.attempt, c.node_id, c.outcome, c.message, c.duration AS duration_s
           FROM test_cases c JOIN test_results r ON r.id = c.test_result_id
           JOIN tasks t ON t.id = r.task_id {where} ORDER BY c.id""",
        project_id,
    )
    return _frame(rows, TEST_CASE_COLUMNS)


def llm_calls_frame(db: Any, project_id: int | None = None) -> pd.DataFrame:
    """One row per Claude call: tokens, latency and errors (the prompts stay in the db)."""
    rows = _rows(
        db,
        """SELECT l.id AS call_id, l.task_id, t.title AS task_title, l.agent_id, l.attempt,
                  l.model, l.input_tokens, l.output_tokens, l.latency_s, l.stop_reason,
                  l.error, l.created_at
           FROM llm_calls l LEFT JOIN tasks t ON t.id = l.task_id {where} ORDER BY l.id""",
        project_id,
    )
    return _frame(rows, LLM_CALL_COLUMNS)


# pytest would otherwise try to collect the two test_* functions when a test module imports
# them by name.
test_results_frame.__test__ = False  # type: ignore[attr-defined]
test_cases_frame.__test__ = False  # type: ignore[attr-defined]

# -- colour ------------------------------------------------------------------------------

STATUS_COLOURS: dict[str, str] = {
    "completed": "#c8e6c9",
    "passed": "#c8e6c9",
    "success": "#c8e6c9",
    "in_progress": "#bbdefb",
    "assigned": "#bbdefb",
    "blocked": "#ffe0b2",
    "skipped": "#fff9c4",
    "failed": "#ffcdd2",
    "error": "#ffcdd2",
    "timeout": "#ffcdd2",
    "cancelled": "#e0e0e0",
    "no_tests": "#eeeeee",
}
STATUS_COLUMNS = ("status", "last_test_status", "test_status", "outcome")


def _status_css(value: object) -> str:
    colour = STATUS_COLOURS.get(value) if isinstance(value, str) else None
    return f"background-color: {colour}" if colour else ""


def style_status(frame: pd.DataFrame) -> Any:
    """A ``Styler`` that colours the frame's status cells (needs jinja2, as pandas does).

    Cells are HTML-escaped: titles, errors and blocker reasons come from the model, and a
    ``Styler``, unlike a plain frame, renders them raw unless told otherwise.
    """
    subset = [name for name in STATUS_COLUMNS if name in frame.columns]
    return frame.style.format(escape="html").map(_status_css, subset=subset)


__all__ = [
    "BLOCKER_COLUMNS",
    "CORRECTION_COLUMNS",
    "LLM_CALL_COLUMNS",
    "STATUS_COLOURS",
    "TASK_COLUMNS",
    "TEST_CASE_COLUMNS",
    "TEST_RESULT_COLUMNS",
    "blockers_frame",
    "correction_attempts_frame",
    "llm_calls_frame",
    "style_status",
    "tasks_frame",
    "test_cases_frame",
    "test_results_frame",
]
