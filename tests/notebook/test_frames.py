"""The DataFrame functions: pinned columns and dtypes, joins, filters, empty tables."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from codeframe.core.models import TestCase
from codeframe.notebook import frames
from codeframe.persistence import read_models
from codeframe.persistence.database import Database

# SPEC §7.8, written out here so a change to the module cannot silently change the contract.
COLUMNS = {
    "tasks_frame": [
        "task_id", "title", "status", "assigned_to", "depends_on", "priority", "workflow_step",
        "attempts", "last_test_status", "actual_tokens", "cost_usd", "budget_usd", "worker",
        "error", "created_at", "completed_at",
    ],
    "test_results_frame": [
        "test_result_id", "task_id", "task_title", "attempt", "status", "passed", "failed",
        "errors", "skipped", "total", "duration_s", "created_at", "output",
    ],
    "correction_attempts_frame": [
        "attempt_id", "task_id", "task_title", "attempt_number", "error_analysis",
        "fix_description", "files", "test_result_id", "test_status", "created_at",
    ],
    "blockers_frame": [
        "blocker_id", "task_id", "task_title", "severity", "blocker_type", "reason",
        "question", "resolution", "resolved_by", "created_at", "resolved_at",
    ],
    "test_cases_frame": [
        "test_case_id", "test_result_id", "task_id", "task_title", "attempt", "node_id",
        "outcome", "message", "duration_s",
    ],
    "llm_calls_frame": [
        "call_id", "task_id", "task_title", "agent_id", "attempt", "model", "input_tokens",
        "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd", "latency_s",
        "stop_reason", "error", "created_at",
    ],
}  # fmt: skip

TIME_COLUMNS = {
    "tasks_frame": ["created_at", "completed_at"],
    "test_results_frame": ["created_at"],
    "correction_attempts_frame": ["created_at"],
    "blockers_frame": ["created_at", "resolved_at"],
    "test_cases_frame": [],
    "llm_calls_frame": ["created_at"],
}

CATEGORIES = {
    ("tasks_frame", "status"): [
        "pending", "assigned", "in_progress", "blocked", "completed", "failed", "cancelled",
    ],
    ("tasks_frame", "last_test_status"): ["passed", "failed", "error", "timeout", "no_tests"],
    ("test_results_frame", "status"): ["passed", "failed", "error", "timeout", "no_tests"],
    ("correction_attempts_frame", "test_status"): [
        "passed", "failed", "error", "timeout", "no_tests",
    ],
    ("blockers_frame", "severity"): ["sync", "async"],
    ("test_cases_frame", "outcome"): ["passed", "failed", "error", "skipped"],
}  # fmt: skip


def frame_of(name: str, db: Database, project_id: int | None = None) -> pd.DataFrame:
    return getattr(frames, name)(db, project_id)


@pytest.fixture
def empty(tmp_path: Path):
    database = Database(tmp_path / "empty.db")
    yield database
    database.close()


@pytest.fixture
def db(tmp_path: Path):
    """Two projects; the first with a task that self-corrected, one blocked, one answered."""
    database = Database(tmp_path / "frames.db")
    yield database
    database.close()


@pytest.fixture
def ids(db: Database) -> dict[str, int]:
    first = db.create_project("shop")
    other = db.create_project("other")
    fix, export, after = db.create_tasks(first, [
        {"title": "Fix ISBN check", "task_number": "1", "priority": 1},
        {"title": "Export CSV", "task_number": "2", "depends_on": ["1"], "workflow_step": 2},
        {"title": "Export button", "task_number": "3", "depends_on": ["2"]},
    ])  # fmt: skip
    lone = db.create_task(other, "Other project's task")
    failed_run = db.create_test_result(
        fix, "failed", passed=3, failed=1, duration=0.5, output="1 failed",
        cases=[TestCase("tests/test_isbn.py::test_zero", "failed", "assert 10 == 0", 0.01),
               TestCase("tests/test_isbn.py::test_one", "passed", "", 0.02)],
    )  # fmt: skip
    fixed_run = db.create_test_result(
        fix, "passed", passed=4, skipped=1, duration=0.4, attempt=1,
        cases=[TestCase("tests/test_isbn.py::test_zero", "passed")],
    )  # fmt: skip
    db.create_correction_attempt(
        fix,
        1,
        "test_zero failed",
        "take the sum modulo 10",
        [{"path": "bookshelf/isbn.py", "action": "modify", "content": "..."}],
        test_result_id=fixed_run,
    )
    db.update_task(fix, {"status": "completed", "assigned_to": "backend-1"})
    db.add_task_tokens(fix, 1350)
    db.update_task(export, {"status": "blocked", "error": "3 attempts"})
    db.create_blocker(export, "sync", "tests still failing", "Decimal prices?")
    answered = db.create_blocker(after, "async", "depends on #2", "resolve #2")
    db.resolve_blocker(answered, "run it after the export")
    db.record_llm_call(
        task_id=fix, agent_id="backend-1", attempt=1, model="claude-x", request={"system": ""},
        reply_text="{}", stop_reason="tool_use", input_tokens=900, output_tokens=450,
        latency_s=0.25,
    )  # fmt: skip
    db.record_llm_call(
        task_id=None, agent_id=None, attempt=0, model="claude-x", request={}, reply_text=None,
        stop_reason=None, input_tokens=0, output_tokens=0, latency_s=0.0, error="boom",
    )  # fmt: skip
    return {
        "first": first, "other": other, "fix": fix, "export": export, "after": after,
        "lone": lone, "failed_run": failed_run, "fixed_run": fixed_run,
    }  # fmt: skip


# -- shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", COLUMNS)
def test_columns_and_dtypes_are_the_same_empty_or_full(name, db, ids, empty):
    full, none = frame_of(name, db), frame_of(name, empty)
    assert list(full.columns) == COLUMNS[name]
    assert list(none.columns) == COLUMNS[name]
    assert len(none) == 0 and len(full) > 0
    assert full.dtypes.to_dict() == none.dtypes.to_dict()
    assert isinstance(full.index, pd.RangeIndex) and isinstance(none.index, pd.RangeIndex)
    assert full.index.start == 0


@pytest.mark.parametrize("name", COLUMNS)
def test_ids_are_integers_and_timestamps_are_utc(name, db, ids):
    full = frame_of(name, db)
    for column in full.columns:
        if column.endswith("_id") and column not in ("agent_id", "node_id"):
            assert pd.api.types.is_integer_dtype(full[column]), column
    for column in TIME_COLUMNS[name]:
        dtype = full[column].dtype
        assert isinstance(dtype, pd.DatetimeTZDtype), column
        assert str(dtype.tz) == "UTC", column


@pytest.mark.parametrize(("name", "column"), CATEGORIES)
def test_statuses_are_ordered_categoricals_in_enum_order(name, column, db, ids, empty):
    for frame in (frame_of(name, db), frame_of(name, empty)):
        dtype = frame[column].dtype
        assert isinstance(dtype, pd.CategoricalDtype)
        assert dtype.ordered
        assert list(dtype.categories) == CATEGORIES[(name, column)]


# -- content -------------------------------------------------------------------------------


def test_tasks_frame_reads_statuses_attempts_and_last_test(db, ids):
    tasks = frames.tasks_frame(db, ids["first"]).set_index("task_id")
    assert list(tasks.index) == [ids["fix"], ids["export"], ids["after"]]
    fix = tasks.loc[ids["fix"]]
    assert (fix["status"], fix["assigned_to"], fix["attempts"]) == ("completed", "backend-1", 1)
    assert fix["last_test_status"] == "passed"  # the run after the fix, not the first
    assert fix["actual_tokens"] == 1350
    assert fix["completed_at"] >= fix["created_at"]
    export = tasks.loc[ids["export"]]
    assert export["depends_on"] == [ids["fix"]]
    assert export["workflow_step"] == 2
    assert export["error"] == "3 attempts"
    assert pd.isna(export["last_test_status"]) and pd.isna(export["completed_at"])
    assert pd.isna(export["actual_tokens"])
    # Ordered categoricals sort and compare along the lifecycle, not alphabetically.
    assert tasks["status"].max() == "completed"
    assert tasks.sort_values("status")["status"].tolist() == ["pending", "blocked", "completed"]


def test_timestamps_are_the_stored_utc_instants(db, ids):
    stored = db.get_task(ids["fix"])["created_at"]
    shown = frames.tasks_frame(db, ids["first"])["created_at"].iloc[0]
    assert shown == pd.Timestamp(stored)
    assert shown.tzinfo is not None and shown.utcoffset().total_seconds() == 0


def test_test_results_have_titles_attempts_and_totals(db, ids):
    runs = frames.test_results_frame(db, ids["first"])
    assert runs["test_result_id"].tolist() == [ids["failed_run"], ids["fixed_run"]]
    assert runs["task_title"].tolist() == ["Fix ISBN check", "Fix ISBN check"]
    assert runs["attempt"].tolist() == [0, 1]
    assert runs["status"].tolist() == ["failed", "passed"]
    assert runs["total"].tolist() == [4, 5]
    assert runs["duration_s"].tolist() == [0.5, 0.4]
    assert runs["output"].iloc[0] == "1 failed"


def test_correction_attempts_list_files_and_the_run_after_the_fix(db, ids):
    (row,) = frames.correction_attempts_frame(db).to_dict("records")
    assert row["task_title"] == "Fix ISBN check"
    assert row["attempt_number"] == 1
    assert row["files"] == ["bookshelf/isbn.py"]
    assert row["test_result_id"] == ids["fixed_run"]
    assert row["test_status"] == "passed"
    assert row["fix_description"] == "take the sum modulo 10"


def test_blockers_show_resolution_and_open_ones_have_no_resolved_time(db, ids):
    blockers = frames.blockers_frame(db, ids["first"])
    assert blockers["task_title"].tolist() == ["Export CSV", "Export button"]
    assert blockers["severity"].tolist() == ["sync", "async"]
    assert blockers["question"].tolist() == ["Decimal prices?", "resolve #2"]
    assert pd.isna(blockers["resolution"].iloc[0]) and pd.isna(blockers["resolved_at"].iloc[0])
    assert blockers["resolution"].iloc[1] == "run it after the export"
    assert blockers["resolved_at"].iloc[1] >= blockers["created_at"].iloc[1]


def test_test_cases_say_which_test_failed_on_which_attempt(db, ids):
    cases = frames.test_cases_frame(db, ids["first"])
    failing = cases[cases["outcome"] == "failed"]
    assert failing[["node_id", "attempt", "message"]].values.tolist() == [
        ["tests/test_isbn.py::test_zero", 0, "assert 10 == 0"]
    ]
    assert cases["task_id"].unique().tolist() == [ids["fix"]]
    assert cases["task_title"].unique().tolist() == ["Fix ISBN check"]


def test_llm_calls_keep_calls_without_a_task_only_in_the_all_projects_view(db, ids):
    everything = frames.llm_calls_frame(db)
    assert len(everything) == 2
    assert pd.isna(everything["task_id"].iloc[1]) and everything["error"].iloc[1] == "boom"
    (call,) = frames.llm_calls_frame(db, ids["first"]).to_dict("records")
    assert (call["task_title"], call["agent_id"], call["attempt"]) == (
        "Fix ISBN check", "backend-1", 1,
    )  # fmt: skip
    assert (call["input_tokens"], call["output_tokens"], call["latency_s"]) == (900, 450, 0.25)


def test_project_id_filters_and_none_means_every_project(db, ids):
    assert frames.tasks_frame(db, ids["other"])["title"].tolist() == ["Other project's task"]
    assert len(frames.tasks_frame(db)) == 4
    assert frames.test_results_frame(db, ids["other"]).empty
    assert frames.blockers_frame(db, 999).empty


# -- colour --------------------------------------------------------------------------------


def test_style_status_colours_only_status_cells(db, ids):
    pytest.importorskip("jinja2")  # pandas' Styler needs it
    tasks = frames.tasks_frame(db)
    html = frames.style_status(tasks).to_html()
    css = html.split("</style>", 1)[0]
    assert f"background-color: {frames.STATUS_COLOURS['completed']}" in css
    assert f"background-color: {frames.STATUS_COLOURS['blocked']}" in css
    coloured = {(int(r), int(c)) for r, c in re.findall(r"_row(\d+)_col(\d+)", css)}
    status, last_test = tasks.columns.get_loc("status"), tasks.columns.get_loc("last_test_status")
    # completed + its passed last run, blocked; pending cells stay plain.
    assert coloured == {(0, status), (0, last_test), (1, status)}


def test_style_status_escapes_what_the_model_wrote(db, ids):
    pytest.importorskip("jinja2")
    payload = "<img src=x onerror=alert(document.domain)>"
    db.create_task(ids["other"], payload)
    html = frames.style_status(frames.tasks_frame(db, ids["other"])).to_html()
    assert payload not in html
    assert "&lt;img src=x onerror=alert(document.domain)&gt;" in html


# -- presentation only -------------------------------------------------------------------------

ROW_TYPES = {
    "tasks_frame": read_models.TaskRow,
    "test_results_frame": read_models.TestResultRow,
    "correction_attempts_frame": read_models.CorrectionAttemptRow,
    "blockers_frame": read_models.BlockerRow,
    "test_cases_frame": read_models.TestCaseRow,
    "llm_calls_frame": read_models.LlmCallRow,
}


@pytest.mark.parametrize("name", COLUMNS)
def test_each_frame_shows_exactly_its_read_models_keys(name):
    assert list(ROW_TYPES[name].__annotations__) == COLUMNS[name]


class OneTaskSource:
    """A read-model source without a database: the frames need nothing else."""

    def __init__(self) -> None:
        self.asked: list[int | None] = []

    def task_rows(self, project_id: int | None = None) -> list[read_models.TaskRow]:
        self.asked.append(project_id)
        return [
            {
                "task_id": 7, "title": "t", "status": "in_progress", "assigned_to": None,
                "depends_on": [3], "priority": 0, "workflow_step": 2, "attempts": 2,
                "last_test_status": "failed", "actual_tokens": None, "cost_usd": 0.0,
                "budget_usd": None, "worker": None, "error": None,
                "created_at": "2025-11-08T14:30:45.123456Z", "completed_at": None,
            }
        ]  # fmt: skip

    def test_result_rows(self, project_id=None):
        return []

    def correction_attempt_rows(self, project_id=None):
        return []

    def blocker_rows(self, project_id=None):
        return []

    def test_case_rows(self, project_id=None):
        return []

    def llm_call_rows(self, project_id=None):
        return []

    def panel_overview(self, project_id):
        return {"tasks": [], "blockers": []}


def test_frames_only_type_the_rows_a_read_model_source_hands_them(empty):
    source = OneTaskSource()
    frame = frames.tasks_frame(source, 5)
    assert source.asked == [5]
    assert frame.dtypes.to_dict() == frames.tasks_frame(empty).dtypes.to_dict()
    (row,) = frame.to_dict("records")
    assert (row["task_id"], row["status"], row["depends_on"], row["attempts"]) == (
        7, "in_progress", [3], 2,
    )  # fmt: skip
    assert row["created_at"] == pd.Timestamp("2025-11-08T14:30:45.123456", tz="UTC")
    assert pd.isna(row["actual_tokens"]) and pd.isna(row["completed_at"])
    assert pd.isna(row["assigned_to"])
    assert frames.blockers_frame(source).empty
