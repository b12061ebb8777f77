"""Where one task's CPU goes, and how many SQLite statements and commits it costs.

The overhead workload (N one-file tasks, C workers, zero latency, tests off) in this
process, either plain (CPU and wall per task) or under cProfile (the top costs per task)::

    .venv/bin/python -m benchmarks.task_profile [-n 2000] [-c 50] [--tmp-dir /dev/shm]
        [--plain] [--statements] [--limit 30]

Statements and commits are counted with SQLite's trace callback on the run's connection, so
the figure includes every ``COMMIT`` whoever issued it. Run it from the repository root so it
imports this checkout's ``codeframe``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import time
from collections import Counter
from typing import Any

from benchmarks.profiling import top_costs
from benchmarks.scenarios import run_codeframe
from benchmarks.workload import note_reply, workspace
from codeframe.llm import ScriptedClient
from codeframe.testing.fixed_runner import FixedResultRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder


def _kind(statement: str) -> str:
    word = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
    return "COMMIT" if word in ("COMMIT", "END") else word


def measure(
    n: int, c: int, tmp_dir: str | None, *, profile: bool, statements: bool = False
) -> dict[str, Any]:
    """One run: CPU and wall per task and, if asked, statements per task by kind (the trace
    callback costs a little CPU itself) and the profile's costs."""
    counts: Counter[str] = Counter()
    profiler = cProfile.Profile() if profile else None
    with workspace(n, tmp_dir) as ws:
        conn = ws.db.conn
        assert conn is not None
        if statements:
            conn.set_trace_callback(lambda sql: counts.update((_kind(sql),)))
        client = ScriptedClient(default=note_reply)
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            asyncio.run(run_codeframe(ws, c, client, FixedResultRunner(), BroadcastRecorder()))
        finally:
            if profiler is not None:
                profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        conn.set_trace_callback(None)
    figures: dict[str, Any] = {
        "tasks": n,
        "cpu_per_task_us": cpu / n * 1e6,
        "wall_per_task_us": wall / n * 1e6,
        "statements_per_task": {kind: count / n for kind, count in counts.most_common()},
        "load_1min": os.getloadavg()[0],
    }
    if profiler is not None:
        figures.update(top_costs(profiler, n, limit=100_000))
    return figures


def _print(figures: dict[str, Any], limit: int) -> None:
    print(
        f"cpu/task {figures['cpu_per_task_us']:.0f} µs · wall/task "
        f"{figures['wall_per_task_us']:.0f} µs · load {figures['load_1min']:.2f}"
    )
    kinds = figures["statements_per_task"]
    if kinds:
        print("statements/task:", ", ".join(f"{k} {count:.2f}" for k, count in kinds.items()))
    if "self" not in figures:
        return
    total = sum(row["self_us"] for row in figures["self"])
    print(f"profiled self time per task (all functions): {total:.0f} µs")
    print("--- self time by area, µs per task")
    for name, spent in list(figures["areas"].items())[:limit]:
        print(f"{spent:8.1f}  {name}")
    print("--- by self time, µs per task")
    for row in figures["self"][:limit]:
        print(f"{row['self_us']:8.1f} {row['cum_us']:8.1f} {row['calls']:6.1f}  {row['name']}")
    print("--- codeframe by cumulative time, µs per task")
    for row in figures["codeframe_cumulative"][:limit]:
        print(f"{row['self_us']:8.1f} {row['cum_us']:8.1f} {row['calls']:6.1f}  {row['name']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="tasks (default 2000)")
    parser.add_argument("-c", type=int, default=50, help="concurrent workers (default 50)")
    parser.add_argument("--tmp-dir", help="where the project and database are made")
    parser.add_argument("--plain", action="store_true", help="no profiler: CPU and wall only")
    parser.add_argument(
        "--statements", action="store_true", help="count SQLite statements and commits per task"
    )
    parser.add_argument("--limit", type=int, default=30, help="rows of each ranking")
    args = parser.parse_args(argv)
    figures = measure(
        args.n, args.c, args.tmp_dir, profile=not args.plain, statements=args.statements
    )
    _print(figures, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
