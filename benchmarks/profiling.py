"""Where a task's CPU goes: cProfile figures divided by the number of tasks.

Used when the efficiency target is missed (the per-task cost c is paid serially
on one loop), so the report can name the costs to cut. cProfile slows Python code down,
so the figures are for ranking; the unprofiled CPU per task is reported beside them.
"""

from __future__ import annotations

import cProfile
import pstats
from pathlib import PurePath
from typing import Any


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
        return func
    return f"{short_path(file)}:{line}({func})"


def top_costs(profiler: cProfile.Profile, n_tasks: int, limit: int = 12) -> dict[str, Any]:
    """The largest self-time costs overall, and codeframe's functions by cumulative time.

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
    return {"self": by_self, "codeframe_cumulative": ours[:limit]}


__all__ = ["short_path", "top_costs"]
