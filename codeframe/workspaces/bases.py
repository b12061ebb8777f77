"""A task's base commit: the run's base plus its dependencies' commits, applied in order.

Built with plumbing only (no working tree), so it costs a few milliseconds and never
depends on which other tasks have finished: the same dependencies in the same order give
the same commit, whatever was integrated meanwhile. That is what makes a task's starting
tree, and so its prompts, independent of timing.

Applying a dependency commit D (parent P) onto the current base C is a cherry-pick: a
three-way merge of C and D with P as the merge base. git 2.39 has no ``merge-tree
--merge-base``, so P is made the merge base by merging D with a helper commit that has C's
tree and P as its only parent. Every commit made here takes its dates and author from D,
so the result is the same object on every run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from codeframe.errors import BaseConflictError, InvalidInputError, WorkspaceError
from codeframe.workspaces.git import GitIdentity, command_error, run_git
from codeframe.workspaces.porcelain import (
    CommitObject,
    is_commit_id,
    parse_commit_object,
    parse_merge_tree,
)

logger = logging.getLogger(__name__)

_FULL_IDS = (40, 64)  # SHA-1, SHA-256


class BaseBuilder:
    """Makes (and remembers) the base commit for each sequence of dependency commits."""

    def __init__(
        self, repo_root: Path, base: str, *, identity: GitIdentity, timeout: float
    ) -> None:
        self.repo_root = repo_root
        self.base = base
        self.identity = identity
        self.timeout = timeout
        self._bases: dict[tuple[str, ...], str] = {(): base}
        self._commits: dict[str, CommitObject] = {}
        self._trees: dict[str, str] = {}

    async def build(self, dependencies: Sequence[str]) -> str:
        """The base commit for ``dependencies`` (commit ids, in dependency order)."""
        wanted = tuple(dependencies)
        for commit in wanted:
            if not is_commit_id(commit):
                raise InvalidInputError(f"not a commit id: {commit!r}")
        done = len(wanted)
        while wanted[:done] not in self._bases:
            done -= 1
        current = self._bases[wanted[:done]]
        for index in range(done, len(wanted)):
            current = await self._apply(current, wanted[index])
            self._bases[wanted[: index + 1]] = current
        return current

    async def _apply(self, current: str, dependency: str) -> str:
        """``current`` with ``dependency``'s change on top (``current`` if already there)."""
        sha = await self._full_id(dependency)
        commit = await self._commit(sha)
        if not commit.parents:
            raise WorkspaceError(f"dependency commit {sha} has no parent; cannot apply it")
        parent = commit.parents[0]
        if parent == current:
            return sha  # a dependency built straight on this base: use it as it is
        current_tree = await self._tree(current)
        dated = self._dated(commit)
        helper = await self._git(
            "commit-tree", current_tree, "-p", parent, "-m", "codeframe: merge base helper",
            env=dated,
        )  # fmt: skip
        merged = await run_git(
            "merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", helper, sha,
            cwd=self.repo_root, timeout=self.timeout, check=False,
        )  # fmt: skip
        if merged.returncode not in (0, 1):
            raise command_error(("merge-tree", helper, sha), merged)
        tree, conflicts = parse_merge_tree(merged.stdout)
        if merged.returncode == 1:
            raise BaseConflictError(
                f"dependency commit {sha[:12]} does not apply on top of the ones before it: "
                f"conflict in {', '.join(conflicts)}",
                commit=sha,
                paths=conflicts,
            )
        if tree == current_tree:
            return current  # its change is already in (an earlier dependency carried it)
        copy = await self._git("commit-tree", tree, "-p", current, "-F", "-", env=dated,
                               stdin=commit.message)  # fmt: skip
        self._trees[copy] = tree
        return copy

    def _dated(self, commit: CommitObject) -> dict[str, str]:
        """Author and dates of ``commit`` (committer: our identity), for reproducible copies."""
        return {
            **self.identity.environment(),
            "GIT_AUTHOR_NAME": commit.author_name,
            "GIT_AUTHOR_EMAIL": commit.author_email,
            "GIT_AUTHOR_DATE": f"@{commit.author_date}",
            "GIT_COMMITTER_DATE": f"@{commit.committer_date}",
        }

    async def _full_id(self, commit: str) -> str:
        if len(commit) in _FULL_IDS:
            return commit
        return await self._git("rev-parse", "--verify", "--end-of-options", f"{commit}^{{commit}}")

    async def _commit(self, sha: str) -> CommitObject:
        if sha not in self._commits:
            text = await run_git("cat-file", "commit", sha, cwd=self.repo_root,
                                 timeout=self.timeout)  # fmt: skip
            self._commits[sha] = parse_commit_object(text.stdout)
            self._trees[sha] = self._commits[sha].tree
        return self._commits[sha]

    async def _tree(self, commit: str) -> str:
        if commit not in self._trees:
            self._trees[commit] = await self._git("rev-parse", "--verify", f"{commit}^{{tree}}")
        return self._trees[commit]

    async def _git(
        self, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
    ) -> str:
        result = await run_git(
            *args, cwd=self.repo_root, env=env, timeout=self.timeout, stdin=stdin
        )
        return result.stdout.strip()


__all__ = ["BaseBuilder"]
