"""Turn how a pytest process ended, its JUnit report and its output into a TestResult.

The dividing line is who can fix it: anything the project's code caused (a failing or
erroring test, a broken conftest, a test that killed pytest's parent) is a result the model
can correct; a run that could not happen (no interpreter, no pytest, an unusable plugin,
an unreadable report) carries ``runner_error`` so the worker does not ask the model to mend
the environment.

A pytest that died without its report is told apart by its progress notes
(:mod:`codeframe.testing.progress`): if it had reached the project's conftest files (every
plugin loaded by then) and never returned, the project's code ended it (``os._exit``, a
segfault, a signal) and the result is an ``error`` naming the test that was running, with
the outcomes of the tests before it; otherwise it is a runner error.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path

from codeframe.core.models import CaseOutcome, TestCase, TestResult, TestStatus
from codeframe.errors import JUnitFormatError
from codeframe.testing.junit import last_error_line, parse_junit_xml
from codeframe.testing.progress import Progress, read_progress
from codeframe.testing.supervision import RunEnd

_HEAD_LINES = 5
_USAGE_ERROR = 4
_STATUS_BY_EXIT = {
    0: TestStatus.PASSED.value,
    1: TestStatus.FAILED.value,
    2: TestStatus.ERROR.value,  # interrupted, e.g. by collection errors
    3: TestStatus.ERROR.value,  # internal error
    _USAGE_ERROR: TestStatus.ERROR.value,
    5: TestStatus.NO_TESTS.value,
}
_NO_PYTEST = re.compile(r"No module named '?pytest'?\s*$", re.MULTILINE)
_CONFTEST_FAILURE = re.compile(r"ImportError while loading conftest '([^']+)'")


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a result's wording needs to know about the run."""

    python: str
    project_root: Path
    timeout: float | None


def timed_out(context: RunContext, output: str) -> TestResult:
    note = (
        f"[codeframe: pytest timed out after {context.timeout:g} s; "
        "every process it started was killed]"
    )
    return TestResult(
        status=TestStatus.TIMEOUT.value, output=f"{output}\n{note}" if output else note
    )


def interpret(
    context: RunContext, end: RunEnd, report: Path, progress_file: Path, output: str
) -> TestResult:
    """The result of a run that was not stopped by its timeout."""
    if end.exec_error is not None:
        return _runner_error(f"cannot start {context.python}: {end.exec_error}", output)
    progress = read_progress(progress_file)
    if end.parent_signal is not None:
        # Only a test (or what it started) signals pytest's parent: project code.
        how = f"a test sent {_signal_name(end.parent_signal)} to pytest's parent process"
        return _crashed(progress, how, output)
    if end.exit_code is not None:
        returncode = end.exit_code
    elif end.signal is not None:
        returncode = -end.signal
    elif end.stopped is not None:
        return _runner_error(f"the test run was stopped early ({end.stopped})", output)
    else:
        return _runner_error(
            end.lost or "the test supervisor could not say how pytest ended", output
        )
    if not report.exists() and progress.returned is None and progress.project_code_ran:
        # pytest did not return: something in the project's code ended its process.
        how = (
            f"killed by {_signal_name(-returncode)}"
            if returncode < 0
            else f"exit code {returncode}"
        )
        return _crashed(progress, how, output)
    return _read_report(context, returncode, report, output)


def _runner_error(reason: str, output: str) -> TestResult:
    return TestResult(
        status=TestStatus.ERROR.value,
        output=output or reason,
        runner_error=_with_head(reason, output),
    )


def _crashed(progress: Progress, how: str, output: str) -> TestResult:
    """pytest's process ended under the project's code: an error the model can correct."""
    culprit = progress.culprit
    message = f"the test process ended abruptly ({how}) while this ran; no report was written"
    cases = [case for case in progress.cases() if case.node_id != culprit]
    cases.append(TestCase(node_id=culprit, outcome=CaseOutcome.ERROR.value, message=message))
    outcomes = [case.outcome for case in cases]
    note = (
        f"[codeframe: pytest ended abruptly ({how}) while running {culprit}, before writing "
        "its report. A test or the code it runs ended the process (os._exit, a crash, a "
        "signal); tests must let pytest finish.]"
    )
    return TestResult(
        status=TestStatus.ERROR.value,
        passed=outcomes.count(CaseOutcome.PASSED.value),
        failed=outcomes.count(CaseOutcome.FAILED.value),
        errors=outcomes.count(CaseOutcome.ERROR.value),
        skipped=outcomes.count(CaseOutcome.SKIPPED.value),
        output=f"{output}\n{note}".lstrip(),
        cases=tuple(cases),
    )


def _read_report(context: RunContext, returncode: int, report: Path, output: str) -> TestResult:
    try:
        data = report.read_bytes()
    except FileNotFoundError:
        return _without_report(context, returncode, output)
    try:
        parsed = parse_junit_xml(data)
    except JUnitFormatError as exc:
        return TestResult(
            status=TestStatus.ERROR.value,
            output=output,
            runner_error=f"pytest wrote a report codeframe cannot read: {exc}",
        )
    status = _STATUS_BY_EXIT.get(returncode)
    runner_error = None
    if status is None:
        status = TestStatus.ERROR.value
        runner_error = f"pytest exited with unexpected code {returncode}"
    elif returncode == _USAGE_ERROR and not parsed.cases:
        # e.g. a test path that does not exist: no test code ran, so nothing to correct
        runner_error = _with_head("pytest reported a usage error (exit code 4)", output)
    return TestResult(
        status=status,
        passed=parsed.passed,
        failed=parsed.failed,
        errors=parsed.errors,
        skipped=parsed.skipped,
        output=output,
        cases=parsed.cases,
        runner_error=runner_error,
    )


def _without_report(context: RunContext, returncode: int, output: str) -> TestResult:
    conftest = _CONFTEST_FAILURE.search(output)
    if conftest is not None:
        # A broken conftest.py is project code the model can fix, so no runner_error.
        case = TestCase(
            node_id=_relative(context, conftest.group(1)),
            outcome=CaseOutcome.ERROR.value,
            message=last_error_line(output[conftest.end() :]),
        )
        return TestResult(status=TestStatus.ERROR.value, errors=1, output=output, cases=(case,))
    if _NO_PYTEST.search(output):
        reason = f"pytest is not installed for {context.python}"
    elif returncode < 0:
        reason = f"pytest was killed by {_signal_name(-returncode)} and wrote no report"
    else:
        reason = f"pytest exited with code {returncode} and wrote no report"
    return TestResult(
        status=TestStatus.ERROR.value, output=output, runner_error=_with_head(reason, output)
    )


def _relative(context: RunContext, path: str) -> str:
    try:
        return Path(path).relative_to(context.project_root.resolve()).as_posix()
    except ValueError:
        return path


def _with_head(reason: str, output: str) -> str:
    head = "\n".join(line for line in output.strip().splitlines()[:_HEAD_LINES])
    return f"{reason}:\n{head}" if head else reason


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


__all__ = ["RunContext", "interpret", "timed_out"]
