"""The self-correction loop: show Claude the failing run, apply its fix, test again, up to 3 times.

It works on the :class:`~codeframe.core.models.TestResult` objects the runs produced, in
memory; the database is written (a ``correction_attempts`` row per attempt), never read back.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codeframe.agents import prompts
from codeframe.agents.context import files_in_play
from codeframe.core.file_changes import normalise_path
from codeframe.core.models import TestCase, TestResult
from codeframe.errors import FileChangeError, InvalidInputError, ResponseFormatError
from codeframe.persistence.retry import retry_when_busy
from codeframe.redaction import clean_text
from codeframe.ui.events import CorrectionAttemptUpdate

if TYPE_CHECKING:
    from codeframe.agents.seams import WorkerStore
    from codeframe.agents.worker_agent import WorkerAgent

logger = logging.getLogger(__name__)

MAX_CORRECTION_ATTEMPTS = 3
_SUMMARY_CASES = 5


@dataclass(frozen=True, slots=True)
class RecordedRun:
    """A test run and the ``test_results`` row it produced."""

    test_result_id: int
    result: TestResult


def stored_run(db: WorkerStore, task: Mapping[str, Any], test_result_id: int) -> RecordedRun:
    """A recorded run read back, for the seed's entry points called on their own."""
    row = db.get_test_result(test_result_id)
    if row is None or row["task_id"] != task["id"]:
        raise InvalidInputError(
            f"test result {test_result_id} does not belong to task {task['id']}"
        )
    cases = tuple(
        TestCase(c["node_id"], c["outcome"], c.get("message") or "", c.get("duration") or 0.0)
        for c in db.get_test_cases(test_result_id)
    )
    result = TestResult(
        row["status"],
        passed=row["passed"],
        failed=row["failed"],
        errors=row["errors"],
        skipped=row["skipped"],
        duration=row["duration"],
        output=row.get("output") or "",
        cases=cases,
    )
    return RecordedRun(test_result_id, result)


def run_line(attempt: int, result: TestResult) -> str:
    """One line of a task's output per test run."""
    label = "tests" if attempt == 0 else f"tests after correction {attempt}"
    return (
        f"{label}: {result.status} — {result.passed} passed, {result.failed} failed, "
        f"{result.errors} errors, {result.skipped} skipped in {result.duration:.2f}s"
    )


def failure_summary(result: TestResult) -> str:
    """One paragraph naming the failing tests, for the ledger and the blocker."""
    head = (
        f"{result.status}: {result.failed} failed, {result.errors} errors, {result.passed} passed"
    )
    bad = [case for case in result.cases if case.outcome in ("failed", "error")]
    if not bad:
        return head
    named = "; ".join(
        f"{case.node_id} — {(case.message or case.outcome)[:160]}" for case in bad[:_SUMMARY_CASES]
    )
    more = f" (+{len(bad) - _SUMMARY_CASES} more)" if len(bad) > _SUMMARY_CASES else ""
    return f"{head}. {named}{more}"


_NO_FIX = "no fix applied: "


def _refusal(fix_description: str) -> str | None:
    """Why an attempt's reply could not be used, if it could not."""
    return fix_description.removeprefix(_NO_FIX) if fix_description.startswith(_NO_FIX) else None


async def correction_loop(
    worker: WorkerAgent, task: Mapping[str, Any], failing: RecordedRun
) -> bool:
    """Up to three attempts to make failing tests pass; True when one succeeds."""
    task_id = int(task["id"])
    project_id = worker.project_id
    refused: str | None = None  # why the last reply could not be used, for the next prompt
    for attempt in range(1, MAX_CORRECTION_ATTEMPTS + 1):
        await worker.emit(
            CorrectionAttemptUpdate(
                project_id, task_id, attempt, MAX_CORRECTION_ATTEMPTS, "in_progress"
            )
        )
        fix = await worker._attempt_self_correction(
            task, failing.test_result_id, attempt, failing=failing.result, refused=refused
        )
        refused = _refusal(fix["fix_description"])
        rerun = await worker._run_and_record_tests(task_id, attempt=attempt)
        record = functools.partial(
            worker.db.create_correction_attempt,
            task_id,
            attempt,
            fix["error_analysis"],
            fix["fix_description"],
            fix["code_changes"],
            test_result_id=rerun.test_result_id,
        )
        await retry_when_busy(record)
        mended = not rerun.result.is_failure
        await worker.emit(
            CorrectionAttemptUpdate(
                project_id,
                task_id,
                attempt,
                MAX_CORRECTION_ATTEMPTS,
                "success" if mended else "failed",
                None if mended else fix["error_analysis"][:300],
            )
        )
        if mended:
            return True
        failing = rerun
    return False


async def attempt_correction(
    worker: WorkerAgent,
    task: Mapping[str, Any],
    failing: TestResult,
    attempt: int,
    *,
    refused: str | None = None,
) -> dict[str, Any]:
    """Show Claude the failure and the files in play, apply its fix; API errors propagate.

    An unusable reply or an unsafe path still uses up the attempt: it is recorded with
    ``no fix applied`` so the ledger shows what happened.
    """
    task_id = int(task["id"])
    execution = worker.current_execution(task)
    analysis = failure_summary(failing)
    shown = files_in_play(execution.files_modified, failing.cases)
    prompt = prompts.correction_prompt(
        task,
        attempt=attempt,
        max_attempts=MAX_CORRECTION_ATTEMPTS,
        test_status=failing.status,
        failure_output=failing.output,
        files=prompts.read_files_in_play(execution.workspace.root, shown),
        refused=refused,
    )
    try:
        changes = await worker._ask(prompt, task_id, attempt=attempt)
        written = worker.apply_file_changes(changes["files"])
    except (ResponseFormatError, FileChangeError) as exc:
        logger.info("task %s correction %d unusable: %s", task_id, attempt, exc)
        # The refusal may quote the reply, which is model output: masked before it is stored
        # or sent back in the next prompt.
        why = clean_text(f"{type(exc).__name__}: {exc}", (worker.api_key,))
        return {
            "error_analysis": analysis,
            "fix_description": f"{_NO_FIX}{why}",
            "code_changes": [],
        }
    execution.note_files([normalise_path(p).as_posix() for p in written])
    await worker._activity(
        "correction_applied",
        f"correction {attempt} changed {', '.join(written) or 'no files'}",
        task_id,
    )
    return {
        "error_analysis": analysis,
        "fix_description": changes.get("explanation", ""),
        "code_changes": [dict(f) for f in changes["files"]],
    }


__all__ = [
    "MAX_CORRECTION_ATTEMPTS",
    "RecordedRun",
    "attempt_correction",
    "correction_loop",
    "failure_summary",
    "run_line",
    "stored_run",
]
