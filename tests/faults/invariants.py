"""What must be true of a project's ledger after any fault, read through the public API."""

from __future__ import annotations

from collections.abc import Iterable

from codeframe.core.models import TaskStatus
from codeframe.persistence.database import Database

VALID = {status.value for status in TaskStatus}
ACTIVE = {TaskStatus.ASSIGNED.value, TaskStatus.IN_PROGRESS.value}
PASSING = {"passed", "no_tests"}


def ledger_problems(db: Database, project_id: int, *, allowed: Iterable[str]) -> list[str]:
    """Statuses, test runs, blockers and runs that contradict each other.

    - every status is a valid one, none is ``assigned``/``in_progress`` (nothing runs now),
      and each is one of ``allowed``;
    - a ``completed`` task has ``completed_at`` and its last test run passed;
    - a ``blocked`` task has an open blocker, and every open blocker's task is ``blocked``
      (an answered one is resolved);
    - every run row of the project is closed.
    """
    allowed = set(allowed)
    problems = []
    tasks = db.get_project_tasks(project_id)
    status_of = {int(task["id"]): str(task["status"]) for task in tasks}
    open_blockers: dict[int, int] = {}
    for blocker in db.get_blockers(project_id, include_resolved=True):
        if blocker.get("resolved_at") is None:
            task_id = int(blocker["task_id"])
            open_blockers[task_id] = open_blockers.get(task_id, 0) + 1
            if status_of.get(task_id) != TaskStatus.BLOCKED:
                problems.append(
                    f"open blocker {blocker['id']} on task {task_id}, which is "
                    f"{status_of.get(task_id)}"
                )
    for task in tasks:
        task_id, status = int(task["id"]), str(task["status"])
        if status not in VALID:
            problems.append(f"task {task_id} has no valid status: {status!r}")
        elif status in ACTIVE:
            problems.append(f"task {task_id} left {status}")
        elif status not in allowed:
            problems.append(f"task {task_id} is {status} ({task.get('error') or 'no error'})")
        if status == TaskStatus.COMPLETED:
            runs = db.get_test_results_by_task(task_id)
            if not runs or runs[-1]["status"] not in PASSING:
                last = runs[-1]["status"] if runs else "no test run"
                problems.append(f"task {task_id} completed but its last test run is {last}")
            if not task.get("completed_at"):
                problems.append(f"task {task_id} completed without completed_at")
        if status == TaskStatus.BLOCKED and not open_blockers.get(task_id):
            problems.append(f"task {task_id} is blocked with no open blocker")
    for run in db.get_runs(project_id):
        if not run.get("ended_at"):
            problems.append(f"run {run['id']} (pid {run.get('pid')}) was never closed")
    return problems
