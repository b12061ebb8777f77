"""WorktreeManager against real git: run start, bases, commits, integration, release, cleanup."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from codeframe.errors import (
    BaseConflictError,
    DetachedHeadError,
    DirtyWorkingTreeError,
    IntegrationRefusedError,
    InvalidInputError,
    NotAGitRepositoryError,
    WorkspaceError,
    WorkspaceUnavailableError,
)
from codeframe.workspaces import (
    CommitInfo,
    Conflict,
    GitIdentity,
    Integrated,
    TaskWorktree,
    WorktreeManager,
)
from tests.workspaces.conftest import (
    assert_repository_sound,
    git,
    git_sync,
    make_repo,
    status,
    worktree_paths,
    write_files,
)


async def finish(
    manager: WorktreeManager, task: int | str, files: dict[str, str], deps: tuple[str, ...] = ()
) -> tuple[TaskWorktree, CommitInfo]:
    """A task that writes ``files`` in its worktree and commits them."""
    wt = await manager.workspace(task, f"Task {task}", deps)
    write_files(wt.project_root, files)
    return wt, await manager.commit(wt, attempts=1, tokens=100)


async def show(repo: Path, rev: str, path: str) -> str:
    return await git(repo, "show", f"{rev}:{path}")


# -- opening a run ---------------------------------------------------------------------------


async def test_outside_a_repository_is_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    with pytest.raises(NotAGitRepositoryError, match="not inside a git repository") as caught:
        await WorktreeManager(folder).open_run()
    assert isinstance(caught.value, WorkspaceUnavailableError)


async def test_a_repository_without_commits_is_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    git_sync(folder, "init", "-q")
    with pytest.raises(NotAGitRepositoryError, match="no commit yet"):
        await WorktreeManager(folder).open_run()


async def test_a_detached_head_is_refused(repo: Path) -> None:
    git_sync(repo, "checkout", "-q", "--detach")
    with pytest.raises(DetachedHeadError, match="detached"):
        await WorktreeManager(repo).open_run()


async def test_a_dirty_tree_is_refused_naming_the_paths(repo: Path) -> None:
    (repo / "app/calc.py").write_text("changed\n")
    (repo / "notes.txt").write_text("new\n")
    (repo / "README.md").write_text("staged\n")
    git_sync(repo, "add", "README.md")
    before = await status(repo)
    with pytest.raises(DirtyWorkingTreeError) as caught:
        await WorktreeManager(repo).open_run()
    assert set(caught.value.paths) == {"app/calc.py", "notes.txt", "README.md"}
    for path in caught.value.paths:
        assert path in str(caught.value)
    assert "commit_dirty=True" in str(caught.value)
    assert await status(repo) == before
    assert (await git(repo, "log", "--format=%s")).splitlines() == ["initial"]


async def test_ignored_files_do_not_make_the_tree_dirty(repo: Path) -> None:
    (repo / "run.log").write_text("ignored by .gitignore\n")
    run = await WorktreeManager(repo).open_run()
    assert run.dirty_commit is None


async def test_commit_dirty_commits_the_changes_first(repo: Path) -> None:
    (repo / "app/calc.py").write_text("changed\n")
    (repo / "notes.txt").write_text("new\n")
    manager = WorktreeManager(repo)
    run = await manager.open_run(commit_dirty=True)
    assert run.dirty_commit == run.base
    assert run.base == (await git(repo, "rev-parse", "HEAD")).strip()
    message = await git(repo, "log", "-1", "--format=%an%n%B")
    assert message.startswith("codeframe\ncodeframe: commit the uncommitted changes")
    assert await status(repo) == ""
    wt = await manager.workspace(1, "sees them")
    assert (wt.project_root / "notes.txt").read_text() == "new\n"
    assert (wt.project_root / "app/calc.py").read_text() == "changed\n"


async def test_our_folder_is_ignored_through_info_exclude(repo: Path) -> None:
    gitignore = (repo / ".gitignore").read_text()
    manager = WorktreeManager(repo)
    run = await manager.open_run()
    wt, _ = await finish(manager, 1, {"app/new.py": "x = 1\n"})
    assert run.worktrees_folder == (repo / ".codeframe/worktrees").resolve()
    assert wt.path.parent == run.worktrees_folder
    assert (repo / ".gitignore").read_text() == gitignore
    exclude = (repo / ".git/info/exclude").read_text()
    assert "/.codeframe/worktrees/" in exclude.splitlines()
    assert await status(repo) == ""  # a worktree with a new file inside ours: invisible
    await manager.release(wt, keep=False)
    await manager.close_run()
    await manager.open_run()
    assert (repo / ".git/info/exclude").read_text() == exclude  # not added twice


async def test_project_in_a_subfolder_of_the_repository(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "mono",
        {"other/keep.txt": "other\n", "proj/app.py": "a = 1\n", "proj/b.py": "b = 1\n"},
    )
    (repo / "other/keep.txt").write_text("the user's work elsewhere in the repository\n")
    manager = WorktreeManager(repo / "proj")
    run = await manager.open_run()  # dirt outside the project does not concern the run
    assert run.project_prefix == "proj"
    assert run.project_root == repo.resolve() / "proj"
    assert run.worktrees_folder == (repo / "proj/.codeframe/worktrees").resolve()
    wt, info = await finish(manager, 1, {"app.py": "a = 2\n"})
    assert wt.project_root == wt.path / "proj"
    assert info.files == ("proj/app.py",)
    assert isinstance(await manager.integrate(wt, info), Integrated)
    assert (repo / "proj/app.py").read_text() == "a = 2\n"
    assert (repo / "other/keep.txt").read_text().startswith("the user's work")
    assert await status(repo) == " M other/keep.txt\n"


async def test_a_project_ignored_by_its_repository_is_unavailable(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "outer", {".gitignore": "work/\n", "a.txt": "a\n"})
    (repo / "work").mkdir()
    with pytest.raises(NotAGitRepositoryError, match="is ignored"):
        await WorktreeManager(repo / "work").open_run()


# -- commits ---------------------------------------------------------------------------------


async def test_commit_message_trailers_stats_and_identity(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    wt = await manager.workspace("7", "Add\nsearch")
    write_files(wt.project_root, {"app/calc.py": "def add(a, b):\n    return a + b + 0\n"})
    write_files(wt.project_root, {"app/search.py": "def find():\n    return []\n"})
    (wt.project_root / "app/text.py").unlink()
    info = await manager.commit(wt, attempts=3, tokens=5400)
    assert info.branch == "codeframe/task-7" == wt.branch
    assert info.message == (
        "Add search\n\nCodeframe-Task: 7\nCodeframe-Attempts: 3\nCodeframe-Tokens: 5400\n"
    )
    assert set(info.files) == {"app/calc.py", "app/search.py", "app/text.py"}
    assert (info.insertions, info.deletions) == (3, 3)
    assert info.parent == wt.base
    assert (await git(repo, "rev-parse", "codeframe/task-7")).strip() == info.sha
    logged = await git(
        repo, "log", "-1", "--format=%an <%ae>|%cn|%(trailers:key=Codeframe-Task,valueonly)",
        info.sha,
    )  # fmt: skip
    assert logged.strip() == "codeframe <codeframe@localhost>|codeframe|7"
    assert await status(wt.path) == ""


async def test_an_empty_change_still_commits(repo: Path) -> None:
    manager = WorktreeManager(repo)
    run = await manager.open_run()
    wt = await manager.workspace(1, "nothing to do")
    info = await manager.commit(wt, attempts=1, tokens=0)
    assert info.files == () and info.parent == run.base
    tree = await git(repo, "rev-parse", f"{info.sha}^{{tree}}", f"{run.base}^{{tree}}")
    first, second = tree.split()
    assert first == second


async def test_a_configured_identity_is_used(repo: Path) -> None:
    manager = WorktreeManager(repo, identity=GitIdentity("Bot", "bot@example.com"))
    await manager.open_run()
    _, info = await finish(manager, 1, {"a.txt": "a\n"})
    who = await git(repo, "log", "-1", "--format=%an <%ae> %cn <%ce>", info.sha)
    assert who.strip() == "Bot <bot@example.com> Bot <bot@example.com>"


# -- bases -----------------------------------------------------------------------------------


async def test_bases_hold_dependencies_only_whatever_the_finishing_order(tmp_path: Path) -> None:
    trees = []
    for order in (("A", "B", "D"), ("D", "B", "A")):
        repo = make_repo(tmp_path / "".join(order))
        manager = WorktreeManager(repo)
        await manager.open_run()
        done: dict[str, CommitInfo] = {}
        edits = {
            "A": {"app/calc.py": "def add(a, b):\n    return a + b  # A\n"},
            "B": {"app/text.py": "def shout(s):\n    return s.upper()  # B\n"},
            "D": {"README.md": "# unrelated D\n"},
        }
        for task in order:
            wt, done[task] = await finish(manager, task, edits[task])
            assert isinstance(await manager.integrate(wt, done[task]), Integrated)
            await manager.release(wt, keep=False)
        wt = await manager.workspace("C", "needs A and B", (done["A"].sha, done["B"].sha))
        assert (wt.project_root / "app/calc.py").read_text().endswith("# A\n")
        assert (wt.project_root / "app/text.py").read_text().endswith("# B\n")
        assert (wt.project_root / "README.md").read_text() == "# sample\n"  # D: not a dep
        trees.append((await git(wt.path, "rev-parse", "HEAD^{tree}")).strip())
        # The same dependencies again give the very same commit.
        again = await manager.workspace("C2", "same deps", (done["A"].sha, done["B"].sha))
        assert again.base == wt.base
    assert trees[0] == trees[1]


async def test_a_chain_of_dependencies_reuses_their_commits(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    wt_a, a = await finish(manager, "A", {"app/a.py": "a = 1\n"})
    await manager.release(wt_a, keep=False)
    wt_b, b = await finish(manager, "B", {"app/b.py": "b = 1\n"}, (a.sha,))
    assert wt_b.base == a.sha  # built straight on A: A itself is the base
    await manager.release(wt_b, keep=False)
    wt_c = await manager.workspace("C", "after both", (a.sha, b.sha))
    assert wt_c.base == b.sha
    assert (wt_c.project_root / "app/a.py").exists() and (wt_c.project_root / "app/b.py").exists()


async def test_dependencies_that_conflict_raise(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    _, a = await finish(manager, "A", {"app/shared.py": "first = 'A'\nsecond = 2\nthird = 3\n"})
    _, b = await finish(manager, "B", {"app/shared.py": "first = 'B'\nsecond = 2\nthird = 3\n"})
    with pytest.raises(BaseConflictError, match=r"app/shared\.py") as caught:
        await manager.workspace("C", "needs both", (a.sha, b.sha))
    assert caught.value.commit == b.sha and caught.value.paths == ("app/shared.py",)


async def test_bad_ids_are_refused(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    with pytest.raises(InvalidInputError, match="cannot name a branch"):
        await manager.workspace("../x", "t")
    with pytest.raises(InvalidInputError, match="not a commit id"):
        await manager.workspace(1, "t", ("--upload-pack=evil",))
    with pytest.raises(WorkspaceError, match="no run is open"):
        await WorktreeManager(repo).workspace(1, "t")


# -- integration -----------------------------------------------------------------------------


async def test_two_tasks_editing_different_files_both_integrate(repo: Path) -> None:
    manager = WorktreeManager(repo)
    run = await manager.open_run()
    wt1, c1 = await finish(manager, 1, {"app/calc.py": "def add(a, b):\n    return b + a\n"})
    wt2, c2 = await finish(manager, 2, {"app/text.py": "def shout(s):\n    return s + '!'\n"})
    first, second = await manager.integrate(wt1, c1), await manager.integrate(wt2, c2)
    assert first == Integrated(c1.sha, fast_forward=True)
    assert isinstance(second, Integrated) and not second.fast_forward
    head = (await git(repo, "rev-parse", "HEAD")).strip()
    assert head == second.sha
    assert (await git(repo, "rev-parse", f"{head}^1", f"{head}^2")).split() == [c1.sha, c2.sha]
    assert "b + a" in await show(repo, "main", "app/calc.py")
    assert "'!'" in await show(repo, "main", "app/text.py")
    assert (repo / "app/calc.py").read_text().endswith("b + a\n")  # the checkout follows
    assert await status(repo) == ""
    assert run.branch == "main"
    await assert_repository_sound(repo)


async def test_concurrent_tasks_all_integrate(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()

    async def task(number: int) -> Integrated | Conflict:
        wt, info = await finish(manager, number, {f"app/feature_{number}.py": f"n = {number}\n"})
        outcome = await manager.integrate(wt, info)
        await manager.release(wt, keep=False)
        return outcome

    outcomes = await asyncio.gather(*(task(n) for n in range(6)))
    assert all(isinstance(outcome, Integrated) for outcome in outcomes)
    for number in range(6):
        assert (repo / f"app/feature_{number}.py").read_text() == f"n = {number}\n"
    assert await status(repo) == ""
    await manager.close_run()
    await assert_repository_sound(repo)


async def test_many_worktrees_created_at_once(repo: Path) -> None:
    # Concurrent `git worktree add`s read each other's half-made admin folders unless
    # they are kept apart ("failed to read .git/worktrees/slot-3/commondir").
    manager = WorktreeManager(repo)
    await manager.open_run()
    for round_ in range(3):
        made = await asyncio.gather(*(manager.workspace(f"{round_}-{n}", "t") for n in range(10)))
        assert len({wt.path for wt in made}) == 10
        for wt in made:
            assert (wt.project_root / "app/calc.py").exists()
            await manager.release(wt, keep=round_ == 0)
    await manager.close_run()
    await assert_repository_sound(repo)


async def test_same_lines_give_one_conflict_and_corrupt_nothing(repo: Path) -> None:
    manager = WorktreeManager(repo)
    run = await manager.open_run()
    (repo / "scratch.txt").write_text("the user's unrelated, untracked work\n")
    wt1, c1 = await finish(manager, 1, {"app/shared.py": "first = 'one'\nsecond = 2\nthird = 3\n"})
    wt2, c2 = await finish(manager, 2, {"app/shared.py": "first = 'two'\nsecond = 2\nthird = 3\n"})
    assert isinstance(await manager.integrate(wt1, c1), Integrated)
    head, before = (await git(repo, "rev-parse", "HEAD")).strip(), await status(repo)
    outcome = await manager.integrate(wt2, c2)
    assert outcome == Conflict(paths=("app/shared.py",), other_task_ids=("1",))
    assert (await git(repo, "rev-parse", "HEAD")).strip() == head  # nothing moved
    assert await status(repo) == before == "?? scratch.txt\n"
    assert (repo / "app/shared.py").read_text().startswith("first = 'one'")
    await manager.release(wt2, keep=True)
    await manager.release(wt1, keep=False)
    await manager.close_run()
    # The conflicting task's branch and worktree are kept, with its commit.
    assert (await git(repo, "rev-parse", wt2.branch)).strip() == c2.sha
    assert [Path(p) for p in await worktree_paths(repo)] == [run.repo_root, wt2.path]
    await assert_repository_sound(repo)


async def test_the_users_uncommitted_changes_survive_integrations(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    # The user goes on working while the run goes.
    (repo / "README.md").write_text("# the user's edit\n")
    (repo / "tests/test_calc.py").write_text("# staged by the user\n")
    git_sync(repo, "add", "tests/test_calc.py")
    (repo / "draft.py").write_text("untracked\n")
    before = await status(repo)
    for number, path in enumerate(("app/calc.py", "app/text.py", "app/new.py")):
        wt, info = await finish(manager, number, {path: f"# task {number}\n"})
        assert isinstance(await manager.integrate(wt, info), Integrated)
        await manager.release(wt, keep=False)
    assert await status(repo) == before
    assert (repo / "README.md").read_text() == "# the user's edit\n"
    assert (repo / "draft.py").read_text() == "untracked\n"
    staged = await git(repo, "diff", "--cached", "--name-only")
    assert staged.split() == ["tests/test_calc.py"]
    assert (repo / "app/new.py").read_text() == "# task 2\n"
    await assert_repository_sound(repo)


async def test_local_changes_to_the_same_file_refuse_cleanly(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    wt, info = await finish(manager, 1, {"app/calc.py": "def add(a, b):\n    return 0\n"})
    (repo / "app/calc.py").write_text("# the user's own edit\n")
    head = (await git(repo, "rev-parse", "HEAD")).strip()
    with pytest.raises(IntegrationRefusedError, match=r"app/calc\.py") as caught:
        await manager.integrate(wt, info)
    assert caught.value.paths == ("app/calc.py",) and caught.value.branch == "main"
    assert (repo / "app/calc.py").read_text() == "# the user's own edit\n"
    assert (await git(repo, "rev-parse", "HEAD")).strip() == head
    assert await status(repo) == " M app/calc.py\n"
    assert (await git(repo, "rev-parse", wt.branch)).strip() == info.sha
    await assert_repository_sound(repo)


async def test_a_branch_not_checked_out_is_moved_with_a_guarded_update(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    git_sync(repo, "checkout", "-q", "-b", "elsewhere")  # the user switches branch mid-run
    wt, info = await finish(manager, 1, {"app/calc.py": "# task\n"})
    outcome = await manager.integrate(wt, info)
    assert isinstance(outcome, Integrated)
    assert (await git(repo, "rev-parse", "main")).strip() == outcome.sha
    assert (await git(repo, "rev-parse", "--abbrev-ref", "HEAD")).strip() == "elsewhere"
    assert (repo / "app/calc.py").read_text().startswith("def add")  # their checkout untouched
    assert await status(repo) == ""


# -- release, close, cleanup -----------------------------------------------------------------


async def test_a_released_worktree_is_reused_clean(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    first = await manager.workspace(1, "leaves a mess")
    write_files(first.project_root, {"app/calc.py": "broken(\n", "junk.py": "x\n"})
    write_files(first.project_root, {"debug.log": "ignored\n", "app/__pycache__/c.pyc": "x"})
    await manager.release(first, keep=False)
    second = await manager.workspace(2, "starts clean")
    assert second.path == first.path  # reused, not created
    assert second.branch == "codeframe/task-2"
    for leftover in ("junk.py", "debug.log", "app/__pycache__"):
        assert not (second.project_root / leftover).exists()
    assert (second.project_root / "app/calc.py").read_text().startswith("def add")
    assert await status(second.path) == ""
    assert len(await worktree_paths(repo)) == 2


async def test_close_run_leaves_the_checkout_and_kept_worktrees_only(repo: Path) -> None:
    manager = WorktreeManager(repo)
    run = await manager.open_run()
    done = []
    for number in range(3):
        wt, info = await finish(manager, number, {f"app/f{number}.py": "x = 1\n"})
        done.append((wt, info))
    failed = await manager.workspace("failed", "did not pass")
    write_files(failed.project_root, {"app/calc.py": "half done\n"})
    for wt, info in done:
        assert isinstance(await manager.integrate(wt, info), Integrated)
        await manager.release(wt, keep=False)
    await manager.release(failed, keep=True)
    await manager.close_run()
    assert [Path(p) for p in await worktree_paths(repo)] == [run.repo_root, failed.path]
    branches = (await git(repo, "branch", "--format=%(refname:short)")).split()
    assert branches == ["codeframe/task-failed", "main"]  # integrated branches are gone
    assert await status(repo) == ""
    assert (failed.project_root / "app/calc.py").read_text() == "half done\n"
    assert manager.run is None
    await assert_repository_sound(repo)


async def test_a_kept_worktree_is_reused_by_the_next_run(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    blocked = await manager.workspace(5, "blocked")
    write_files(blocked.project_root, {"app/calc.py": "half done\n"})
    await manager.release(blocked, keep=True)
    await manager.close_run()
    later = WorktreeManager(repo)  # a new process, a new run
    await later.open_run()
    retry = await later.workspace(5, "blocked, retried")
    assert retry.path == blocked.path
    assert (retry.project_root / "app/calc.py").read_text().startswith("def add")
    assert len(await worktree_paths(repo)) == 2


async def test_cleanup_removes_the_given_finished_tasks(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    kept = {}
    for task in ("a", "b", "c"):
        kept[task] = await manager.workspace(task, task)
        await manager.release(kept[task], keep=True)
    busy = await manager.workspace("d", "still running")
    removed = await manager.cleanup(["a", "b"])
    assert {(r.task_id, r.branch, r.path) for r in removed} == {
        ("a", "codeframe/task-a", kept["a"].path),
        ("b", "codeframe/task-b", kept["b"].path),
    }
    remaining = [Path(p) for p in await worktree_paths(repo)]
    assert kept["c"].path in remaining and busy.path in remaining
    assert kept["a"].path not in remaining and not kept["a"].path.exists()
    everything = await manager.cleanup()
    assert {r.task_id for r in everything} == {"c"}  # "d" is in use
    branches = (await git(repo, "branch", "--format=%(refname:short)")).split()
    assert branches == ["codeframe/task-d", "main"]
    await assert_repository_sound(repo)


async def test_cleanup_without_a_run_removes_leftover_branches(repo: Path) -> None:
    manager = WorktreeManager(repo)
    await manager.open_run()
    wt, _ = await finish(manager, 9, {"a.txt": "a\n"})
    await manager.release(wt, keep=True)
    await manager.close_run()
    git_sync(repo, "worktree", "remove", "--force", str(wt.path))  # the user removed it
    removed = await WorktreeManager(repo).cleanup()
    assert [(r.task_id, r.branch, r.path) for r in removed] == [("9", "codeframe/task-9", None)]
    assert (await git(repo, "branch", "--format=%(refname:short)")).split() == ["main"]


async def test_worktrees_still_in_use_at_close_are_kept_for_the_next_run(repo: Path) -> None:
    manager = WorktreeManager(repo)
    run = await manager.open_run()
    wt = await manager.workspace(1, "never released")
    await manager.close_run()
    assert [Path(p) for p in await worktree_paths(repo)] == [run.repo_root, wt.path]
    await manager.open_run()
    again = await manager.workspace(1, "again")
    assert again.path == wt.path
