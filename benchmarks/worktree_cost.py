"""What worktree isolation adds per task: worktree, commit, merge, on a 1,000-file repository.

Runs ``--tasks`` independent tasks one after another through a ``WorktreeManager`` (each
edits one existing file and adds one), once re-pointing pooled worktrees (the default) and
once with a fresh ``git worktree add`` per task, and prints the median and max milliseconds
of each part with the machine's load average::

    .venv/bin/python -m benchmarks.worktree_cost [--files 1000] [--tasks 40] [--think 0]

``--think`` sleeps that many seconds (untimed) between a task's worktree and its commit, as
a model call would: git treats files written within its index's timestamp as "racily
clean" and re-reads them, which a back-to-back loop would otherwise overstate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from codeframe.workspaces import GitIdentity, Integrated, WorktreeManager, require_git, run_git

PARTS = ("workspace", "commit", "integrate", "release")
TARGET_MS = 40.0


PACKAGES = 20


def module_path(index: int) -> str:
    return f"pkg{index % PACKAGES}/module{index}.py"


def write_project(root: Path, files: int) -> None:
    """``files`` small Python modules in up to 20 packages, like a mid-sized project."""
    for index in range(files):
        package = root / f"pkg{index % PACKAGES}"
        package.mkdir(parents=True, exist_ok=True)
        body = "".join(f"def f{n}(x):\n    return x + {n}\n\n" for n in range(10))
        (package / f"module{index}.py").write_text(f'"""Module {index}."""\n\n{body}')


async def make_repository(root: Path, files: int) -> None:
    root.mkdir(parents=True)
    write_project(root, files)
    identity = GitIdentity().environment()
    await run_git("init", "-q", "-b", "main", cwd=root)
    await run_git("add", "-A", cwd=root)
    await run_git("commit", "-q", "-m", "generated project", cwd=root, env=identity)


def git_cpu_ms() -> float:
    """CPU time (user + system) of every child process reaped so far: git's own work."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


class Clock:
    """Wall and git CPU milliseconds of each named step, one step after another."""

    def __init__(self) -> None:
        self.figures: dict[str, float] = {}
        self._wall = time.perf_counter()
        self._cpu = git_cpu_ms()

    def restart(self) -> None:
        self._wall, self._cpu = time.perf_counter(), git_cpu_ms()

    def lap(self, part: str) -> None:
        wall, cpu = time.perf_counter(), git_cpu_ms()
        self.figures[part] = (wall - self._wall) * 1000
        self.figures[f"{part} cpu"] = cpu - self._cpu
        self._wall, self._cpu = wall, cpu


async def one_task(
    manager: WorktreeManager, number: int, files: int, think: float
) -> dict[str, float]:
    """Wall and git CPU times of one task's parts, in milliseconds."""
    clock = Clock()
    wt = await manager.workspace(number, f"task {number}")
    clock.lap("workspace")
    # Each task edits a module no other task edits (while there are enough), and adds one.
    target = wt.project_root / module_path((number * 7) % files)
    if number < files:
        with target.open("a") as handle:
            handle.write(f"\n\ndef added_by_task_{number}():\n    return {number}\n")
    (target.parent / f"new_{number}.py").write_text(f"N = {number}\n")
    if think:
        await asyncio.sleep(think)
    clock.restart()
    info = await manager.commit(wt, attempts=1, tokens=1000)
    clock.lap("commit")
    outcome = await manager.integrate(wt, info)
    clock.lap("integrate")
    if not isinstance(outcome, Integrated):
        raise RuntimeError(f"task {number} did not integrate: {outcome}")
    await manager.release(wt, keep=False)
    clock.lap("release")
    return clock.figures


async def measure_mode(
    folder: Path, *, reuse: bool, files: int, tasks: int, think: float
) -> list[dict[str, float]]:
    root = folder / ("reuse" if reuse else "fresh")
    await make_repository(root, files)
    manager = WorktreeManager(root, reuse_worktrees=reuse)
    await manager.open_run()
    samples = [await one_task(manager, number, files, think) for number in range(tasks)]
    await manager.close_run()
    return samples


def summarise(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per part: median, min and max wall ms and median git CPU ms; plus the targeted total."""
    total = ("workspace", "commit", "integrate")  # the target's "worktree + commit + merge"
    rows = {part: ([s[part] for s in samples], [s[f"{part} cpu"] for s in samples])
            for part in PARTS}  # fmt: skip
    rows["worktree+commit+merge"] = (
        [sum(s[part] for part in total) for s in samples],
        [sum(s[f"{part} cpu"] for part in total) for s in samples],
    )
    rows["all four"] = (
        [sum(s[part] for part in PARTS) for s in samples],
        [sum(s[f"{part} cpu"] for part in PARTS) for s in samples],
    )
    return {
        name: {
            "median": statistics.median(wall),
            "min": min(wall),
            "max": max(wall),
            "cpu_median": statistics.median(cpu),
        }
        for name, (wall, cpu) in rows.items()
    }


async def measure(files: int, tasks: int, think: float, tmp_dir: str | None) -> dict[str, Any]:
    version = await require_git()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="codeframe-worktree-", dir=tmp_dir) as folder:
        modes = {}
        for reuse in (True, False):
            samples = await measure_mode(
                Path(folder), reuse=reuse, files=files, tasks=tasks, think=think
            )
            modes["reuse" if reuse else "fresh add"] = summarise(samples)
    return {
        "git": ".".join(map(str, version)),
        "files": files,
        "tasks": tasks,
        "think_s": think,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "modes": modes,
    }


def print_report(result: dict[str, Any]) -> None:
    print(
        f"worktree isolation cost per task: {result['files']}-file repository, "
        f"{result['tasks']} tasks in sequence, think={result['think_s']:g} s, "
        f"git {result['git']}, {result['cpus']} CPUs"
    )
    before, after = result["load_before"], result["load_after"]
    print(
        f"load average before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
        f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}"
    )
    print("wall ms: elapsed time; git cpu ms: the CPU time git used, which load does not inflate")
    header = f"{'mode':<10}{'part':<24}{'median ms':>10}{'min ms':>9}{'max ms':>9}"
    print(f"{header}{'git cpu ms':>12}")
    for mode, rows in result["modes"].items():
        for part, figures in rows.items():
            print(
                f"{mode:<10}{part:<24}{figures['median']:>10.1f}"
                f"{figures['min']:>9.1f}{figures['max']:>9.1f}{figures['cpu_median']:>12.1f}"
            )
    reuse = result["modes"]["reuse"]["worktree+commit+merge"]["median"]
    verdict = "within" if reuse <= TARGET_MS else "over"
    print(f"reuse: {reuse:.1f} ms median per task, {verdict} the {TARGET_MS:g} ms target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="files in the repository")
    parser.add_argument("--tasks", type=int, default=40, help="tasks per mode")
    parser.add_argument("--think", type=float, default=0.0, help="untimed pause per task, s")
    parser.add_argument("--tmp-dir", default=None, help="where the repositories go")
    arguments = parser.parse_args()
    result = asyncio.run(measure(arguments.files, arguments.tasks, arguments.think,
                                 arguments.tmp_dir))  # fmt: skip
    print_report(result)


if __name__ == "__main__":
    main()
