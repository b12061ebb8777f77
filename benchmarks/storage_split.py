"""How much of a task's time the storage takes: SQLite's calls and creating the task's file.

The overhead target is judged on a whole task. This splits that time at the two boundaries
no arrangement of the orchestration moves: SQLite executing the statements a run issues,
and the file system creating the one file a task writes. What is left is the cost of
codeframe's own Python (and asyncio's). Kernel and user CPU come from ``getrusage``.

For the length of one run it wraps the module-level hooks that every statement and commit
of a codeframe connection passes through (``codeframe.persistence.group_commit``'s
``_execute``, ``_commit`` and ``_rollback``) and the function that creates a lone new file
(``codeframe.core.file_create.create_alone``, which ``apply_file_changes`` calls through its
module), and puts them back afterwards. Reading rows past the first is not timed, and the
wrappers' clock reads count for the storage, so the storage figures are a lower bound on
SQLite's time and an upper bound on the file's, by 0.2 µs a call (about 4 µs a task).

``make bench`` runs it as the ``storage_split`` scenario; alone::

    .venv/bin/python -m benchmarks.scenarios storage_split '{"n": 2000, "c": 50}'
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

from codeframe.core import file_create
from codeframe.persistence import group_commit

P = ParamSpec("P")
T = TypeVar("T")

_SQLITE_HOOKS = ("_execute", "_commit", "_rollback")


@dataclasses.dataclass
class StorageTime:
    """Seconds spent inside SQLite and creating files, and how many calls of each."""

    sqlite_s: float = 0.0
    sqlite_calls: int = 0
    file_s: float = 0.0
    file_calls: int = 0

    def _timed(self, call: Callable[P, T], kind: str) -> Callable[P, T]:
        clock = time.perf_counter

        def timed(*args: P.args, **kwargs: P.kwargs) -> T:
            started = clock()
            try:
                return call(*args, **kwargs)
            finally:
                spent = clock() - started
                if kind == "sqlite":
                    self.sqlite_s += spent
                    self.sqlite_calls += 1
                else:
                    self.file_s += spent
                    self.file_calls += 1

        return timed


@contextlib.contextmanager
def timing_storage() -> Iterator[StorageTime]:
    """Time every SQLite call of codeframe's connections and every lone file create."""
    spent = StorageTime()
    originals: list[tuple[Any, str, Any]] = [
        (group_commit, name, getattr(group_commit, name)) for name in _SQLITE_HOOKS
    ]
    originals.append((file_create, "create_alone", file_create.create_alone))
    try:
        for module, name, original in originals:
            kind = "file" if module is file_create else "sqlite"
            setattr(module, name, spent._timed(original, kind))
        yield spent
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def per_task_us(figures: Mapping[str, Any]) -> dict[str, float]:
    """The split per task, µs: CPU (user + kernel), kernel alone, SQLite, file, the rest."""
    n = figures["tasks"]
    cpu = figures["user_s"] + figures["system_s"]
    rest = cpu - figures["sqlite_s"] - figures["file_s"]
    parts = {
        "cpu": cpu,
        "kernel": figures["system_s"],
        "sqlite": figures["sqlite_s"],
        "file": figures["file_s"],
        "rest": rest,
    }
    return {name: seconds / n * 1e6 for name, seconds in parts.items()}
