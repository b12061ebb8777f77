"""The database as pandas DataFrames: one function per table a user asks questions of.

Presentation only: the rows come from the database's read models
(:mod:`codeframe.persistence.read_models`), which own the queries and the decoding; this
module gives them their pinned columns and dtypes. These stay the same when a table is
empty, so notebook code can filter, group and plot without checking first: ids are
``<thing>_id``, statuses are ordered categoricals in enum order (so sorting follows the
lifecycle), timestamps are tz-aware UTC datetimes, task titles are joined in, and the index
is a plain RangeIndex. ``project_id=None`` means every project in the file.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd
from pandas.api.extensions import ExtensionDtype

from codeframe.core.models import BlockerSeverity, BlockerType, CaseOutcome, TaskStatus, TestStatus
from codeframe.persistence.read_models import ReadModels

if TYPE_CHECKING:  # pandas imports the Styler (and jinja2) only when asked for one
    from pandas.io.formats.style import Styler

TASK_STATUS = pd.CategoricalDtype([s.value for s in TaskStatus], ordered=True)
TEST_STATUS = pd.CategoricalDtype([s.value for s in TestStatus], ordered=True)
CASE_OUTCOME = pd.CategoricalDtype([s.value for s in CaseOutcome], ordered=True)
SEVERITY = pd.CategoricalDtype([s.value for s in BlockerSeverity], ordered=True)
BLOCKER_TYPE = pd.CategoricalDtype([s.value for s in BlockerType], ordered=True)
UTC = pd.DatetimeTZDtype("ns", "UTC")
TEXT = pd.StringDtype()
INT = "int64"
MAYBE_INT = "Int64"  # nullable: a NULL stays <NA> instead of turning the column to float
FLOAT = "float64"
OBJECT = "object"  # lists (depends_on, files)

Dtype = str | ExtensionDtype
Columns = Sequence[tuple[str, Dtype]]

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
    ("cost_usd", FLOAT),
    ("budget_usd", FLOAT),
    ("worker", TEXT),
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
    ("blocker_type", BLOCKER_TYPE),
    ("reason", TEXT),
    ("question", TEXT),
    ("resolution", TEXT),
    ("resolved_by", TEXT),
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
    ("input_tokens", MAYBE_INT),
    ("output_tokens", MAYBE_INT),
    ("cache_write_tokens", MAYBE_INT),
    ("cache_read_tokens", MAYBE_INT),
    ("cost_usd", FLOAT),
    ("latency_s", FLOAT),
    ("stop_reason", TEXT),
    ("error", TEXT),
    ("created_at", UTC),
)
COMMIT_COLUMNS: Columns = (
    ("commit_id", INT),
    ("task_id", INT),
    ("task_title", TEXT),
    ("sha", TEXT),
    ("branch", TEXT),
    ("files", OBJECT),
    ("insertions", INT),
    ("deletions", INT),
    ("merge_sha", TEXT),
    ("created_at", UTC),
)

# -- building ----------------------------------------------------------------------------


def _column(values: list[object], dtype: Dtype) -> pd.Series:
    if dtype is UTC:
        # Stored as ISO-8601 text ending in "Z"; format="ISO8601" takes any precision.
        parsed = pd.to_datetime(pd.Series(values, dtype=OBJECT), utc=True, format="ISO8601")
        return parsed.astype(UTC)
    return pd.Series(values, dtype=dtype)


def _frame(rows: Sequence[Mapping[str, object]], columns: Columns) -> pd.DataFrame:
    """A frame with exactly ``columns`` (and their dtypes), even when there are no rows."""
    data = {name: _column([row[name] for row in rows], dtype) for name, dtype in columns}
    return pd.DataFrame(data, columns=[name for name, _ in columns])


# -- the frames --------------------------------------------------------------------------


def tasks_frame(db: ReadModels, project_id: int | None = None) -> pd.DataFrame:
    """One row per task: status, agent, dependencies, attempts, last test status, tokens."""
    return _frame(db.task_rows(project_id), TASK_COLUMNS)


def test_results_frame(db: ReadModels, project_id: int | None = None) -> pd.DataFrame:
    """One row per test run; ``attempt`` is 0 for a first run, n after correction n."""
    return _frame(db.test_result_rows(project_id), TEST_RESULT_COLUMNS)


def correction_attempts_frame(db: ReadModels, project_id: int | None = None) -> pd.DataFrame:
    """One row per self-correction attempt, with the status of the test run after it."""
    return _frame(db.correction_attempt_rows(project_id), CORRECTION_COLUMNS)


def blockers_frame(db: ReadModels, project_id: int | None = None) -> pd.DataFrame:
    """Every blocker, resolved or not (``resolved_at`` is NaT while it is open)."""
    return _frame(db.blocker_rows(project_id), BLOCKER_COLUMNS)


def test_cases_frame(db: ReadModels, project_id: int | None = None) -> pd.DataFrame:
    """One row per test per run: which test failed on which attempt is a filter away."""
    return _frame(db.test_case_rows(project_id), TEST_CASE_COLUMNS)


def llm_calls_frame(db: ReadModels, project_id: int | None = None) -> pd.DataFrame:
    """One row per Claude call: tokens, latency and errors (the prompts stay in the db)."""
    return _frame(db.llm_call_rows(project_id), LLM_CALL_COLUMNS)


def commits_frame(db: ReadModels, project_id: int | None = None) -> pd.DataFrame:
    """One row per task commit: its sha, branch, files and size, and the merge that took it in."""
    return _frame(db.commit_rows(project_id), COMMIT_COLUMNS)


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


def style_status(frame: pd.DataFrame) -> Styler:
    """A ``Styler`` that colours the frame's status cells (needs jinja2, as pandas does).

    Cells are HTML-escaped: titles, errors and blocker reasons come from the model, and a
    ``Styler``, unlike a plain frame, renders them raw unless told otherwise.
    """
    subset: list[Hashable] = [name for name in STATUS_COLUMNS if name in frame.columns]
    return frame.style.format(escape="html").map(_status_css, subset=subset)


__all__ = [
    "BLOCKER_COLUMNS",
    "COMMIT_COLUMNS",
    "CORRECTION_COLUMNS",
    "LLM_CALL_COLUMNS",
    "STATUS_COLOURS",
    "TASK_COLUMNS",
    "TEST_CASE_COLUMNS",
    "TEST_RESULT_COLUMNS",
    "blockers_frame",
    "commits_frame",
    "correction_attempts_frame",
    "llm_calls_frame",
    "style_status",
    "tasks_frame",
    "test_cases_frame",
    "test_results_frame",
]
