"""What the notebook's reads cost: the panel refresh, and how a task's facts are queried.

1. The panel's final refresh as it was (the project's tasks, then two queries per task,
   then the blockers) against ``Database.panel_overview`` (two queries whatever the size).
2. A task's attempt count and newest test status as scalar subqueries (what
   ``codeframe.persistence.read_models`` uses) against grouped and windowed subqueries,
   for one project among many and for the whole file.

Best of ``--repeat`` runs each, on a WAL file; CPU-bound (the file stays in the page cache).

    .venv/bin/python benchmarks/read_models.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from codeframe.persistence.database import Database

_TASK_FACTS = {
    "scalar subqueries": """SELECT t.id, t.status,
        (SELECT COUNT(*) FROM correction_attempts c WHERE c.task_id = t.id) AS attempts,
        (SELECT r.status FROM test_results r WHERE r.task_id = t.id
         ORDER BY r.id DESC LIMIT 1) AS last_test_status
        FROM tasks t {where} ORDER BY t.id""",
    "grouped subqueries": """SELECT t.id, t.status, COALESCE(a.n, 0) AS attempts,
        r.status AS last_test_status FROM tasks t
        LEFT JOIN (SELECT task_id, COUNT(*) AS n FROM correction_attempts GROUP BY task_id) a
            ON a.task_id = t.id
        LEFT JOIN (SELECT task_id, MAX(id) AS newest FROM test_results GROUP BY task_id) m
            ON m.task_id = t.id
        LEFT JOIN test_results r ON r.id = m.newest
        {where} ORDER BY t.id""",
    "window function": """SELECT t.id, t.status, COALESCE(a.n, 0) AS attempts,
        w.status AS last_test_status FROM tasks t
        LEFT JOIN (SELECT task_id, COUNT(*) AS n FROM correction_attempts GROUP BY task_id) a
            ON a.task_id = t.id
        LEFT JOIN (SELECT task_id, status,
                          ROW_NUMBER() OVER (PARTITION BY task_id ORDER BY id DESC) AS k
                   FROM test_results) w ON w.task_id = t.id AND w.k = 1
        {where} ORDER BY t.id""",
}


def fill(db: Database, tasks: int, name: str) -> int:
    """A project whose every task has two runs, a correction and an open blocker."""
    project_id = db.create_project(name)
    for task_id in db.create_tasks(project_id, [{"title": f"t{i}"} for i in range(tasks)]):
        db.create_test_result(task_id, "failed", failed=1)
        after = db.create_test_result(task_id, "passed", passed=1, attempt=1)
        db.create_correction_attempt(task_id, 1, "why", "what", "", test_result_id=after)
        db.create_blocker(task_id, "async", "reason", "question")
    return project_id


def per_task_refresh(db: Database, project_id: int) -> int:
    """The refresh as it was: 1 + 2·N + 1 queries; returns how many rows it saw."""
    seen = 0
    for task in db.get_project_tasks(project_id):
        db.get_test_results_by_task(task["id"])
        db.count_correction_attempts(task["id"])
        seen += 1
    return seen + len(db.get_blockers(project_id))


def overview_refresh(db: Database, project_id: int) -> int:
    overview = db.panel_overview(project_id)
    return len(overview["tasks"]) + len(overview["blockers"])


def fetch(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = conn.execute(sql, params).fetchall()
    return rows


def best_of(repeat: int, op: Callable[[], object]) -> float:
    op()  # warm the statement cache
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        op()
        best = min(best, time.perf_counter() - start)
    return best


def count_statements(conn: sqlite3.Connection, op: Callable[[], object]) -> int:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        op()
    finally:
        conn.set_trace_callback(None)
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, Database(Path(folder) / "r.db") as db:
        conn = db.conn
        assert conn is not None
        print(f"Panel refresh reads (ms, best of {args.repeat}; statements run)")
        print(f"{'tasks':>6} {'per task':>10} {'stmts':>6} {'overview':>10} {'stmts':>6} {'×':>6}")
        for size in (1, 10, 200, 2000):
            project_id = fill(db, size, f"{size} tasks")
            per_task = partial(per_task_refresh, db, project_id)
            overview = partial(overview_refresh, db, project_id)
            old, new = best_of(args.repeat, per_task), best_of(args.repeat, overview)
            old_n, new_n = count_statements(conn, per_task), count_statements(conn, overview)
            print(
                f"{size:>6} {old * 1e3:>10.2f} {old_n:>6} {new * 1e3:>10.2f} {new_n:>6}"
                f" {old / new:>6.1f}"
            )

        projects = [fill(db, 200, f"one of twenty {i}") for i in range(20)]
        total = conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
        print(f"\nA task's attempts and last test status (ms, best of {args.repeat})")
        print(f"{'query':<20} {'one project (200)':>18} {f'whole file ({total})':>18}")
        answers = set()
        for name, sql in _TASK_FACTS.items():
            one_sql, all_sql = sql.format(where="WHERE t.project_id = ?"), sql.format(where="")
            one = best_of(args.repeat, partial(fetch, conn, one_sql, (projects[7],)))
            whole = best_of(args.repeat, partial(fetch, conn, all_sql, ()))
            answers.add(tuple(tuple(row) for row in fetch(conn, all_sql, ())))
            print(f"{name:<20} {one * 1e3:>18.2f} {whole * 1e3:>18.2f}")
        assert len(answers) == 1, "the three queries disagree"


if __name__ == "__main__":
    main()
