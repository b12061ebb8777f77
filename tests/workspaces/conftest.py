"""Real git repositories in tmp_path, on a machine with no git configuration at all."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from codeframe.workspaces.git import run_git

# Only to build the repositories the tests start from; codeframe brings its own identity.
SETUP_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "user@example.com",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "user@example.com",
}

FILES = {
    "README.md": "# sample\n",
    "app/__init__.py": "",
    "app/calc.py": "def add(a, b):\n    return a + b\n",
    "app/text.py": "def shout(s):\n    return s.upper()\n",
    "app/shared.py": "first = 1\nsecond = 2\nthird = 3\n",
    "tests/test_calc.py": (
        "from app.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    ),
    ".gitignore": "__pycache__/\n*.log\n",
}


@pytest.fixture(autouse=True)
def no_git_configuration(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test runs as on a fresh machine: empty HOME, no global or system git config."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)


def git_sync(repo: Path, *args: str) -> str:
    """Set-up only (fixtures are synchronous): git with a throw-away identity."""
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **SETUP_IDENTITY, "LC_ALL": "C"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def make_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """A repository on branch main with ``files`` committed."""
    root.mkdir(parents=True, exist_ok=True)
    git_sync(root, "init", "-q", "-b", "main")
    write_files(root, FILES if files is None else files)
    git_sync(root, "add", "-A")
    git_sync(root, "commit", "-q", "-m", "initial")
    return root


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


async def git(repo: Path, *args: str) -> str:
    """Assertions read the repository through git itself (no identity needed)."""
    return (await run_git(*args, cwd=repo)).stdout


async def status(repo: Path) -> str:
    return await git(repo, "status", "--porcelain=v1", "--untracked-files=all")


async def worktree_paths(repo: Path) -> list[str]:
    listing = await git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in listing.splitlines() if line.startswith("worktree ")]


async def assert_repository_sound(repo: Path) -> None:
    """No corruption, no merge in progress, nothing locked."""
    await git(repo, "fsck", "--strict", "--no-progress")
    git_dir = Path((await git(repo, "rev-parse", "--absolute-git-dir")).strip())
    assert not (git_dir / "MERGE_HEAD").exists()
    assert not list(git_dir.rglob("*.lock"))
    assert "locked" not in await git(repo, "worktree", "list", "--porcelain")
