"""run_git and require_git against the real git: output, errors, environment, kill and reap."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from codeframe.errors import (
    GitError,
    GitNotFoundError,
    GitTimeoutError,
    GitVersionError,
    WorkspaceUnavailableError,
)
from codeframe.workspaces import WorktreeManager
from codeframe.workspaces.git import (
    GitIdentity,
    git_environment,
    parse_git_version,
    require_git,
    run_git,
    run_git_uncancelled,
)
from tests.workspaces.conftest import git

# A clean filter that records its pid and git's, then waits: `git add` holds index.lock
# while its filter runs, so it stands for any git command caught half way.
SLOW_FILTER = """#!/bin/sh
echo "$$ $PPID" > "{pids}.tmp" && mv "{pids}.tmp" "{pids}"
{trap}
sleep 60 &
wait
"""


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def is_gone(pid: int, within: float = 5.0) -> bool:
    """SIGKILL is delivered at once but acted on a moment later: poll, within a bound."""
    for _ in range(int(within / 0.01)):
        if not is_alive(pid):
            return True
        await asyncio.sleep(0.01)
    return not is_alive(pid)


async def wait_for_file(path: Path, task: asyncio.Task[object]) -> None:
    for _ in range(1500):  # up to 30 s on a loaded machine
        if path.exists() or task.done():
            return
        await asyncio.sleep(0.02)


def slow_add(
    repo: Path, tmp_path: Path, *, ignore_term: bool = False
) -> tuple[tuple[str, ...], Path]:
    """The arguments of a `git add` that hangs in its filter, and where the pids will be."""
    pids = tmp_path / "pids"
    script = tmp_path / "filter.sh"
    script.write_text(SLOW_FILTER.format(pids=pids, trap="trap '' TERM" if ignore_term else ""))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (repo / ".gitattributes").write_text("*.slow filter=slow\n")
    (repo / "data.slow").write_text("payload\n")
    return ("-c", f"filter.slow.clean={script}", "add", "data.slow"), pids


async def test_output_and_exit_code(repo: Path) -> None:
    result = await run_git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo)
    assert (result.returncode, result.stdout.strip()) == (0, "main")
    failed = await run_git("rev-parse", "--verify", "no-such-ref", cwd=repo, check=False)
    assert failed.returncode != 0
    assert "no-such-ref" in failed.stderr or "Needed a single revision" in failed.stderr


async def test_a_failure_raises_with_the_command_and_stderr(repo: Path) -> None:
    with pytest.raises(GitError) as caught:
        await run_git("checkout", "no-such-branch", cwd=repo)
    assert caught.value.command == ("checkout", "no-such-branch")
    assert caught.value.returncode not in (None, 0)
    assert "no-such-branch" in caught.value.stderr
    assert "no-such-branch" in str(caught.value)


async def test_a_missing_folder_is_a_git_error_not_a_missing_git(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="no such folder") as caught:
        await run_git("status", cwd=tmp_path / "nowhere")
    assert not isinstance(caught.value, GitNotFoundError)


def test_environment_is_clean_and_quiet() -> None:
    env = git_environment(
        {
            "PATH": "/usr/bin",
            "HOME": "/home/u",
            "LANG": "de_DE.UTF-8",
            "ANTHROPIC_API_KEY": "sk-ant-secret",
            "GITHUB_TOKEN": "ghp_x",
            "GIT_DIR": "/elsewhere/.git",
            "GIT_INDEX_FILE": "/elsewhere/index",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "user.name",
            "GIT_CONFIG_VALUE_0": "x",
            "GIT_CONFIG_GLOBAL": "/dev/null",
        },
        overrides=GitIdentity("Bot", "bot@example.com").environment(),
    )
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/home/u"
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null"  # the user's own choice stays
    for gone in ("ANTHROPIC_API_KEY", "GITHUB_TOKEN", "GIT_DIR", "GIT_INDEX_FILE",
                 "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"):  # fmt: skip
        assert gone not in env
    assert env["LC_ALL"] == "C"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_PAGER"] == "cat" and env["GIT_EDITOR"] == "true"
    assert env["GIT_AUTHOR_NAME"] == env["GIT_COMMITTER_NAME"] == "Bot"
    assert env["GIT_AUTHOR_EMAIL"] == env["GIT_COMMITTER_EMAIL"] == "bot@example.com"


async def test_an_inherited_git_dir_does_not_redirect_us(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere" / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(tmp_path / "elsewhere"))
    result = await run_git("rev-parse", "--show-toplevel", cwd=repo)
    assert Path(result.stdout.strip()) == repo.resolve()


async def test_identity_applies_to_our_commits_without_any_configuration(repo: Path) -> None:
    # No identity anywhere: git itself refuses to make one up.
    no_ident = await run_git("var", "GIT_COMMITTER_IDENT", cwd=repo, check=False)
    assert no_ident.returncode != 0
    identity = GitIdentity()
    tree = (await run_git("write-tree", cwd=repo)).stdout.strip()
    made = await run_git("commit-tree", tree, "-m", "x", cwd=repo, env=identity.environment())
    who = await git(repo, "log", "-1", "--format=%an <%ae> / %cn <%ce>", made.stdout.strip())
    assert who.strip() == "codeframe <codeframe@localhost> / codeframe <codeframe@localhost>"


async def test_timeout_kills_git_and_what_it_started_and_leaves_no_lock(
    repo: Path, tmp_path: Path
) -> None:
    adding, pids = slow_add(repo, tmp_path)
    with pytest.raises(GitTimeoutError, match="did not finish within 1 s") as caught:
        await run_git(*adding, cwd=repo, timeout=1)
    assert isinstance(caught.value, TimeoutError)
    filter_pid, git_pid = map(int, pids.read_text().split())
    assert await is_gone(filter_pid)
    assert await is_gone(git_pid)
    assert not (repo / ".git" / "index.lock").exists()
    assert "data.slow" not in await git(repo, "ls-files")  # the index as it was


@pytest.mark.parametrize("ignore_term", [False, True], ids=["terminates", "ignores-sigterm"])
async def test_cancelling_kills_git_reaps_it_and_leaves_no_lock(
    repo: Path, tmp_path: Path, ignore_term: bool
) -> None:
    adding, pids = slow_add(repo, tmp_path, ignore_term=ignore_term)
    call = asyncio.create_task(run_git(*adding, cwd=repo, timeout=120))
    await wait_for_file(pids, call)
    assert not call.done(), "git should be waiting for its filter"
    assert (repo / ".git" / "index.lock").exists()  # caught half way, lock held
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    filter_pid, git_pid = map(int, pids.read_text().split())
    assert await is_gone(git_pid)
    assert await is_gone(filter_pid)
    assert not (repo / ".git" / "index.lock").exists()
    assert "data.slow" not in await git(repo, "ls-files")


async def test_an_uncancelled_command_finishes_before_the_cancel_is_honoured(
    repo: Path, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    script = tmp_path / "filter.sh"
    # Records its pids, then takes a moment before passing the content through.
    script.write_text(f'#!/bin/sh\necho "$$ $PPID" > "{pids}"\nsleep 0.5\ncat\n')
    script.chmod(0o755)
    (repo / ".gitattributes").write_text("*.slow filter=slow\n")
    (repo / "data.slow").write_text("payload\n")
    call = asyncio.create_task(
        run_git_uncancelled("-c", f"filter.slow.clean={script}", "add", "data.slow", cwd=repo)
    )
    await wait_for_file(pids, call)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert "data.slow" in await git(repo, "ls-files")  # git was let finish its work
    assert not (repo / ".git" / "index.lock").exists()


async def test_git_missing_gives_the_clear_error(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    message = "git is not installed or not on PATH; install git, or use isolation='shared'"
    with pytest.raises(GitNotFoundError) as caught:
        await require_git()
    assert str(caught.value) == message
    with pytest.raises(WorkspaceUnavailableError, match="not installed or not on PATH"):
        await WorktreeManager(repo).open_run()


async def test_too_old_a_git_is_refused(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "old-bin"
    fake.mkdir()
    script = fake / "git"
    script.write_text("#!/bin/sh\necho 'git version 2.30.2'\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(GitVersionError, match=r"git 2\.30\.2 is too old.*>= 2\.38"):
        await require_git()
    with pytest.raises(WorkspaceUnavailableError, match="too old"):
        await WorktreeManager(repo).open_run()


async def test_this_machines_git_is_recent_enough() -> None:
    assert await require_git() >= (2, 38, 0)


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("git version 2.39.5\n", (2, 39, 5)),
        ("git version 2.40.GIT", (2, 40, 0)),
        ("git version 2.45.1.windows.1", (2, 45, 1)),
        ("git version 2.38.0 (Apple Git-140)", (2, 38, 0)),
    ],
)
def test_version_parsing(text: str, version: tuple[int, int, int]) -> None:
    assert parse_git_version(text) == version


def test_unreadable_version() -> None:
    with pytest.raises(GitVersionError, match="cannot read"):
        parse_git_version("hello")
