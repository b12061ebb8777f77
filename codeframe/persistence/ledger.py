"""What happened to a task: test runs and their cases, and correction attempts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from codeframe.core.models import TestCase, utc_now
from codeframe.errors import InvalidInputError
from codeframe.persistence.codec import (
    _TEST_STATUSES,
    Row,
    _case_values,
    _choice,
    _correction_row,
    _int_in,
    _to_json,
)
from codeframe.persistence.store import Store
from codeframe.redaction import clean_text


class LedgerMixin(Store):
    """Record and read test results and correction attempts."""

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
            # Test output can quote a test's environment: masked here as well as at its source.
            None
            if output is None
            else clean_text(output if isinstance(output, str) else _to_json(output)),
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
                    task_id, number, clean_text(error_analysis or ""),
                    clean_text(fix_description or ""), changes, fmt, test_result_id, utc_now(),
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
