"""Faults the suite found in codeframe and that are not fixed yet.

Each has a test of its own marked ``xfail(strict=True)`` (named in ``test``): when the
fault is fixed that test passes, fails as an unexpected pass, and its entry here goes. In
the sweeps, a case whose every problem is this fault's (its name matches ``case`` and each
problem matches ``problem``) is counted as *known* rather than failed, so the default run
stays green while the figures still show how often the fault is hit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownFault:
    name: str
    reason: str
    case: re.Pattern[str]
    problem: re.Pattern[str]
    test: str

    def explains(self, case: str, problems: Sequence[str]) -> bool:
        return bool(
            problems
            and self.case.search(case)
            and all(self.problem.search(problem) for problem in problems)
        )


KNOWN_FAULTS = (
    KnownFault(
        name="interrupt after start_run",
        reason="an interrupt between start_run and the run's try/finally leaves the run row "
        "open: the project stays locked in this process",
        case=re.compile(r"\(start_run\) interrupt-after"),
        problem=re.compile(r"^run \d+ \(pid \d+\) was never closed$"),
        test="tests/faults/test_cancels.py::test_an_interrupt_right_after_the_run_row_is_written",
    ),
    KnownFault(
        name="interrupt in finish_run",
        reason="an interrupt as finish_run starts leaves the run row open: the project stays "
        "locked in this process",
        case=re.compile(r"\(finish_run\) interrupt$|\(finish_run\) interrupt \(panel\)$"),
        problem=re.compile(r"^run \d+ \(pid \d+\) was never closed$"),
        test="tests/faults/test_cancels.py::test_an_interrupt_as_the_run_row_is_closed",
    ),
    KnownFault(
        name="interrupt or kill loses a retry",
        reason="an interrupt or a kill between writing a retryable failure and requeueing it "
        "leaves the task failed for good: its retry is lost",
        case=re.compile(r"\(write_status\) interrupt|^kill after event"),
        problem=re.compile(
            r"^task \d+ is failed \(ConnectionResetError"
            r"|^task \d+ is blocked \(Depends on task #\d+ .*which ended failed\)"
            r"|^t\d+'s files are in state 'before'$"
            r"|^the recovery run's summary: .*'failed': [1-9]"
        ),
        test="tests/faults/test_cancels.py::test_an_interrupt_as_a_retryable_failure_is_written "
        "and tests/faults/test_killed_runs.py::test_a_kill_after_a_retryable_failure_is_written",
    ),
    KnownFault(
        name="key in a refused correction reply",
        reason="a correction reply refused as unusable that quotes the key is stored unredacted "
        "in correction_attempts.fix_description and sent back in the next correction prompt",
        case=re.compile(r"^the key in prose in a correction$"),
        problem=re.compile(r"^the key is stored in the database$|^the key was sent in a prompt$"),
        test="tests/faults/test_bad_replies.py::test_a_refused_correction_reply_never_keeps_the_key",
    ),
    KnownFault(
        name="raw errors from a damaged database",
        reason="a damaged database that still opens raises raw sqlite3 or Unicode errors from "
        "reads (malformed page, text that is not UTF-8), not a CodeframeError naming the file",
        case=re.compile(r"^(truncated|bytes overwritten) "),
        problem=re.compile(
            r"^not a clear error: (OperationalError: Could not decode to UTF-8"
            r"|DatabaseError: database disk image is malformed|UnicodeDecodeError)"
        ),
        test="tests/faults/test_bad_databases.py::test_a_damaged_database_never_raises_raw_errors",
    ),
    KnownFault(
        name="SIGINT to pytest's parent",
        reason="a test that sends SIGINT to pytest's parent (the supervisor) is taken for a "
        'runner failure ("pytest\'s parent process ended (code 70)"), so its task fails with '
        "no correction; SIGTERM, SIGHUP and SIGKILL are the test's doing, as they should be",
        case=re.compile(r"^a test that kills its parent \(SIGINT"),
        problem=re.compile(
            r"^the run's summary: .*'failed': 1"
            r"|^task \d+ is failed \(RunnerUnavailableError: the tests could not run: "
            r"pytest's parent process ended"
            r"|^test runs \[\], the first should be one of"
        ),
        test="tests/faults/test_misbehaving_tests.py::"
        "test_a_test_that_interrupts_its_parent_is_the_tests_doing",
    ),
)


def known_fault(case: str, problems: Sequence[str]) -> KnownFault | None:
    """The known fault that explains all of a case's problems, if one does."""
    for fault in KNOWN_FAULTS:
        if fault.explains(case, problems):
            return fault
    return None


class FaultStillPresent(AssertionError):
    """Raised by a known fault's own test when the fault shows: its ``xfail(raises=...)``."""


def assert_fixed(problems: Sequence[str]) -> None:
    """The last check of a known fault's test: it passes once the fault is fixed."""
    if problems:
        raise FaultStillPresent("; ".join(problems))


def by_name(name: str) -> KnownFault:
    return next(fault for fault in KNOWN_FAULTS if fault.name == name)
