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


#: Empty: every fault the suite found so far is fixed, and its test stays as a regression
#: test (interrupts at start_run and finish_run, a retry lost to an interrupt or a kill, a
#: key kept from a refused correction reply, raw errors from a damaged database, a test's
#: SIGINT to pytest's parent taken for a runner failure).
KNOWN_FAULTS: tuple[KnownFault, ...] = ()


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
