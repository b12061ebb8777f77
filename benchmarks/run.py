"""``make bench``: every performance target's figure, measured in one run on this machine.

Runs each scenario in a fresh interpreter (timed ones three times, the two designs
alternating so drifting load hits both alike), prints the table and writes
``docs/performance.md`` with the machine's facts::

    python -m benchmarks.run [--repeats 3] [--tmp-dir DIR] [--out FILE] [--smoke]

Figures are ratios and medians from one run; the test suite makes no timed assertions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import MAIN_HEADER, markdown_table, render, table_rows
from benchmarks.workload import ideal_wall

logger = logging.getLogger("benchmarks.run")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "docs" / "performance.md"
#: Before-and-after figures kept by hand (a round's changes); each report includes them.
HISTORY = REPO_ROOT / "docs" / "performance-history.md"
SCENARIO_TIMEOUT_S = 300.0

Executor = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """Sizes of every scenario; the defaults are the targets' own sizes."""

    n_eff: int = 500
    c_eff: int = 50
    latency: float = 0.2
    n_overhead: int = 2000
    c_overhead: int = 50
    c_memory: int = 1000
    n_lag: int = 12
    c_lag: int = 4
    lag_tick: float = 0.005
    n_profile: int = 2000
    c_profile: int = 50
    agents: int = 50  # agent creation: a pool of this many
    agent_rounds: int = 5
    senders: int = 50  # broadcast latency: this many agents sending at once
    per_sender: int = 200
    repeats: int = 3
    profile: bool = True  # the zero-latency workload under cProfile: where a task's CPU goes
    tmp_dir: str | None = None
    # The efficiency runs again with the tree in RAM, to show what the disk costs a task.
    tmpfs_dir: str | None = "/dev/shm"
    # ...and with each task in a git worktree of its own (a commit and a merge per task).
    worktrees: bool = True


# A seconds-long pass over every scenario, to check the machinery rather than the numbers.
SMOKE = Plan(
    n_eff=20, c_eff=5, latency=0.02, n_overhead=20, c_overhead=5, c_memory=20,
    n_lag=2, c_lag=2, n_profile=20, c_profile=5, agents=5, agent_rounds=1, senders=3,
    per_sender=5, repeats=1,
)  # fmt: skip


def in_subprocess(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one scenario in a fresh interpreter and return its figures."""
    argv = [sys.executable, "-m", "benchmarks.scenarios", name, json.dumps(params)]
    # Flush what the previous scenario left in the page cache (thousands of small files and
    # a database), so its write-back does not land in this scenario's timing.
    os.sync()
    try:
        done = subprocess.run(
            argv,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"scenario {name} ran over {SCENARIO_TIMEOUT_S:g} s") from exc
    if done.returncode != 0:
        raise RuntimeError(
            f"scenario {name} {params} exited with {done.returncode}:\n{done.stderr[-3000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(plan: Plan, execute: Executor = in_subprocess) -> dict[str, Any]:
    """Every figure the report needs, keyed by scenario and design."""

    def once(name: str, params: dict[str, Any]) -> dict[str, Any]:
        logger.info("running %s %s", name, params)
        return execute(name, {"tmp_dir": plan.tmp_dir, **params})

    def paired(name: str, params: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        runs: dict[str, list[dict[str, Any]]] = {"async": [], "thread": []}
        for _ in range(plan.repeats):
            runs["async"].append(once(f"async_{name}", params))
            runs["thread"].append(once(f"thread_{name}", params))
        return runs

    ideal = ideal_wall(plan.n_eff, plan.c_eff, plan.latency)
    results: dict[str, Any] = {"plan": dataclasses.asdict(plan), "ideal_s": ideal}
    efficiency = {"n": plan.n_eff, "c": plan.c_eff, "latency": plan.latency}
    results["efficiency"] = paired("run", efficiency)
    if plan.tmpfs_dir and Path(plan.tmpfs_dir).is_dir():
        results["tmpfs_dir"] = plan.tmpfs_dir
        results["efficiency_tmpfs"] = paired("run", {**efficiency, "tmp_dir": plan.tmpfs_dir})
    if plan.worktrees and shutil.which("git"):
        results["efficiency_worktree"] = {
            "async": [once("async_worktree_run", efficiency) for _ in range(plan.repeats)]
        }
    results["overhead"] = paired(
        "run", {"n": plan.n_overhead, "c": plan.c_overhead, "latency": 0.0}
    )
    results["memory"] = {
        design: {
            kind: once(f"{design}_memory", {"c": plan.c_memory, "trace": kind == "heap"})
            for kind in ("rss", "heap")
        }
        for design in ("async", "thread")
    }
    results["lag"] = paired("lag", {"n": plan.n_lag, "c": plan.c_lag, "tick": plan.lag_tick})
    results["broadcast"] = paired(
        "broadcast", {"senders": plan.senders, "per_sender": plan.per_sender}
    )
    results["agent_creation"] = [
        once("agent_creation", {"agents": plan.agents, "rounds": plan.agent_rounds})
        for _ in range(plan.repeats)
    ]
    # The overhead workload again, its storage timed: in the same places as the efficiency runs.
    split = {"n": plan.n_overhead, "c": plan.c_overhead}
    places = {"tmp_dir": split}
    if plan.tmpfs_dir and Path(plan.tmpfs_dir).is_dir():
        places["tmpfs"] = {**split, "tmp_dir": plan.tmpfs_dir}
    results["tmp_folder"] = plan.tmp_dir or tempfile.gettempdir()
    results["storage_split"] = {
        place: [once("storage_split", params) for _ in range(plan.repeats)]
        for place, params in places.items()
    }
    if plan.profile:
        results["profile"] = once("profile", {"n": plan.n_profile, "c": plan.c_profile})
    return results


def _proc_lines(name: str) -> list[str]:
    """Lines of a Linux ``/proc`` file; none elsewhere."""
    path = Path("/proc") / name
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def _cpu_model() -> str:
    for line in _proc_lines("cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _filesystem(path: Path) -> str:
    """The filesystem type holding ``path`` (the longest matching mount point), or ``?``."""
    best, kind = "", "?"
    for line in _proc_lines("mounts"):
        fields = line.split()
        point = fields[1]
        if path.is_relative_to(point) and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def _file_create_us(folder: Path, count: int = 200) -> float:
    """Median µs to create a small file beside its target and rename it in — a task's write."""
    samples = []
    with tempfile.TemporaryDirectory(prefix="codeframe-bench-fs-", dir=folder) as name:
        for i in range(count):
            started = time.perf_counter()
            with open(Path(name) / f"{i}.tmp", "xb") as handle:
                handle.write(b"x" * 80)
            os.replace(Path(name) / f"{i}.tmp", Path(name) / f"{i}.txt")
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def machine_facts(tmp_dir: str | None) -> dict[str, str]:
    folder = Path(tmp_dir or tempfile.gettempdir()).resolve()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
        "SQLite": sqlite3.sqlite_version,
        "project and database in": (
            f"{folder} ({_filesystem(folder)}; one small-file create + rename "
            f"{_file_create_us(folder):.0f} µs)"
        ),
    }


def _history() -> str:
    """The hand-kept before-and-after figures, carried into every regenerated report."""
    try:
        return HISTORY.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def main(argv: list[str] | None = None, *, execute: Executor = in_subprocess) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, help="runs per timed scenario (default 3)")
    parser.add_argument("--tmp-dir", help="where projects and databases are made")
    parser.add_argument("--out", type=Path, help=f"report file (default {DEFAULT_OUT})")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes; writes only when --out is given"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    plan = SMOKE if args.smoke else Plan()
    plan = dataclasses.replace(
        plan,
        repeats=args.repeats or plan.repeats,
        tmp_dir=args.tmp_dir or plan.tmp_dir,
        profile=plan.profile and not args.no_profile,
    )
    facts = machine_facts(plan.tmp_dir)
    load_before, started = _load(), time.monotonic()
    results = measure(plan, execute)
    facts["load average (1 min)"] = f"{load_before} at start, {_load()} at end"
    facts["bench took"] = f"{time.monotonic() - started:.0f} s"
    text = render(results, facts, history=_history())
    sys.stdout.write(markdown_table(MAIN_HEADER, table_rows(results)) + "\n")
    out = args.out or (None if args.smoke else DEFAULT_OUT)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        logger.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
