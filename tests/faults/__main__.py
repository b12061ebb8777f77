"""``python -m tests.faults``: the long fault-injection run, and ``docs/reliability.md`` from it.

Runs ``pytest tests/faults`` with ``CODEFRAME_FAULT_TRIALS`` (thousands of cases in all),
collects every test's tally from ``CODEFRAME_FAULT_REPORT``, and writes the page: per
category the cases tried, held, failed (each failure with the seed that reproduces it) and
known faults hit, with the command, the date, the machine and its load. ``make faults``
runs it; ``--trials`` and ``--seed`` change the size and the cases.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.faults.harness import REPORT_VAR, SEED_VAR, TRIALS_VAR, env_without_keys
from tests.faults.known import KNOWN_FAULTS

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TRIALS = 150
DEFAULT_OUT = REPO / "docs" / "reliability.md"

#: The categories in the order the page shows them, with what each tries and checks.
CATEGORIES: dict[str, str] = {
    "cancels and interrupts": (
        "A seeded project of 2–4 tasks (dependencies, corrections, a flaky call) is run once "
        "per step of each site — broadcast event, model call, test run, database call — "
        "with one fault at that step: the run's task cancelled (before the step, or while a "
        "call or pytest is under way), `KeyboardInterrupt` raised in the step (before it, "
        "or once it completed), or the panel's Stop. Some seeds use a stand-in suite, some "
        "real pytest (warm or cold) whose tests record their pids. Checked: the run ends "
        "cancelled or interrupted; no task is left assigned or in progress, every status is "
        "valid, a completed task's last test run passed, blocked tasks have open blockers "
        "and open blockers blocked tasks, every run row is closed; each task's files are a "
        "whole group's before or after; no process is left; a panel's snapshot equals the "
        "database; then a second run (blockers answered) completes every task."
    ),
    "SIGKILL of a run, recovered": (
        "A forked agent runs a project with real pytest and groups of ~150 files; it is "
        "SIGKILLed after its k-th event (plus a delay), half the time just as a group is "
        "being written. Checked: nothing it started survives (pytest, what the tests "
        "started, its warm helper); a new run in this process takes over its run row, rolls "
        "back the half-written group before writing anything, returns interrupted tasks to "
        "pending with a note, and completes every task."
    ),
    "bad replies and API errors": (
        "Truncated, cut at `max_tokens`, not JSON, prose only, wrong shapes, over 1 MB, "
        "nested 400,000 deep, unsafe paths (absolute, `..`, links out of the project, "
        "`.git/`, NUL, lone surrogates, drive letters, the journal folder...), content over "
        "the cap, a missing file, tool calls with wrong inputs, the key in prose; as a "
        "task's first reply and as every correction; and every exception class of the "
        "`anthropic` SDK (built on `httpx2` responses, quoting the key). Checked: no "
        "exception escapes; the task fails (or is blocked after three refused corrections) "
        "naming the problem; a retry verdict for API errors; nothing outside the project "
        "changes and nothing unsafe inside; the key is stored and sent nowhere."
    ),
    "bad database files": (
        "Not SQLite (random bytes, text, other formats), empty, SQLite with no schema, "
        "another program's schema, a foreign table named like ours, a newer schema "
        "version, our tables without a version, a folder, a read-only file or folder "
        "(immutable flag), one of ours truncated or with bytes overwritten; and a database "
        "another process holds locked for up to 2.5 s. Checked: a `CodeframeError` naming "
        "the file and why (read-only said as such), the folder byte-for-byte unchanged; a "
        "locked database is waited out, or fails busy and works when run again."
    ),
    "misbehaving tests": (
        "A forked agent (two fake keys in its environment, one also its `api_key=`) runs "
        "a task whose test never ends, calls `os._exit`, segfaults, starts a double-forked "
        "daemon or a child in its own session, kills its parent (SIGTERM/SIGHUP/SIGKILL/"
        "SIGINT), prints up to 50 MB, forks up to ~120 processes, or reads its ancestors' "
        "environments. Checked: a clear first test status (timeout, error, failed, passed) "
        "then a completed task; the agent survives; every process started is gone and "
        "nothing writes into the project; no key in the database, events, prompts, panel "
        "HTML, logs, or pytest's own environment."
    ),
}


@dataclass
class Row:
    """One category's figures."""

    tried: int = 0
    held: int = 0
    seconds: float = 0.0
    tests: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    known: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)


def tally_rows(lines: Iterable[Mapping[str, Any]]) -> dict[str, Row]:
    """Sum the report's lines (one per test item) into one row per category."""
    rows: dict[str, Row] = defaultdict(Row)
    for line in lines:
        row = rows[line["category"]]
        row.tests += 1
        row.tried += line["tried"]
        row.held += line["held"]
        row.seconds += line.get("seconds", 0.0)
        row.known.update(case["fault"] for case in line.get("known", ()))
        row.notes.update(line.get("notes", {}))
        for failure in line["failed"]:
            row.failures.append({**failure, "test": line["test"], "seed": line.get("seed")})
    return dict(rows)


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
        "SQLite": sqlite3.sqlite_version,
    }


def _load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def render(rows: Mapping[str, Row], meta: Mapping[str, Any]) -> str:
    """The page: pure formatting of one run's figures."""
    out = [
        "# Reliability",
        "",
        "What the fault-injection suite (`tests/faults/`) tried and what held, in one long run "
        f"of `{meta['command']}` on {meta['date']}. Every case is seeded: a failure is "
        "reproduced by its seed. `make test` runs the same tests with a few cases each; "
        "`make faults` regenerates this page.",
        "",
        "**Machine** — "
        + " · ".join(f"{key}: {value}" for key, value in meta["machine"].items())
        + f" · load average (1/5/15 min): {meta['load_start']} at start, "
        f"{meta['load_end']} at end · the run took {meta['minutes']:.1f} min "
        f"(pytest exit status {meta['exit']})",
        "",
        "| Category | Cases tried | Held | Failed | Known faults hit | Time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    total = Row()
    for name in [*CATEGORIES, *sorted(set(rows) - set(CATEGORIES))]:
        row = rows.get(name, Row())
        known = sum(row.known.values())
        failed = len(row.failures)
        out.append(
            f"| {name} | {row.tried:,} | {row.held:,} | {failed:,} | {known:,} | "
            f"{row.seconds / 60:.1f} min |"
        )
        total.tried += row.tried
        total.held += row.held
        total.seconds += row.seconds
        total.failures += row.failures
        total.known.update(row.known)
    out.append(
        f"| **all** | **{total.tried:,}** | **{total.held:,}** | **{len(total.failures):,}** "
        f"| **{sum(total.known.values()):,}** | {total.seconds / 60:.1f} min |"
    )
    out += [
        "",
        "A case is one fault injected and every check after it; *held* means every "
        "check passed. *Known faults* are faults this suite found that are not fixed yet "
        "(below): their cases are counted apart, and each has a test marked "
        "`xfail(strict=True)` that starts failing the suite once the fault is fixed.",
        "",
    ]
    out += _failures(total.failures)
    out += _known(total.known)
    out += ["## What each category tries", ""]
    for name, text in CATEGORIES.items():
        row = rows.get(name, Row())
        notes = "; ".join(f"{what}: {count:,}" for what, count in sorted(row.notes.items()))
        out += [
            f"**{name}** ({row.tests} test items) — {text}" + (f" ({notes}.)" if notes else ""),
            "",
        ]
    out += [
        "## Running it",
        "",
        "- `make test` runs `tests/faults/` with its default sizes (one seed per test, the "
        "real-pytest sweeps sampled): well under a minute.",
        f"- `make faults` runs `python -m tests.faults` (here `--trials {meta['trials']}`): "
        f"`{TRIALS_VAR}=N` gives each test `N // cost` seeds, `{SEED_VAR}=S` shifts every "
        "seed, and this page is rewritten from the run's report.",
        f"- To reproduce a failure: `{TRIALS_VAR}={meta['trials']} {SEED_VAR}=<seed> "
        ".venv/bin/python -m pytest '<test>[seed<seed>]'` runs that seed as this run did "
        "(where real pytest runs, the number of steps a run takes can vary with timing).",
        "",
    ]
    return "\n".join(out)


def _failures(failures: Sequence[Mapping[str, Any]]) -> list[str]:
    if not failures:
        return ["## Failures", "", "None: every case that is not a known fault held.", ""]
    out = ["## Failures", "", "| Test | Seed | Case | What did not hold |", "|---|---:|---|---|"]
    for failure in failures[:200]:
        problems = "; ".join(failure["problems"]).replace("|", "\\|")[:300]
        test = failure["test"].split("[")[0]
        case = str(failure["case"]).replace("|", "\\|")
        out.append(f"| `{test}` | {failure['seed']} | {case} | {problems} |")
    if len(failures) > 200:
        out.append(f"| … | | {len(failures) - 200} more | |")
    return [*out, ""]


def _known(hits: Mapping[str, int]) -> list[str]:
    if not KNOWN_FAULTS:
        return [
            "## Known faults",
            "",
            "No known fault is open: every fault the suite has found is fixed, and its own "
            "test stays in the suite.",
            "",
        ]
    out = ["## Known faults", "", "| Fault | Cases that hit it | Its test |", "|---|---:|---|"]
    for fault in KNOWN_FAULTS:
        test = fault.test.replace(" and ", "`, `")
        out.append(f"| {fault.reason} | {hits.get(fault.name, 0):,} | `{test}` |")
    return [*out, ""]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args(argv)
    command = f"python -m tests.faults --trials {args.trials}"
    if args.seed:
        command += f" --seed {args.seed}"
    with tempfile.TemporaryDirectory(prefix="codeframe-faults-") as folder:
        report = Path(folder) / "report.jsonl"
        env = env_without_keys(
            {TRIALS_VAR: str(args.trials), SEED_VAR: str(args.seed), REPORT_VAR: str(report)}
        )
        load_start, started = _load(), time.monotonic()
        date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        pytest = [
            sys.executable, "-m", "pytest", "tests/faults", "-q", "-p", "no:cacheprovider",
            "-o", "timeout=1800", "-rfEX", *args.pytest_args,
        ]  # fmt: skip
        print(f"running {' '.join(pytest[1:])} with {TRIALS_VAR}={args.trials}", flush=True)
        exit_code = subprocess.run(pytest, cwd=REPO, env=env, check=False).returncode
        lines = (
            [json.loads(text) for text in report.read_text().splitlines() if text.strip()]
            if report.exists()
            else []
        )
    rows = tally_rows(lines)
    meta = {
        "command": command,
        "date": date,
        "machine": machine(),
        "load_start": load_start,
        "load_end": _load(),
        "minutes": (time.monotonic() - started) / 60,
        "exit": exit_code,
        "trials": args.trials,
    }
    args.out.write_text(render(rows, meta))
    tried = sum(row.tried for row in rows.values())
    failed = sum(len(row.failures) for row in rows.values())
    print(f"{tried:,} cases, {failed:,} failed; wrote {args.out}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
