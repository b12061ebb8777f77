"""How many committed writes per second the Database makes on a WAL file.

Each write is one method call, i.e. one short transaction with its commit — what a worker
pays per status change or test run. CPU time per call is what holds the event loop; wall
time adds the write to the WAL file (no fsync at ``synchronous=NORMAL``).

    .venv/bin/python benchmarks/db_writes.py [-n 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from codeframe.core.models import TestCase
from codeframe.persistence.database import Database

CASES = tuple(TestCase(f"tests/test_mod.py::test_{i}", "passed", duration=0.01) for i in range(5))
REQUEST = {"system": "You write code.", "messages": [{"role": "user", "content": "x" * 2000}]}


def _measure(n: int, op: Callable[[int], object]) -> tuple[float, float]:
    """Wall and CPU seconds for ``n`` calls of ``op(i)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        op(i)
    return time.perf_counter() - wall, time.process_time() - cpu


def record_call(db: Database, task_id: int) -> int:
    return db.record_llm_call(
        task_id=task_id,
        agent_id="backend-1",
        attempt=0,
        model="m",
        request=REQUEST,
        reply_text="{}",
        stop_reason="end_turn",
        input_tokens=120,
        output_tokens=80,
        latency_s=0.2,
    )


def run(n: int, folder: Path) -> list[tuple[str, float, float]]:
    """Time each write kind on a fresh WAL database; rows of (name, wall s, cpu s)."""
    statuses = ("in_progress", "pending")
    with Database(folder / "bench.db") as db:
        project_id = db.create_project("bench")
        task_id = db.create_task(project_id, "bench task")
        # Real tasks carry a few notes, not thousands: spread the notes over many tasks.
        db.record_agent(project_id, "backend-1", "backend")
        noted = db.create_tasks(
            project_id, [{"title": f"noted {i}"} for i in range(max(1, n // 10))]
        )
        ops: list[tuple[str, Callable[[int], object]]] = [
            ("update_task", lambda i: db.update_task(task_id, {"status": statuses[i % 2]})),
            (
                "update_task (3 cols)",
                lambda i: db.update_task(
                    task_id, {"status": statuses[i % 2], "assigned_to": "backend-1", "output": "ok"}
                ),
            ),
            (
                "update_agent",
                lambda i: db.update_agent(project_id, "backend-1", status=("busy", "idle")[i % 2]),
            ),
            ("record_assignment", lambda i: db.record_assignment(task_id, "backend-1")),
            ("add_task_tokens", lambda i: db.add_task_tokens(task_id, 200)),
            ("add_task_note", lambda i: db.add_task_note(noted[i % len(noted)], f"note {i}")),
            ("create_test_result", lambda i: db.create_test_result(task_id, "passed", passed=5)),
            (
                "create_test_result +5 cases",
                lambda i: db.create_test_result(task_id, "passed", passed=5, cases=CASES),
            ),
            ("record_llm_call (2 KB)", lambda i: record_call(db, task_id)),
            ("get_task (read)", lambda i: db.get_task(task_id)),
        ]
        rows = []
        for name, op in ops:
            op(0)  # warm the statement cache
            wall, cpu = _measure(n, op)
            rows.append((name, wall, cpu))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="calls per write kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = run(args.n, Path(folder))
    print(f"Database writes on a WAL file, n={args.n} per kind (one commit per call)")
    print(f"{'operation':<30} {'calls/s':>10} {'wall µs':>9} {'CPU µs':>8}")
    for name, wall, cpu in rows:
        wall_us, cpu_us = wall / args.n * 1e6, cpu / args.n * 1e6
        print(f"{name:<30} {args.n / wall:>10,.0f} {wall_us:>9.1f} {cpu_us:>8.1f}")


if __name__ == "__main__":
    main()
