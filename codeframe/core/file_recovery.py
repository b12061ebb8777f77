"""Finish the file-change groups a crashed process left behind (SIGKILL, power cut).

Every unfinished group has a folder under :data:`~codeframe.core.file_journal.JOURNAL_DIR`
holding its journal: one that never committed is rolled back to the tree as it was before
it, one that committed has its clean-up completed. A group whose journal is still locked
belongs to a live process and is left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from dataclasses import dataclass
from functools import partial

from codeframe.core import file_ops
from codeframe.core.deferred_signals import SignalGuard
from codeframe.core.file_journal import (
    JOURNAL_DIR,
    Cleanup,
    CorruptJournalError,
    FileGroup,
    read_journal,
)
from codeframe.errors import FileRecoveryError

# A child of file_changes' logger: configuring that one (level, handlers) covers this too.
logger = logging.getLogger("codeframe.core.file_changes.recovery")


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What :func:`recover_file_changes` found under the root and did about it."""

    rolled_back: int = 0  # unfinished groups undone
    completed: int = 0  # applied groups whose clean-up was finished
    in_use: int = 0  # groups a live process is applying right now, left alone
    restored: tuple[str, ...] = ()  # root-relative paths the rollbacks put back or removed
    # Folders of groups killed before their plan was whole or after their journal was
    # removed: nothing in the tree to undo or finish, only scratch to delete.
    cleared: int = 0


def recover_file_changes(project_root: str | os.PathLike[str]) -> RecoveryReport:
    """Finish every group a crash left under ``project_root``: undo or complete it.

    Call it before anything else writes the tree (the lead agent does, at the start of each
    run; :func:`~codeframe.core.file_changes.apply_file_changes` does, before each group):
    it puts the paths of an unfinished group back as they were before it. Raises
    :class:`~codeframe.errors.FileRecoveryError` after doing all it can if a step cannot be
    undone; the journal then stays for the next attempt.
    """
    root = os.path.realpath(project_root)
    hidden = os.path.join(root, JOURNAL_DIR)
    try:
        if not stat.S_ISDIR(os.lstat(hidden).st_mode):
            # Never followed: a link there could point recovery at files outside the root.
            raise FileRecoveryError(
                f"{hidden!r} is not codeframe's journal folder (a link or a file); move it away"
            )
        names = sorted(os.listdir(hidden))
    except FileNotFoundError:
        return RecoveryReport()
    outcomes: list[str] = []
    restored: list[str] = []
    problems: list[str] = []
    with SignalGuard(deferring=True):  # a rollback is never left half-done by a signal
        for name in names:
            outcome, paths, failures = _recover_group(root, name)
            outcomes.append(outcome)
            restored.extend(paths)
            problems.extend(failures)
        if not problems:
            Cleanup().run(
                "remove the journal folder", lambda: file_ops.remove_folder(hidden, if_empty=True)
            )
    report = RecoveryReport(
        rolled_back=outcomes.count("rolled back"),
        completed=outcomes.count("completed"),
        in_use=outcomes.count("in use"),
        restored=tuple(restored),
        cleared=outcomes.count("cleared"),
    )
    if problems:
        raise FileRecoveryError(
            f"could not finish {len(problems)} step(s) of interrupted file-change groups "
            f"(their journals stay in {hidden}): {'; '.join(problems[:5])}",
            report,
        )
    return report


def _recover_group(root: str, name: str) -> tuple[str, list[str], list[str]]:
    """``(outcome, restored paths, problems)`` for the group folder ``name``."""
    folder = os.path.join(root, JOURNAL_DIR, name)
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return "stray", [], [f"{name!r} in {JOURNAL_DIR} is not a group folder"]
    except FileNotFoundError:
        return "gone", [], []  # finished by its own process meanwhile
    group = FileGroup(root, [], group_id=name)
    # No journal: killed before it was made, so nothing was applied.
    with contextlib.suppress(FileNotFoundError):
        group.fd = os.open(group.journal, os.O_RDWR | os.O_CLOEXEC)
    try:
        if group.fd is not None and not file_ops.try_lock(group.fd):
            return "in use", [], []
        return _settle(group, folder)
    finally:
        group.release(Cleanup())  # never keep the lock: the next recovery must get it


def _settle(group: FileGroup, folder: str) -> tuple[str, list[str], list[str]]:
    """Roll back or complete one locked group from what its journal says."""
    try:
        steps, committed = read_journal(group.journal) if group.fd is not None else (None, False)
    except (OSError, CorruptJournalError) as exc:
        return "stray", [], [f"group {group.id}: {exc}"]
    if steps is None:
        # No whole plan: the group was killed before its first visible step, or after its
        # last clean-up one. Either way the folder holds only scratch (temp files, second
        # links to files the group never touched).
        cleanup = Cleanup()
        for entry in os.listdir(folder):
            path = os.path.join(folder, entry)
            cleanup.run(f"remove {path}", partial(file_ops.discard, path))
        group.remove_journal(cleanup)
        return "cleared", [], cleanup.failures
    group.steps = steps
    if committed:
        cleanup = group.finish()
        logger.warning("finished the clean-up of applied file-change group %s", group.id)
        return "completed", [], cleanup.failures
    cleanup = group.roll_back()
    logger.warning("rolled back unfinished file-change group %s (%d steps)", group.id, len(steps))
    return "rolled back", [step.path for step in steps if step.kind != "dir"], cleanup.failures


__all__ = ["RecoveryReport", "recover_file_changes"]
