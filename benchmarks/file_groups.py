"""What one file-change group costs: ``apply_file_changes`` timed per kind of group.

Each kind runs ``n`` groups in a fresh project under the given folder (tmpfs and disk give
very different figures: a group's cost is mostly file-system metadata operations)::

    .venv/bin/python -m benchmarks.file_groups [-n 2000] [--tmp-dir /tmp]

Prints the median wall µs and the mean CPU µs (user + system) per group for each kind, and
what entering and leaving a ``SignalGuard`` costs on its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeframe.core.deferred_signals import SignalGuard
from codeframe.core.file_changes import apply_file_changes

Change = dict[str, str]
GroupMaker = Callable[[int], list[Change]]

_TEXT = "Task #1: a small note of about eighty characters, like the benchmark's tasks.\n"


def _new_file(i: int) -> list[Change]:
    return [{"path": f"notes/task_{i}.txt", "action": "create", "content": _TEXT}]


def _new_folder(i: int) -> list[Change]:
    return [{"path": f"pkg_{i}/mod.py", "action": "create", "content": _TEXT}]


def _modify(i: int) -> list[Change]:
    return [{"path": "notes/existing.txt", "action": "modify", "content": f"{_TEXT}{i}\n"}]


def _three_files(i: int) -> list[Change]:
    return [
        {"path": f"src/mod_{i}.py", "action": "create", "content": _TEXT},
        {"path": f"tests/test_mod_{i}.py", "action": "create", "content": _TEXT},
        {"path": "notes/existing.txt", "action": "modify", "content": f"{_TEXT}{i}\n"},
    ]


KINDS: dict[str, GroupMaker] = {
    "one new file": _new_file,
    "one new file in a new folder": _new_folder,
    "one modified file": _modify,
    "two new files and a modified one": _three_files,
}


def time_kind(make: GroupMaker, n: int, folder: str | None) -> dict[str, float]:
    """Median wall and mean CPU µs per group, ``n`` groups in a fresh project."""
    with tempfile.TemporaryDirectory(prefix="codeframe-bench-groups-", dir=folder) as name:
        root = Path(name)
        for sub in ("notes", "src", "tests"):
            (root / sub).mkdir()
        (root / "notes" / "existing.txt").write_text(_TEXT)
        walls = []
        cpu = time.process_time()
        for i in range(n):
            started = time.perf_counter()
            apply_file_changes(root, make(i))
            walls.append(time.perf_counter() - started)
        cpu = time.process_time() - cpu
    return {"wall_us": statistics.median(walls) * 1e6, "cpu_us": cpu / n * 1e6}


def time_signal_guard(n: int = 20000) -> float:
    """Mean µs to enter and leave a ``SignalGuard`` (the handlers of this process)."""
    started = time.perf_counter()
    for _ in range(n):
        with SignalGuard():
            pass
    return (time.perf_counter() - started) / n * 1e6


def measure(n: int, folder: str | None) -> dict[str, Any]:
    return {
        "folder": folder or tempfile.gettempdir(),
        "groups": {kind: time_kind(make, n, folder) for kind, make in KINDS.items()},
        "signal_guard_us": time_signal_guard(),
        "load_1min": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="groups of each kind (default 2000)")
    parser.add_argument("--tmp-dir", help="where the project is made")
    args = parser.parse_args(argv)
    figures = measure(args.n, args.tmp_dir)
    print(f"in {figures['folder']} · load {figures['load_1min']:.2f}")
    for kind, cost in figures["groups"].items():
        print(f"{kind:34} wall {cost['wall_us']:7.1f} µs (median) · cpu {cost['cpu_us']:7.1f} µs")
    print(f"{'SignalGuard enter + exit':34} {figures['signal_guard_us']:7.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
