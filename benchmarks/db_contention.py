"""What the busy timeout buys and costs when other processes write the same database file.

SQLite's busy wait sleeps inside the call, so on the event loop's thread every millisecond
of it is a millisecond of loop lag. This measures both sides of choosing the timeout:

1. **Lock hold**: how long one of codeframe's own write transactions holds the write lock
   (what a peer codeframe process makes us wait, at most, per write of its own).
2. **Peers**: ``--peers`` other processes write to the same file without pause (far more
   than real runs do); for each candidate timeout, how long our writes take and how many
   fail with ``DatabaseBusyError``.
3. **Long holder**: another connection holds the lock for ``--hold`` seconds (a shell left
   inside ``BEGIN``, a bulk import). With the timeout alone, one write blocks the loop for
   the whole hold — or fails after blocking for the whole timeout; with a short timeout and
   ``retry_when_busy`` the loop is blocked at most one timeout at a time.

    .venv/bin/python -m benchmarks.db_contention [--peers 3] [--writes 300] [--hold 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.db_writes import CASES, record_call
from benchmarks.loop_lag import LagMonitor, monitoring
from codeframe.errors import DatabaseBusyError
from codeframe.persistence.database import Database
from codeframe.persistence.retry import retry_when_busy
from codeframe.persistence.store import BUSY_TIMEOUT_MS

TIMEOUTS_MS = (5, 20, 50, 100, 250, 1000, 5000)

_PEER = """
import sys, time
from benchmarks.db_contention import mixed_writes
from codeframe.persistence.database import Database
path, until = sys.argv[1], float(sys.argv[2])
with Database(path) as db:
    project_id = db.create_project("peer")
    task_id = db.create_task(project_id, "t")
    print("ready", flush=True)
    write = mixed_writes(db, task_id)
    i = 0
    while time.time() < until:
        try:
            write(i)
        except Exception:
            pass  # a peer only makes load; its own failures are not measured
        i += 1
"""


def mixed_writes(db: Database, task_id: int) -> Callable[[int], object]:
    """The writes a worker makes during a task, in turn: status, call ledger, test result."""

    def write(i: int) -> object:
        kind = i % 3
        if kind == 0:
            return db.update_task(task_id, {"status": ("in_progress", "pending")[i % 2]})
        if kind == 1:
            return record_call(db, task_id)
        return db.create_test_result(task_id, "passed", passed=5, output="." * 500, cases=CASES)

    return write


def _quantiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[-1]
    if len(ordered) > 1:
        p99 = statistics.quantiles(ordered, n=100, method="inclusive")[98]
    return {
        "median_ms": statistics.median(ordered) * 1e3,
        "p99_ms": p99 * 1e3,
        "max_ms": ordered[-1] * 1e3,
    }


def lock_hold(path: Path, writes: int) -> dict[str, float]:
    """How long each of our write transactions takes alone: the lock it makes others wait."""
    with Database(path) as db:
        task_id = db.create_task(db.create_project("hold"), "t")
        write = mixed_writes(db, task_id)
        times = []
        for i in range(writes):
            start = time.perf_counter()
            write(i)
            times.append(time.perf_counter() - start)
    return _quantiles(times)


def _start_peers(path: Path, count: int, seconds: float) -> list[subprocess.Popen[str]]:
    until = time.time() + seconds
    peers = [
        subprocess.Popen(
            [sys.executable, "-c", _PEER, str(path), str(until)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for peer in peers:
            if peer.stdout is None or peer.stdout.readline().strip() != "ready":
                raise RuntimeError("a peer writer did not start")
    except BaseException:
        _stop(peers)
        raise
    return peers


def _stop(peers: list[subprocess.Popen[str]]) -> None:
    for peer in peers:
        peer.kill()
        peer.wait()
        if peer.stdout is not None:
            peer.stdout.close()


def with_peers(path: Path, peers: int, writes: int) -> list[dict[str, Any]]:
    """For each candidate timeout: our write times and failures while peers write nonstop."""
    rows = []
    with Database(path) as db:
        task_id = db.create_task(db.create_project("measured"), "t")
        write = mixed_writes(db, task_id)
        assert db.conn is not None
        running = _start_peers(path, peers, seconds=3600)
        try:
            for timeout_ms in TIMEOUTS_MS:
                db.conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")
                times, busy = [], 0
                for i in range(writes):
                    start = time.perf_counter()
                    try:
                        write(i)
                    except DatabaseBusyError:
                        busy += 1
                    times.append(time.perf_counter() - start)
                rows.append({"timeout_ms": timeout_ms, "busy": busy, **_quantiles(times)})
        finally:
            _stop(running)
    return rows


_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


async def _one_write_under_a_holder(
    path: Path, hold_s: float, timeout_ms: int, retry: bool
) -> dict[str, Any]:
    with Database(path) as db:
        assert db.conn is not None
        db.conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        project_id = db.create_project("holder")
        holder = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _HOLDER, str(path), str(hold_s), stdout=subprocess.PIPE
        )
        monitor = LagMonitor()
        outcome = "written"

        def write() -> int:
            return db.create_task(project_id, "t")

        try:
            assert holder.stdout is not None
            await holder.stdout.readline()
            start = time.perf_counter()
            async with monitoring(monitor):
                await asyncio.sleep(0.05)  # a few ticks before, so the monitor has a baseline
                try:
                    if retry:
                        await retry_when_busy(write, attempts=100, first_delay=0.05, max_delay=0.5)
                    else:
                        write()
                except DatabaseBusyError:
                    outcome = "failed (busy)"
                await asyncio.sleep(0.05)
            wall_s = time.perf_counter() - start
        finally:
            if holder.returncode is None:
                holder.kill()
            await holder.wait()
        return {
            "timeout_ms": timeout_ms,
            "retry": retry,
            "outcome": outcome,
            "wall_s": wall_s,
            "loop_max_lag_ms": monitor.figures()["max_ms"],
        }


def long_holder(folder: Path, hold_s: float) -> list[dict[str, Any]]:
    """One write while another connection holds the lock for ``hold_s`` seconds."""
    rows = []
    cases = [(5000, False), (BUSY_TIMEOUT_MS, False), (BUSY_TIMEOUT_MS, True)]
    for n, (timeout_ms, retry) in enumerate(cases):
        path = folder / f"holder{n}.db"
        rows.append(asyncio.run(_one_write_under_a_holder(path, hold_s, timeout_ms, retry)))
    return rows


def measure(peers: int, writes: int, hold_s: float, tmp_dir: str | None = None) -> dict[str, Any]:
    """All three measurements on fresh files in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="codeframe-contention-", dir=tmp_dir) as name:
        folder = Path(name)
        return {
            "busy_timeout_ms": BUSY_TIMEOUT_MS,
            "lock_hold": lock_hold(folder / "hold.db", writes),
            "peers": peers,
            "with_peers": with_peers(folder / "peers.db", peers, writes),
            "hold_s": hold_s,
            "long_holder": long_holder(folder, hold_s),
        }


def render(figures: dict[str, Any]) -> str:
    """The figures as plain text tables."""
    hold = figures["lock_hold"]
    lines = [
        f"codeframe write transaction, alone: median {hold['median_ms']:.2f} ms, "
        f"p99 {hold['p99_ms']:.2f} ms, max {hold['max_ms']:.2f} ms",
        "",
        f"our writes while {figures['peers']} peer processes write nonstop:",
        f"{'busy_timeout':>12} {'median ms':>10} {'p99 ms':>8} {'max ms':>8} {'busy errors':>12}",
    ]
    for row in figures["with_peers"]:
        lines.append(
            f"{row['timeout_ms']:>12} {row['median_ms']:>10.2f} {row['p99_ms']:>8.2f} "
            f"{row['max_ms']:>8.2f} {row['busy']:>12}"
        )
    lines += [
        "",
        f"one write while another connection holds the lock for {figures['hold_s']:g} s:",
        f"{'busy_timeout':>12} {'retry':>6} {'outcome':>14} {'wall s':>7} {'loop max lag ms':>16}",
    ]
    for row in figures["long_holder"]:
        lines.append(
            f"{row['timeout_ms']:>12} {'yes' if row['retry'] else 'no':>6} {row['outcome']:>14} "
            f"{row['wall_s']:>7.2f} {row['loop_max_lag_ms']:>16.1f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=3)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--hold", type=float, default=2.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.peers, args.writes, args.hold)
    print(json.dumps(figures, indent=2) if args.json else render(figures))


if __name__ == "__main__":
    main()
