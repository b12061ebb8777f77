"""Where a task's CPU goes: cProfile figures divided by the number of tasks.

The per-task cost c is paid serially on one loop, so the report names the costs to cut.
cProfile slows Python code down, so the figures are for ranking; the unprofiled CPU per
task is reported beside them.
"""

from __future__ import annotations

import cProfile
import pstats
import re
from collections import Counter
from pathlib import PurePath
from typing import Any

_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def short_path(path: str) -> str:
    """A readable module path: ``anthropic/types/message.py``, ``asyncio/tasks.py``."""
    parts = PurePath(path).parts
    if "site-packages" in parts:
        return "/".join(parts[parts.index("site-packages") + 1 :])
    for anchor in ("codeframe", "benchmarks"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) :])
    for i, part in enumerate(parts):
        if part.startswith("python3"):
            return "/".join(parts[i + 1 :])
    return path


def _name(file: str, line: int, func: str) -> str:
    if file == "~":  # a builtin, e.g. <method 'commit' of 'sqlite3.Connection' objects>
        # A C method called through a subclass shows as "<function X at 0x…>": no address.
        return _ADDRESS.sub("", func)
    return f"{short_path(file)}:{line}({func})"


def area(file: str) -> str:
    """Which part of the code a profiled function's file belongs to: a codeframe package
    (``codeframe/agents``), or a module of the standard library or a dependency."""
    name = short_path(file)
    parts = name.split("/")
    if parts[0] == "codeframe":
        return "/".join(parts[:2]) if len(parts) > 2 else name
    return parts[0].removesuffix(".py")


def self_time_by_area(profiler: cProfile.Profile, n_tasks: int) -> dict[str, float]:
    """Self time per task (µs) by :func:`area`, largest first. A C function's time counts
    for the area that called it: SQLite's work for persistence, a syscall for its caller."""
    spent: Counter[str] = Counter()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (file, _, _), (_, _, self_s, _, callers) in stats.items():
        if file != "~":
            spent[area(file)] += self_s
            continue
        for (caller_file, _, _), edge in callers.items():
            spent[area(caller_file) if caller_file != "~" else "C, called from C"] += edge[2]
    return {name: value / n_tasks * 1e6 for name, value in spent.most_common()}


def top_costs(profiler: cProfile.Profile, n_tasks: int, limit: int = 10) -> dict[str, Any]:
    """The largest self-time costs overall, codeframe's functions by cumulative time, and
    self time by area.

    Times are µs per task; ``calls`` per task counts each resumption of a coroutine.
    """
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_, calls, self_s, cum_s, _callers) in stats.items():
        rows.append(
            {
                "name": _name(file, line, func),
                "codeframe": "codeframe" in PurePath(file).parts,
                "calls": calls / n_tasks,
                "self_us": self_s / n_tasks * 1e6,
                "cum_us": cum_s / n_tasks * 1e6,
            }
        )
    by_self = sorted(rows, key=lambda r: r["self_us"], reverse=True)[:limit]
    ours = sorted((r for r in rows if r["codeframe"]), key=lambda r: r["cum_us"], reverse=True)
    return {
        "self": by_self,
        "codeframe_cumulative": ours[:limit],
        "areas": self_time_by_area(profiler, n_tasks),
    }


__all__ = ["area", "self_time_by_area", "short_path", "top_costs"]
