"""The few file operations inside ``.git`` that git has no command for.

Ignoring our folder (``info/exclude``, never the user's ``.gitignore``) and removing the
lock files a killed run left behind. Each is a handful of small reads and unlinks, so they
run inline rather than in a thread.

Why removing a lock is safe here: git holds a ``*.lock`` file only while one command runs
and deletes it when that command ends, usually even on SIGTERM; SIGKILL, a crash, or a
SIGTERM at the wrong moment leaves one behind.
In our own worktrees and branches, only a codeframe run works, and the caller holds the
project's run lock, so any lock found there when a run opens belongs to a dead one. In the
user's repository, someone else's git may be working right now, so a lock there is removed
only when it is older than a moment the caller vouches for (the dead run's last sign of
life): a git command running now would hold a newer one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

# What a killed `git worktree add` leaves in the worktree's `locked` file (C locale).
_ADDING_LOCK = "initializing"


@dataclass(slots=True)
class Recovery:
    """What recovery did: lines for the log, and half-made worktrees still to remove."""

    removed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # suspicious locks too young to touch
    half_made: list[Path] = field(default_factory=list)


def ensure_excluded(exclude_file: Path, pattern: str) -> bool:
    """Add ``pattern`` to a repository's ``info/exclude`` unless it is there; True if added."""
    try:
        lines = exclude_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    if pattern in (line.strip() for line in lines):
        return False
    exclude_file.parent.mkdir(parents=True, exist_ok=True)
    prefix = "" if not lines or lines[-1] == "" else "\n"
    with exclude_file.open("a", encoding="utf-8") as handle:
        handle.write(f"{prefix}# codeframe's task worktrees\n{pattern}\n")
    return True


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or below it (both already resolved)."""
    return path == folder or folder in path.parents


def resolved(path: Path) -> Path:
    return path.resolve()


def make_folder(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


def remove_empty_folder(path: Path) -> None:
    """Remove ``path`` if it exists and is empty; leave it (and say nothing) otherwise."""
    try:
        path.rmdir()
    except OSError:
        logger.debug("kept %s: not empty or already gone", path)


def registered_worktrees(common_dir: Path) -> dict[Path, Path]:
    """Every linked worktree's path (resolved) mapped to its admin folder in ``worktrees/``."""
    found: dict[Path, Path] = {}
    try:
        admins = list((common_dir / "worktrees").iterdir())
    except FileNotFoundError:
        return found
    for admin in admins:
        try:
            gitdir = (admin / "gitdir").read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            continue
        found[Path(gitdir).parent.resolve()] = admin
    return found


def recover_our_locks(common_dir: Path, folder: Path, branch_prefix: str) -> Recovery:
    """Remove every lock a dead run left in our worktrees and on our branches."""
    recovery = Recovery()
    for worktree, admin in registered_worktrees(common_dir).items():
        if not is_inside(worktree, folder):
            continue
        locked = admin / "locked"
        if _read(locked).strip() == _ADDING_LOCK:
            # A `git worktree add` died half way: unlock it so it can be removed.
            _unlink(locked, recovery, "lock of a half-made worktree")
            recovery.half_made.append(worktree)
        for lock in sorted(admin.glob("*.lock")):
            _unlink(lock, recovery, "stale lock in a codeframe worktree")
    ref_folder, _, name_start = f"refs/heads/{branch_prefix}".rpartition("/")
    for lock in sorted((common_dir / ref_folder).glob(f"{_glob_escape(name_start)}*.lock")):
        _unlink(lock, recovery, "stale lock on a codeframe branch")
    return recovery


def clear_task_locks(worktree: Path, common_dir: Path, branch: str) -> list[str]:
    """Remove the locks in one task's worktree and on its branch; say what went."""
    recovery = Recovery()
    admin = _admin_folder(worktree)
    if admin is not None:
        for lock in sorted(admin.glob("*.lock")):
            _unlink(lock, recovery, "left by an interrupted git command")
    _unlink(common_dir / "refs" / "heads" / f"{branch}.lock", recovery,
            "left by an interrupted git command")  # fmt: skip
    return recovery.removed


def _admin_folder(worktree: Path) -> Path | None:
    """The folder in .git/worktrees that a linked worktree's ``.git`` file points to."""
    text = _read(worktree / ".git")
    if not text.startswith("gitdir:"):
        return None
    return Path(text.removeprefix("gitdir:").strip())


def recover_user_locks(
    git_dir: Path,
    common_dir: Path,
    branch: str,
    older_than: float | None,
    *,
    made_after: float | None = None,
) -> Recovery:
    """Remove the user's locks that a dead run's integration could have left, if old enough.

    These are the files an interrupted ``merge --ff-only`` in the checkout or ``update-ref``
    of the integration branch leaves: ``index.lock``, ``HEAD.lock``, ``ORIG_HEAD.lock`` of
    the checkout, the branch's ref lock and ``packed-refs.lock``. With ``older_than=None``
    none is touched; any found is reported in ``left``. A lock made before ``made_after``
    (the dead run's start) cannot be that run's: it is the user's, and is left too.
    """
    recovery = Recovery()
    candidates = [
        git_dir / "index.lock",
        git_dir / "HEAD.lock",
        git_dir / "ORIG_HEAD.lock",
        common_dir / "refs" / "heads" / f"{branch}.lock",
        common_dir / "packed-refs.lock",
    ]
    for lock in candidates:
        try:
            modified = lock.stat().st_mtime
        except FileNotFoundError:
            continue
        if older_than is not None and modified < older_than and modified >= (made_after or 0):
            _unlink(lock, recovery, "stale lock in the repository, older than the dead run")
        else:
            recovery.left.append(f"{lock} (may belong to a git command running now; left alone)")
    return recovery


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return ""


def _unlink(path: Path, recovery: Recovery, why: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    recovery.removed.append(f"{path}: {why}")


def _glob_escape(text: str) -> str:
    return "".join(f"[{char}]" if char in "*?[" else char for char in text)


__all__ = [
    "Recovery",
    "clear_task_locks",
    "ensure_excluded",
    "is_inside",
    "make_folder",
    "recover_our_locks",
    "recover_user_locks",
    "registered_worktrees",
    "remove_empty_folder",
    "resolved",
]
