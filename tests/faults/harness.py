"""What every fault test shares: how many trials, which seeds, the tally of cases, processes.

``CODEFRAME_FAULT_TRIALS=N`` scales the suite: a test that costs ``cost`` units per seed runs
``max(default, N // cost)`` seeds (the default run keeps the small defaults).
``CODEFRAME_FAULT_SEED=S`` shifts every seed, so another run tries other cases, and a
failure is reproduced by naming its seed. ``CODEFRAME_FAULT_REPORT=path`` appends one JSON
line per test to ``path``: the cases tried, held and failed (``python -m tests.faults``
reads it to write ``docs/reliability.md``).

A *case* is one fault injected and the invariants checked after it. A test item runs the
cases of one seed, records each in its :class:`Tally`, and fails at the end if any case did
not hold, naming the cases and their problems.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from codeframe.testing.warm import POOL
from tests.faults.known import known_fault
from tests.testing.processes import descendants, is_alive, kill_quietly

TRIALS_VAR = "CODEFRAME_FAULT_TRIALS"
SEED_VAR = "CODEFRAME_FAULT_SEED"
REPORT_VAR = "CODEFRAME_FAULT_REPORT"

#: A fake key, in the shape of a real one: what leak checks look for. Never a real key.
FAKE_KEY = "sk-ant-api03-FAULTSUITE-not-a-real-key-0123456789abcdefABCDEF"


def seed_base() -> int:
    return int(os.environ.get(SEED_VAR, "0"))


def seeds(default: int, cost: int = 1) -> list[int]:
    """The seeds a test runs: ``default`` of them, more when ``CODEFRAME_FAULT_TRIALS`` asks."""
    wanted = os.environ.get(TRIALS_VAR)
    count = max(default, int(wanted) // cost) if wanted else default
    base = seed_base()
    return [base + index for index in range(count)]


def long_run() -> bool:
    """Whether this is the long run (``make faults``): sweeps try more cases per seed."""
    return bool(os.environ.get(TRIALS_VAR))


def rng_for(*parts: object) -> random.Random:
    """A generator seeded by ``parts`` (a test's name and seed, a case number...)."""
    return random.Random(":".join(str(part) for part in parts))


@dataclass
class CaseResult:
    case: str
    problems: list[str]
    known: str | None = None  # the known fault that explains the problems


@dataclass
class Tally:
    """The cases one test item tried, and what each found wrong (nothing, if it held)."""

    category: str
    test: str
    seed: int | None = None
    results: list[CaseResult] = field(default_factory=list)
    finished: bool = False
    #: How often something worth knowing happened (e.g. "a group half written"): coverage.
    notes: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def record(self, case: str, problems: Iterable[str]) -> None:
        found = list(problems)
        fault = known_fault(case, found)
        self.results.append(CaseResult(case, found, fault.name if fault else None))

    @property
    def failures(self) -> list[CaseResult]:
        return [result for result in self.results if result.problems and not result.known]

    @property
    def known(self) -> list[CaseResult]:
        return [result for result in self.results if result.known]

    def finish(self) -> None:
        """Write the report line and fail the test if any case did not hold."""
        self.finished = True
        self._write()
        failures = self.failures
        if failures:
            lines = [f"{len(failures)} of {len(self.results)} cases did not hold:"]
            for result in failures[:20]:
                lines.append(f"- {result.case}: " + "; ".join(result.problems)[:600])
            raise AssertionError("\n".join(lines))

    def abandon(self, why: str) -> None:
        """The test stopped before finishing its cases: reported as one failed case."""
        if not self.finished:
            self.finished = True
            self.results.append(CaseResult("(the test stopped early)", [why]))
            self._write()

    def _write(self) -> None:
        target = os.environ.get(REPORT_VAR)
        if not target:
            return
        line = {
            "category": self.category,
            "test": self.test,
            "seed": self.seed,
            "tried": len(self.results),
            "held": len(self.results) - len(self.failures) - len(self.known),
            "known": [{"case": result.case, "fault": result.known} for result in self.known],
            "notes": dict(self.notes),
            "seconds": round(time.monotonic() - self.started, 3),
            "failed": [
                {"case": result.case, "problems": result.problems[:5]} for result in self.failures
            ],
        }
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


# -- processes -----------------------------------------------------------------------------


def _cwd_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def processes_inside(folder: Path) -> list[int]:
    """Live processes (not us, not warm helpers) whose working folder is inside ``folder``.

    What a run started (pytest, the processes its tests start, a daemon that escaped) keeps
    the project as its working folder unless it moves away on purpose.
    """
    inside = os.path.realpath(folder)
    exempt = {os.getpid(), *POOL.live_pids()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exempt:
            continue
        cwd = _cwd_of(int(entry.name))
        within = cwd is not None and (cwd == inside or cwd.startswith(inside + os.sep))
        if within and is_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def stray_children(exempt: Iterable[int] = ()) -> list[int]:
    """Our live descendants other than warm helpers (and ``exempt``), and anything a warm
    helper still runs."""
    helpers = set(POOL.live_pids())
    skip = helpers | set(exempt)
    strays = [pid for pid in descendants(os.getpid()) if pid not in skip and is_alive(pid)]
    for helper in helpers:
        strays += [pid for pid in descendants(helper) if is_alive(pid)]
    return sorted(set(strays))


def recorded_pids(folder: Path) -> list[int]:
    """Pids that test code recorded in ``folder``: files named ``<pid>`` or ``<what>-<pid>``."""
    if not folder.is_dir():
        return []
    names = (entry.name.rsplit("-", 1)[-1] for entry in folder.iterdir())
    return [int(name) for name in names if name.isdigit()]


def leftovers_now(
    folder: Path, pid_folder: Path | None = None, exempt: Iterable[int] = ()
) -> list[str]:
    """What a trial left running: processes its tests recorded, processes working in its
    folder, and child processes of ours (warm helpers and ``exempt`` aside)."""
    recorded = [pid for pid in recorded_pids(pid_folder) if is_alive(pid)] if pid_folder else []
    found = {
        "processes a test started": recorded,
        "processes working in the trial folder": processes_inside(folder),
        "child processes of ours": stray_children(exempt),
    }
    return [f"{what} still alive: {pids}" for what, pids in found.items() if pids]


def leftovers(folder: Path, pid_folder: Path | None = None, within: float = 5.0) -> list[str]:
    """:func:`leftovers_now`, after waiting up to ``within`` seconds for them to go.

    Processes die a moment after their run ends (a supervisor sees its parent go, a signal
    is delivered), so the check is retried until the deadline before it counts.
    """
    deadline = time.monotonic() + within
    while True:
        problems = leftovers_now(folder, pid_folder)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.05)


async def leftovers_async(
    folder: Path, pid_folder: Path | None = None, within: float = 5.0, exempt: Iterable[int] = ()
) -> list[str]:
    """:func:`leftovers` for a coroutine: it waits with ``asyncio.sleep``."""
    deadline = time.monotonic() + within
    while True:
        problems = leftovers_now(folder, pid_folder, exempt)
        if not problems or time.monotonic() > deadline:
            return problems
        await asyncio.sleep(0.05)


def kill_leftovers(folder: Path) -> None:
    """Test hygiene after a failed check: nothing a trial started may outlive the test.

    Only processes still working in the trial's folder are killed: a recorded pid may have
    been reused by another process since.
    """
    kill_quietly(pid for pid in processes_inside(folder) if pid != os.getpid())


def env_without_keys(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment for a child interpreter: no Claude key, no other credential."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ANTHROPIC_")
        and not name.endswith(("_API_KEY", "_TOKEN", "_SECRET"))
    }
    env.update(extra or {})
    return env


def describe(exc: BaseException) -> str:
    """An exception in one line, for a case's problems."""
    return f"{type(exc).__name__}: {exc}"[:400]
