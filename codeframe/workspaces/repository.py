"""The repository as the worktree manager sees it: where things are, and git run there.

The layout is found once per manager, from the project root. The manager's git commands
(the base builder's plumbing aside) go through one :class:`Repository`, so each carries
codeframe's identity and timeout, and a command cut short in a task's worktree leaves no
lock behind; listing, pruning and removing worktrees take the admin lock here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codeframe.errors import (
    GitTimeoutError,
    InvalidInputError,
    NotAGitRepositoryError,
    WorkspaceError,
)
from codeframe.workspaces.git import GitResult, run_git, run_git_uncancelled
from codeframe.workspaces.housekeeping import clear_task_locks, is_inside, resolved
from codeframe.workspaces.locks import admin_lock
from codeframe.workspaces.porcelain import WorktreeEntry, is_task_id, parse_worktree_list

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where things are: the user's checkout, its git folders, the project, our folder."""

    toplevel: Path
    git_dir: Path
    common_dir: Path
    prefix: str
    folder: Path
    exclude_file: Path


class Repository:
    """Runs git for one manager in the repository around ``project_root``.

    ``folder`` (relative to the project root, or absolute) is where our worktrees live;
    ``branch_prefix`` names the task branches; ``env`` (codeframe's identity) and
    ``timeout`` apply to every command.
    """

    def __init__(
        self,
        project_root: Path,
        folder: Path,
        *,
        branch_prefix: str,
        env: Mapping[str, str],
        timeout: float,
    ) -> None:
        self.project_root = project_root
        self.folder = folder
        self.branch_prefix = branch_prefix
        self.env = env
        self.timeout = timeout
        self._layout: Layout | None = None

    @property
    def layout(self) -> Layout:
        """The layout found by :meth:`discover`."""
        if self._layout is None:
            raise WorkspaceError("the repository has not been found yet")
        return self._layout

    async def discover(self) -> Layout:
        """Find the repository around the project root (cached for this manager)."""
        if self._layout is not None:
            return self._layout
        result = await run_git(
            "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-dir",
            "--git-common-dir", "--show-prefix",
            cwd=self.project_root, timeout=self.timeout, check=False,
        )  # fmt: skip
        lines = result.stdout.splitlines()
        if result.returncode != 0 or len(lines) < 3:
            said = result.stderr.strip() or "no work tree"
            raise NotAGitRepositoryError(
                f"{self.project_root} is not inside a git repository with a working tree "
                f"({said}); run `git init` and commit, or use isolation='shared'"
            )
        toplevel, git_dir, common_dir = (Path(line) for line in lines[:3])
        prefix = lines[3].strip("/") if len(lines) > 3 else ""
        root = toplevel / prefix if prefix else toplevel
        folder = resolved(self.folder if self.folder.is_absolute() else root / self.folder)
        exclude = await self.git("rev-parse", "--path-format=absolute", "--git-path",
                                 "info/exclude", cwd=toplevel)  # fmt: skip
        self._layout = Layout(
            toplevel=toplevel,
            git_dir=git_dir,
            common_dir=common_dir,
            prefix=prefix,
            folder=folder,
            exclude_file=Path(exclude.stdout.strip()),
        )
        return self._layout

    # -- running git ---------------------------------------------------------------------

    async def git(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        stdin: str | None = None,
        whole: bool = False,
    ) -> GitResult:
        """Run git with our identity, in the user's checkout unless ``cwd`` says otherwise.

        ``whole=True`` for commands on shared state: a cancel waits for them to finish.
        """
        where = cwd if cwd is not None else self.layout.toplevel
        run = run_git_uncancelled if whole else run_git
        return await run(
            *args, cwd=where, env=self.env, timeout=self.timeout, check=check, stdin=stdin
        )

    async def task_git(
        self, worktree: Path, branch: str, *args: str, stdin: str | None = None
    ) -> GitResult:
        """Run git in a task's own worktree; if it is cut short, clear the locks it left.

        git removes its locks on SIGTERM, but not always; only this task works in this
        worktree and on this branch, and the command is dead by now, so its locks are stale.
        """
        try:
            return await self.git(*args, cwd=worktree, stdin=stdin)
        except (asyncio.CancelledError, GitTimeoutError):
            layout = self.layout
            for line in clear_task_locks(worktree, layout.common_dir, branch):
                logger.info("cleared after an interrupted git %s: %s", args[0], line)
            raise

    # -- worktrees and branches ----------------------------------------------------------

    async def worktrees(self) -> list[WorktreeEntry]:
        """Every worktree of the repository, as ``git worktree list`` sees it now."""
        async with admin_lock(self.layout.common_dir).shared():
            listing = await self.git("worktree", "list", "--porcelain", "-z")
        return parse_worktree_list(listing.stdout)

    async def prune(self) -> None:
        async with admin_lock(self.layout.common_dir).exclusive():
            await self.git("worktree", "prune", whole=True)

    async def remove_worktrees(self, paths: Sequence[Path]) -> None:
        for path in paths:
            async with admin_lock(self.layout.common_dir).exclusive():
                done = await self.git("worktree", "remove", "--force", str(path), check=False,
                                      whole=True)  # fmt: skip
            if done.returncode != 0:
                logger.warning("could not remove worktree %s: %s", path, done.stderr.strip())

    async def delete_branches(self, refs: Mapping[str, str]) -> None:
        """Delete ``refs`` (guarded by the commit each should still be at) in one go."""
        if not refs:
            return
        commands = "".join(f"delete {ref} {sha}\n" for ref, sha in refs.items())
        done = await self.git("update-ref", "--stdin", stdin=commands, check=False, whole=True)
        if done.returncode == 0:
            return
        # One moved (the user committed on it?): delete the others, keep that one.
        for ref, sha in refs.items():
            one = await self.git("update-ref", "-d", ref, sha, check=False, whole=True)
            if one.returncode != 0:
                logger.warning("kept branch %s: %s", short_ref(ref), one.stderr.strip())

    def is_ours(self, path: Path) -> bool:
        """Whether ``path`` is one of our worktrees (inside our folder, not the checkout)."""
        layout = self.layout
        return path != layout.toplevel and is_inside(path, layout.folder)

    def task_of(self, ref: str | None) -> str | None:
        """The task id in a task branch's ref name, or None for any other ref."""
        if ref is None:
            return None
        name = ref.removeprefix("refs/heads/")
        if not name.startswith(self.branch_prefix):
            return None
        task = name.removeprefix(self.branch_prefix)
        return task if is_task_id(task) else None


def task_id_text(task_id: int | str) -> str:
    """A task id as the text that names its branch; refuses one a branch cannot carry."""
    text = str(task_id)
    if not is_task_id(text):
        raise InvalidInputError(
            f"task id {text!r} cannot name a branch: use letters, digits, '_' and '-'"
        )
    return text


def short_ref(ref: str | None) -> str | None:
    """``codeframe/task-7`` from ``refs/heads/codeframe/task-7``."""
    return None if ref is None else ref.removeprefix("refs/heads/")


__all__ = ["Layout", "Repository", "short_ref", "task_id_text"]
