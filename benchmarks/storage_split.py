"""How much of a task's CPU the storage takes: SQLite's calls and creating the task's file.

The overhead target is judged on a whole task. This splits a run's CPU into SQLite
executing the statements the run issues (fewer or cheaper statements would move it; the
orchestration around them would not), the file system creating the one file a task writes,
and the rest: codeframe's own Python and asyncio's.

For the length of one run it wraps every way codeframe's code reaches SQLite: the
module-level hooks its statements and commits pass through (``_execute``, ``_commit`` and
``_rollback`` in ``codeframe.persistence.group_commit``, ``_execute`` in
``codeframe.persistence.store``) and the connection's ``executemany``; and the function that
creates a lone new file (``codeframe.core.file_create.create_alone``, called through its
module). Everything is put back afterwards. Each wrapped call is timed with this thread's
CPU clock, once: a hook that runs inside another (an ``executemany`` first committing the
loop's writes) counts for the outer one. Not timed, so counted in the rest: fetching a
result's rows (sqlite3's own cursor, whose methods cannot be wrapped; the statement itself
runs inside ``execute``), the first task's file, whose folder does not exist yet (a
journaled group), and the clock reads: two a call, about 0.3 µs each, one of them inside.

``make bench`` runs it as the ``storage_split`` scenario; alone::

    .venv/bin/python -m benchmarks.scenarios storage_split '{"n": 2000, "c": 50}'
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from codeframe.core import file_create
from codeframe.persistence import group_commit, store

Kind = Literal["sqlite", "file"]

# (owner, attribute): module-level hooks, and the one connection method codeframe calls
# that does not pass through them.
_SQLITE_HOOKS: tuple[tuple[Any, str], ...] = (
    (group_commit, "_execute"),
    (group_commit, "_commit"),
    (group_commit, "_rollback"),
    (store, "_execute"),
    (group_commit.LedgerConnection, "executemany"),
)
_FILE_HOOKS: tuple[tuple[Any, str], ...] = ((file_create, "create_alone"),)


@dataclasses.dataclass
class StorageTime:
    """CPU seconds spent inside SQLite and creating files, and how many calls of each."""

    sqlite_s: float = 0.0
    sqlite_calls: int = 0
    file_s: float = 0.0
    file_calls: int = 0
    #: Files ``create_alone`` created (it declines, creating nothing, where it cannot).
    files_created: int = 0
    #: Whether a timed call is running right now (tests check every statement is inside one).
    inside: bool = dataclasses.field(default=False, compare=False)

    def figures(self) -> dict[str, float | int]:
        """The totals, for a scenario's JSON."""
        return {
            "sqlite_s": self.sqlite_s,
            "sqlite_calls": self.sqlite_calls,
            "file_s": self.file_s,
            "file_calls": self.file_calls,
            "files_created": self.files_created,
        }

    def timed(self, call: Callable[..., Any], kind: Kind) -> Callable[..., Any]:
        """``call``, timed on this thread's CPU clock unless a timed call is already running."""
        clock = time.thread_time

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            if self.inside:
                return call(*args, **kwargs)
            self.inside = True
            started = clock()
            try:
                result = call(*args, **kwargs)
            finally:
                spent = clock() - started
                self.inside = False
                if kind == "sqlite":
                    self.sqlite_s += spent
                    self.sqlite_calls += 1
                else:
                    self.file_s += spent
                    self.file_calls += 1
            if kind == "file" and result is True:
                self.files_created += 1
            return result

        return timed_call


@contextlib.contextmanager
def timing_storage() -> Iterator[StorageTime]:
    """Time every SQLite call of codeframe's connections and every lone file create."""
    spent = StorageTime()
    hooks: list[tuple[Any, str, Kind]] = [(owner, name, "sqlite") for owner, name in _SQLITE_HOOKS]
    hooks += [(owner, name, "file") for owner, name in _FILE_HOOKS]
    # What to put back: the owner's own attribute, or nothing if it was inherited.
    missing = object()
    installed: list[tuple[Any, str, object]] = []
    try:
        for owner, name, kind in hooks:
            original = vars(owner).get(name, missing)
            setattr(owner, name, spent.timed(getattr(owner, name), kind))
            installed.append((owner, name, original))
        yield spent
    finally:
        for owner, name, original in reversed(installed):
            if original is missing:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


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
