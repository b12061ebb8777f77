"""What a stopped, cancelled or killed run leaves behind, and how the next run recovers."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from codeframe.testing.environment import is_secret_name
from codeframe.workspaces import Conflict, Integrated, TaskWorktree, WorktreeManager
from tests.workspaces.conftest import (
    assert_repository_sound,
    git,
    git_sync,
    status,
    worktree_paths,
    write_files,
)

CHILD = Path(__file__).with_name("integrating_child.py")


def admin_folder(repo: Path, worktree: Path) -> Path:
    """The worktree's folder inside .git/worktrees (its `.git` file points there)."""
    return Path((worktree / ".git").read_text().split("gitdir:", 1)[1].strip())


def age(path: Path, seconds: float) -> None:
    moment = time.time() - seconds
    os.utime(path, (moment, moment))


def git_processes_in(folder: Path) -> list[int]:
    """Pids of live processes working inside ``folder`` (orphans of a killed run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == folder or folder in cwd.parents:
            found.append(int(entry.name))
    return found


async def test_open_run_removes_what_a_killed_run_left(repo: Path) -> None:
    dead = WorktreeManager(repo)
    await dead.open_run()
    kept = await dead.workspace(1, "was running")
    pooled = await dead.workspace(2, "was done")
    half = await dead.workspace(3, "was being created")
    await dead.release(pooled, keep=False)
    # What SIGKILL can leave: git's locks in our worktrees and branches, a worktree whose
    # `git worktree add` never finished, and locks in the user's repository.
    (admin_folder(repo, kept.path) / "index.lock").write_text("")
    (admin_folder(repo, kept.path) / "HEAD.lock").write_text("")
    (repo / ".git/refs/heads/codeframe/task-1.lock").write_text("")
    (admin_folder(repo, half.path) / "locked").write_text("initializing\n")
    old_index_lock = repo / ".git/index.lock"
    old_index_lock.write_text("")
    age(old_index_lock, 3600)
    young_ref_lock = repo / ".git/refs/heads/main.lock"
    young_ref_lock.write_text("")
    # ...and the user's own lock on one of ours, which is theirs to lift.
    git_sync(repo, "worktree", "lock", "--reason", "inspecting", str(pooled.path))

    run = await WorktreeManager(repo).open_run(stale_locks_before=time.time() - 60)

    removed = "\n".join(run.recovered)
    for lock in ("index.lock", "HEAD.lock", "task-1.lock", "locked"):
        assert lock in removed
    assert str(old_index_lock) in removed
    assert not old_index_lock.exists()
    assert young_ref_lock.exists(), "a lock younger than the moment may be live: left alone"
    assert str(half.path) in removed and not half.path.exists()
    listing = await git(repo, "worktree", "list", "--porcelain")
    assert "locked inspecting" in listing and "initializing" not in listing
    assert kept.path.exists()
    young_ref_lock.unlink()
    git_sync(repo, "worktree", "unlock", str(pooled.path))


async def test_a_user_lock_older_than_the_dead_run_is_not_its_and_stays(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in review: a lock older than the dead run's last heartbeat was removed even when
    it predated the run itself (a `git commit` whose editor was open since before): only the
    dead run's own window counts now."""
    dead = WorktreeManager(repo)
    await dead.open_run()
    users_lock = repo / ".git/index.lock"
    users_lock.write_text("")
    age(users_lock, 3600)  # taken an hour ago, long before the dead run started

    run = await WorktreeManager(repo).open_run(
        stale_locks_before=time.time() - 60, stale_locks_after=time.time() - 600
    )

    assert users_lock.exists()
    assert not any(str(users_lock) in line for line in run.recovered)
    assert f"found {users_lock} (may belong to a git command running now" in caplog.text
    users_lock.unlink()


async def test_the_next_run_reuses_the_dead_runs_worktrees(repo: Path) -> None:
    dead = WorktreeManager(repo)
    await dead.open_run()
    interrupted = await dead.workspace(1, "was running")
    write_files(interrupted.project_root, {"app/calc.py": "half written\n"})
    idle = await dead.workspace(2, "was done")
    await dead.release(idle, keep=False)
    (admin_folder(repo, interrupted.path) / "index.lock").write_text("")

    manager = WorktreeManager(repo)
    await manager.open_run()
    again = await manager.workspace(1, "retried")
    other = await manager.workspace(3, "new")
    assert again.path == interrupted.path
    assert other.path == idle.path
    assert (again.project_root / "app/calc.py").read_text().startswith("def add")
    assert len(await worktree_paths(repo)) == 3
    info = await manager.commit(again, attempts=1, tokens=1)
    assert isinstance(await manager.integrate(again, info), Integrated)


async def test_a_sigkilled_run_is_recovered_by_the_next(repo: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not is_secret_name(name)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(repo), "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert child.stdout is not None
    reported = []
    try:
        async with asyncio.timeout(60):
            while len(reported) < 8:
                line = await child.stdout.readline()
                if not line:
                    assert child.stderr is not None
                    pytest.fail(f"the child died: {(await child.stderr.read()).decode()}")
                reported.append(line.decode().strip())
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    killed_at = time.time()
    # Its git commands were in their own sessions: they finish on their own, unharmed.
    for _ in range(500):
        if not git_processes_in(repo.resolve()):
            break
        await asyncio.sleep(0.02)

    manager = WorktreeManager(repo)
    run = await manager.open_run(stale_locks_before=killed_at)
    assert await status(repo) == ""
    integrated = {path.stem for path in (repo / "app").glob("w*-*.py")}
    assert set(reported) <= integrated
    wt = await manager.workspace("after", "after the kill")
    write_files(wt.project_root, {"app/after.py": "ok = True\n"})
    info = await manager.commit(wt, attempts=1, tokens=1)
    assert isinstance(await manager.integrate(wt, info), Integrated)
    await manager.release(wt, keep=False)
    await manager.close_run()
    await manager.cleanup()  # the dead run's interrupted tasks' worktrees and branches
    assert [Path(p) for p in await worktree_paths(repo)] == [run.repo_root]
    assert (await git(repo, "branch", "--format=%(refname:short)")).split() == ["main"]
    assert await status(repo) == ""
    await assert_repository_sound(repo)


async def cancel_after(
    awaitable: asyncio.Future[object] | asyncio.Task[object], delay: float
) -> bool:
    """Cancel after ``delay`` seconds; True if it was cancelled before it finished."""
    await asyncio.sleep(delay)
    awaitable.cancel()
    try:
        await awaitable
    except asyncio.CancelledError:
        return True
    return False


async def test_cancelled_integrations_leave_nothing_half_done(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    outcomes = []
    for step in range(12):
        wt = await manager.workspace(step, f"step {step}")
        write_files(wt.project_root, {f"app/s{step}.py": f"s = {step}\n"})
        info = await manager.commit(wt, attempts=1, tokens=1)
        before = (await git(repo, "rev-parse", "HEAD")).strip()
        call = asyncio.ensure_future(manager.integrate(wt, info))
        outcomes.append(await cancel_after(call, step * 0.004))
        head = (await git(repo, "rev-parse", "HEAD")).strip()
        if head == before:
            assert not (repo / f"app/s{step}.py").exists()
        else:
            assert (repo / f"app/s{step}.py").read_text() == f"s = {step}\n"
        assert await status(repo) == ""  # never between two states
        assert not list((repo / ".git").rglob("*.lock"))
        await manager.release(wt, keep=False)
    assert any(outcomes), "no integration was caught half way; the test proves nothing"
    wt = await manager.workspace("last", "after the cancels")
    write_files(wt.project_root, {"app/last.py": "x = 1\n"})
    info = await manager.commit(wt, attempts=1, tokens=1)
    assert isinstance(await manager.integrate(wt, info), Integrated)
    await manager.release(wt, keep=False)
    await manager.close_run()
    await assert_repository_sound(repo)


async def test_cancelled_workspace_setups_can_be_retried(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    cancelled = 0
    for step in range(10):
        call = asyncio.ensure_future(manager.workspace("t", "retried"))
        if await cancel_after(call, step * 0.004):
            cancelled += 1
            # git does not always remove its locks on SIGTERM; we must have.
            assert not list((repo / ".git").rglob("*.lock"))
            continue
        wt = call.result()
        assert isinstance(wt, TaskWorktree)
        await manager.release(wt, keep=False)
    assert cancelled, "no setup was caught half way; the test proves nothing"
    wt = await manager.workspace("t", "finally")
    info = await manager.commit(wt, attempts=1, tokens=1)
    outcome = await manager.integrate(wt, info)
    assert isinstance(outcome, Integrated | Conflict)
    await manager.release(wt, keep=False)
    await manager.close_run()
    assert [Path(p) for p in await worktree_paths(repo)] == [repo.resolve()]
    await assert_repository_sound(repo)


async def test_a_git_command_cut_short_in_a_task_worktree_leaves_no_lock(
    repo: Path, tmp_path: Path
) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    wt = await manager.workspace(1, "slow to add")
    pids = tmp_path / "pids"
    script = tmp_path / "filter.sh"
    script.write_text(f'#!/bin/sh\necho "$$" > "{pids}"\nsleep 60 &\nwait\n')
    script.chmod(0o755)
    git_sync(repo, "config", "filter.slow.clean", str(script))
    write_files(wt.project_root, {".gitattributes": "*.slow filter=slow\n", "x.slow": "x\n"})
    call = asyncio.ensure_future(manager.commit(wt, attempts=1, tokens=1))
    for _ in range(1500):
        if pids.exists() or call.done():
            break
        await asyncio.sleep(0.02)
    assert not call.done()
    # SIGTERM does not always make git remove its locks; this one stands for such a leftover.
    (repo / ".git/refs/heads/codeframe/task-1.lock").write_text("")
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert not list((repo / ".git").rglob("*.lock"))
    git_sync(repo, "config", "--unset", "filter.slow.clean")
    (wt.project_root / ".gitattributes").unlink()
    info = await manager.commit(wt, attempts=1, tokens=1)  # the worktree works on
    assert "x.slow" in info.files


@pytest.mark.parametrize("keep", [False, True], ids=["released", "kept"])
async def test_a_stopped_run_leaves_no_stray_worktree_or_lock(repo: Path, keep: bool) -> None:
    manager = WorktreeManager(repo)
    run = await manager.open_run()
    never = asyncio.Event()
    started: list[TaskWorktree] = []

    async def task(number: int) -> None:
        wt = await manager.workspace(number, f"task {number}")
        started.append(wt)
        write_files(wt.project_root, {"app/calc.py": f"# task {number} was here\n"})
        await never.wait()  # the model call that the stop interrupts

    running = [asyncio.create_task(task(n)) for n in range(4)]
    async with asyncio.timeout(60):
        while len(started) < 4:
            failed = [job.exception() for job in running if job.done()]
            assert not failed, failed
            await asyncio.sleep(0.01)
    for job in running:
        job.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    for wt in started:
        await manager.release(wt, keep=keep)
    await manager.close_run()
    expected = [run.repo_root, *(sorted(wt.path for wt in started) if keep else [])]
    assert sorted(Path(p) for p in await worktree_paths(repo)) == sorted(expected)
    assert await status(repo) == ""
    await assert_repository_sound(repo)
    nxt = WorktreeManager(repo)
    await nxt.open_run()
    again = await nxt.workspace(2, "task 2 again")
    assert (again.project_root / "app/calc.py").read_text().startswith("def add")
    if keep:
        assert again.path in {wt.path for wt in started}
