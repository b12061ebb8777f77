"""A codeframe run reduced to its git work, for a test to SIGKILL half way.

    python integrating_child.py <project root> <workers>

Each worker loops: worktree, a new file, commit, integrate, release; every integration
prints one line ("<task id>") so the test knows how far the run got.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from codeframe.workspaces import Integrated, WorktreeManager


async def worker(manager: WorktreeManager, number: int) -> None:
    round_ = 0
    while True:
        task = f"w{number}-{round_}"
        wt = await manager.workspace(task, f"task {task}")
        (wt.project_root / "app" / f"{task}.py").write_text(f"name = {task!r}\n")
        info = await manager.commit(wt, attempts=1, tokens=1)
        outcome = await manager.integrate(wt, info)
        assert isinstance(outcome, Integrated), outcome
        await manager.release(wt, keep=False)
        print(task, flush=True)
        round_ += 1


async def main(root: Path, workers: int) -> None:
    manager = WorktreeManager(root)
    await manager.open_run()
    async with asyncio.TaskGroup() as group:
        for number in range(workers):
            group.create_task(worker(manager, number))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
