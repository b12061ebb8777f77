"""The benchmark workload: a throw-away project, its database, N one-file tasks, RSS readings.

Both designs (codeframe's asyncio workers and the thread-pool baseline) run exactly this, so
their figures compare like with like. Every task writes one small file and tests
are off unless a scenario asks for a real pytest project.
"""

from __future__ import annotations

import gc
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeframe.persistence.database import Database

TASK_TITLE = "Implement service {n}"

# A one-test project for the loop-lag scenario: pytest really starts, collects and runs.
_CALC = "def add(a, b):\n    return a + b\n"
_CALC_TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
_PYTEST_INI = "[pytest]\npythonpath = .\n"


@dataclass(slots=True)
class Workspace:
    """A project folder and its database, both inside one temporary folder."""

    folder: Path
    root: Path
    db: Database
    project_id: int
    n_tasks: int
    #: How long the full collection before the run took (see :func:`workspace`).
    settle_gc_s: float = 0.0


def note_reply(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The scripted model's answer: one small file named after the task's id."""
    text = kwargs["messages"][0]["content"]
    task_id = text.split("Task #", 1)[1].split(":", 1)[0]
    return {
        "files": [{"path": f"notes/task_{task_id}.txt", "action": "create", "content": text[:80]}],
        "explanation": f"note for task {task_id}",
    }


@contextmanager
def workspace(
    n_tasks: int, tmp_dir: str | None = None, *, real_tests: bool = False, git: bool = False
) -> Iterator[Workspace]:
    """A fresh project with ``n_tasks`` pending tasks; everything is deleted afterwards.

    ``git=True`` makes the project a git repository with one commit, for worktree isolation.
    """
    with tempfile.TemporaryDirectory(prefix="codeframe-bench-", dir=tmp_dir) as name:
        folder = Path(name)
        root = folder / "project"
        root.mkdir()
        if real_tests:
            (root / "tests").mkdir()
            (root / "calc.py").write_text(_CALC)
            (root / "tests" / "test_calc.py").write_text(_CALC_TEST)
            (root / "pytest.ini").write_text(_PYTEST_INI)
        if git:
            _make_repository(root)
        db = Database(folder / "bench.db")
        try:
            project_id = db.create_project("bench", workspace_path=str(root))
            db.create_tasks(project_id, [{"title": TASK_TITLE.format(n=n)} for n in range(n_tasks)])
            # A fresh interpreter owes the collector a full pass over everything its imports
            # made (90-120 ms here); whether it falls inside the timed run depends on what the
            # process allocated before. Collected now, no run carries it; the figures report
            # what it took.
            started = time.perf_counter()
            gc.collect()
            settle = time.perf_counter() - started
            yield Workspace(folder, root, db, project_id, n_tasks, settle)
        finally:
            db.close()


def _make_repository(root: Path) -> None:
    (root / "README.md").write_text("A benchmark project.\n")
    identity = {
        f"GIT_{role}_{part}": value
        for role in ("AUTHOR", "COMMITTER")
        for part, value in (("NAME", "bench"), ("EMAIL", "bench@localhost"))
    }
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "start")):
        subprocess.run(["git", *args], cwd=root, env={**os.environ, **identity}, check=True)


def ideal_wall(n_tasks: int, concurrency: int, latency: float) -> float:
    """⌈N/C⌉·L: the wall time if orchestration cost nothing."""
    return math.ceil(n_tasks / concurrency) * latency


def current_rss() -> int:
    """This process's resident set now, in bytes (Linux ``/proc``; else the peak)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return peak_rss()
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """This process's peak resident set so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


__all__ = [
    "TASK_TITLE",
    "Workspace",
    "current_rss",
    "ideal_wall",
    "note_reply",
    "peak_rss",
    "workspace",
]
