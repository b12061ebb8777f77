"""The journal that keeps one group of file changes all-or-nothing, and its on-disk format.

A group runs in four phases, each written so that a rollback never needs to know how far
the one before it got:

1. **plan** - every step (folder to make, file to create, replace or delete) and the name
   of every scratch file go to ``<root>/.codeframe-journal/<group>/journal`` before
   anything else happens, so the journal is never behind the tree;
2. **prepare** - new contents go to temp files in the group folder, and a file to be
   replaced gets a hard-link backup there; the visible tree is still untouched;
3. **switch** - folders are made and files renamed into place (``os.replace``), deleted
   files renamed into the group folder: the only phase in which the tree changes;
4. **commit** - a commit line is appended to the journal: from that instant the group is
   applied; then the backups and the journal are removed.

What a killed process wrote is in the page cache, which outlives it, so this order alone
makes a group safe from SIGKILL, an OOM kill or a kernel restart. Surviving a power cut
also needs the disk to follow that order: ``durable=True`` fsyncs the journal, the new
contents and the folders at each phase boundary - about ``4 + files + folders`` disk
flushes per group, which is why it is not the default (like the database's
``synchronous=NORMAL``).

Each step's undo (:func:`~codeframe.core.file_ops.undo_step`) is idempotent and reads the
tree, not our bookkeeping, so it is right wherever an interrupt landed. Rollback and
commit clean-up retry an operation an exception cut short; whatever a crash leaves is
finished by :mod:`codeframe.core.file_recovery`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from codeframe.core import file_ops
from codeframe.errors import FileChangeError

if TYPE_CHECKING:
    from codeframe.core.file_changes import PlannedChange

# A child of file_changes' logger: configuring that one (level, handlers) covers this too.
logger = logging.getLogger("codeframe.core.file_changes.journal")

JOURNAL_DIR = ".codeframe-journal"
"""The one folder (directly under the project root) where groups keep journals and backups."""

APPLIED_NOTE = "codeframe: the file-change group was applied in full before this exception"
ROLLED_BACK_NOTE = "codeframe: the file-change group was rolled back; no file was changed"

JOURNAL_FILE = "journal"
_VERSION = 1
_COMMIT_LINE = b'{"commit": true}\n'
# Prefix of scratch files that cannot live in the group folder (a target on another
# file system than the root, where a rename into place would not be atomic).
_SCRATCH_PREFIX = ".codeframe-"
_KINDS = frozenset({"dir", "new", "replace", "delete"})
# An operation that exceptions (not signals: those are deferred) keep cutting short is
# tried this many times before the journal is left for recovery.
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Step:
    """One journaled step; paths are root-relative. ``data``/``mode``/``label`` stay in memory."""

    kind: str  # "dir" | "new" | "replace" | "delete"
    path: str
    tmp: str | None = None
    backup: str | None = None
    data: bytes | None = field(default=None, repr=False)
    mode: int | None = None
    label: str = ""

    def record(self) -> dict[str, str]:
        fields = {"kind": self.kind, "path": self.path, "tmp": self.tmp, "backup": self.backup}
        return {key: value for key, value in fields.items() if value is not None}


class Cleanup:
    """Runs idempotent operations to the end, surviving exceptions raised by the calls."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.interrupt: BaseException | None = None

    def run(self, what: str, operation: Callable[[], None]) -> bool:
        for _ in range(_ATTEMPTS):
            try:
                operation()
                return True
            except OSError as exc:
                self.failures.append(f"{what}: {exc.strerror or exc}")
                logger.error("file-change journal could not %s: %s", what, exc)
                return False
            except BaseException as exc:  # cut short, not failed: the operation may be retried
                self.interrupt = self.interrupt or exc
        self.failures.append(f"{what}: interrupted {_ATTEMPTS} times")
        return False


class FileGroup:
    """One group's journal: plan, prepare and switch it, then commit or roll it back."""

    def __init__(
        self,
        root: str,
        steps: list[Step],
        group_id: str | None = None,
        *,
        durable: bool = False,
    ) -> None:
        self.root = root
        self.steps = steps
        self.durable = durable
        self.id = group_id or secrets.token_hex(8)
        self.folder = os.path.join(root, JOURNAL_DIR, self.id)
        self.journal = os.path.join(self.folder, JOURNAL_FILE)
        self.fd: int | None = None
        self.commit_started = False
        self.committed = False

    @classmethod
    def plan(cls, root: str, plans: Sequence[PlannedChange], *, durable: bool = False) -> FileGroup:
        """The steps for validated changes, with every scratch name chosen in advance."""
        group = cls(root, [], durable=durable)
        prefix = root.rstrip(os.sep) + os.sep  # every target is inside: validated
        devices: dict[str, int | None] = {}  # folder -> its st_dev, None if not a folder

        def device(folder: str) -> int | None:
            if folder not in devices:
                try:  # any other error propagates: nothing is written yet
                    info = os.stat(folder)
                    devices[folder] = info.st_dev if stat.S_ISDIR(info.st_mode) else None
                except (FileNotFoundError, NotADirectoryError):
                    devices[folder] = None
            return devices[folder]

        root_dev = device(root)
        if root_dev is None:
            raise FileChangeError(f"project root {root!r} is not a directory")
        planned: set[str] = set()
        for index, plan in enumerate(plans):
            target = str(plan.target)
            rel, label = target[len(prefix) :], f"{plan.action} {plan.rel}"
            parent = existing = os.path.dirname(target)
            # Never above the root: a step naming the root would be undone by removing it.
            while existing != root and device(existing) is None:
                existing = os.path.dirname(existing)
            scratch = group._scratch_stem(existing, index, device(existing) == root_dev)
            if plan.data is None:
                group.steps.append(Step("delete", rel, backup=scratch + ".bak", label=label))
                continue
            try:
                mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
            except FileNotFoundError:
                mode = None
            if mode is None:
                missing = []
                while parent != existing and parent not in planned:
                    missing.append(parent)
                    parent = os.path.dirname(parent)
                for folder in reversed(missing):  # the top one first
                    planned.add(folder)
                    group.steps.append(Step("dir", folder[len(prefix) :]))
                step = Step("new", rel, tmp=scratch + ".tmp", data=plan.data, label=label)
            else:
                backup = scratch + ".bak"
                step = Step("replace", rel, scratch + ".tmp", backup, plan.data, mode, label)
            group.steps.append(step)
        return group

    def _scratch_stem(self, folder: str, index: int, same_device: bool) -> str:
        """Root-relative stem of a change's scratch files, on the file system of ``folder``."""
        if same_device:
            return os.path.join(JOURNAL_DIR, self.id, str(index))
        # A mount point inside the project: only a rename within it is atomic.
        stem = os.path.join(folder, f"{_SCRATCH_PREFIX}{self.id}-{index}")
        return stem[len(self.root.rstrip(os.sep)) + 1 :]

    def _abs(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    # -- applying --------------------------------------------------------------------

    def prepare(self) -> None:
        """Write the journal, then the temp files and backups; the tree is untouched."""
        hidden = os.path.join(self.root, JOURNAL_DIR)
        file_ops.make_private_folder(hidden)
        os.mkdir(self.folder, 0o700)
        self.fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        # Held while the group lives, so a recovery in another process leaves it alone.
        file_ops.try_lock(self.fd)
        header = {"version": _VERSION, "group": self.id, "pid": os.getpid()}
        line = json.dumps({**header, "steps": [step.record() for step in self.steps]})
        file_ops.write_all(self.fd, line.encode("ascii") + b"\n")
        if self.durable:
            os.fsync(self.fd)

        # When durable, the journal's own entry reaches the disk with the scratch files'
        # below, still before switch(): a crash before then leaves nothing visible to undo.
        scratch_folders = {self.folder, hidden, self.root}
        for step in self.steps:
            if step.tmp is None or step.data is None:
                continue
            tmp = self._abs(step.tmp)
            scratch_folders.add(os.path.dirname(tmp))
            file_ops.write_new_file(tmp, step.data, step.mode, durable=self.durable)
            if step.backup is not None:
                backup = self._abs(step.backup)
                file_ops.backup_file(self._abs(step.path), backup, durable=self.durable)
        if self.durable:
            for folder in scratch_folders:
                file_ops.fsync_folder(folder)

    def switch(self) -> None:
        """Put every change in place (and, when durable, the renames on disk)."""
        touched: set[str] = set()
        for step in self.steps:
            path = self._abs(step.path)
            if step.kind == "dir":
                os.mkdir(path)
            elif step.kind == "delete":
                assert step.backup is not None
                os.replace(path, self._abs(step.backup))
            else:
                assert step.tmp is not None
                os.replace(self._abs(step.tmp), path)
            touched.add(os.path.dirname(path))
            if step.label:
                logger.debug("applied %s", step.label)
        if self.durable:  # every rename on disk before the commit line can be
            for folder in touched:
                file_ops.fsync_folder(folder)

    def commit(self) -> None:
        """Make the group applied for good, then drop its backups and journal."""
        assert self.fd is not None
        self.commit_started = True
        file_ops.write_all(self.fd, _COMMIT_LINE)
        self.committed = True
        if self.durable:
            os.fsync(self.fd)
        cleanup = self.finish()
        if cleanup.interrupt is not None:
            raise cleanup.interrupt

    def abort(self, cause: BaseException) -> str:
        """After ``cause`` cut the group short: finish it if it committed, else undo it.

        Returns the note (also added to ``cause``) that says which of the two happened.
        """
        # The flag can lag the write by a line; the journal on disk is the truth until
        # finish() (which runs only once the flag is set) removes it.
        if self.committed or (self.commit_started and _committed(self.journal)):
            cleanup = self.finish()
            note = APPLIED_NOTE
        else:
            cleanup = self.roll_back()
            note = ROLLED_BACK_NOTE
            logger.warning(
                "file changes rolled back (%d step(s), %d failed) after: %r",
                len(self.steps),
                len(cleanup.failures),
                cause,
            )
            if cleanup.failures:
                note = (
                    "codeframe: the file-change group could not be rolled back completely "
                    f"({'; '.join(cleanup.failures[:3])}); its journal in "
                    f"{os.path.join(JOURNAL_DIR, self.id)} lets recover_file_changes() finish it"
                )
        if cleanup.interrupt is not None and cleanup.interrupt is not cause:
            cause.add_note(f"codeframe: {cleanup.interrupt!r} during the clean-up was held back")
        cause.add_note(note)
        return note

    # -- finishing -------------------------------------------------------------------

    def roll_back(self) -> Cleanup:
        """Undo every step (last first); the journal goes only if all of them worked."""
        cleanup = Cleanup()
        for step in reversed(self.steps):
            cleanup.run(
                f"undo {step.kind} {step.path}",
                partial(file_ops.undo_step, self.root, step.kind, step.path, step.tmp, step.backup),
            )
        if cleanup.failures:
            self.release(cleanup)  # the journal stays, unlocked, for recover_file_changes
        else:
            self.remove_journal(cleanup)
        return cleanup

    def finish(self) -> Cleanup:
        """A committed group's clean-up: its backups, then the journal.

        No temp file is left to remove: every one was renamed into place before the commit.
        """
        cleanup = Cleanup()
        for step in self.steps:
            if step.backup is not None:
                backup = self._abs(step.backup)
                cleanup.run(f"remove {step.backup}", partial(file_ops.discard, backup))
        if cleanup.failures:
            self.release(cleanup)
        else:
            self.remove_journal(cleanup)
        return cleanup

    def release(self, cleanup: Cleanup) -> None:
        """Close the journal (which drops its lock); never closes a descriptor twice."""
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            os.close(fd)
        except OSError as exc:
            logger.warning("could not close the file-change journal: %s", exc)
        except BaseException as exc:
            # Not retried: a close cut short may have happened, and its number be reused.
            cleanup.interrupt = cleanup.interrupt or exc

    def remove_journal(self, cleanup: Cleanup) -> None:
        cleanup.run("remove the journal", lambda: file_ops.discard(self.journal))
        self.release(cleanup)
        cleanup.run("remove the group folder", lambda: file_ops.remove_folder(self.folder))
        hidden = os.path.join(self.root, JOURNAL_DIR)
        cleanup.run(
            "remove the journal folder", lambda: file_ops.remove_folder(hidden, if_empty=True)
        )


class CorruptJournalError(ValueError):
    """A journal whose plan is complete but cannot be read: nothing may be done from it."""


def read_journal(path: str) -> tuple[list[Step] | None, bool]:
    """The plan and whether the group committed; ``None`` if the plan is incomplete.

    An incomplete plan (a crash while it was written) means no step ran. Raises
    :class:`CorruptJournalError` for a complete plan that makes no sense.
    """
    with open(path, "rb") as handle:
        content = handle.read()
    first, newline, rest = content.partition(b"\n")
    if not newline:
        return None, False
    try:
        header: Any = json.loads(first)
        if header.get("version") != _VERSION:
            raise ValueError(f"version {header.get('version')!r}, not {_VERSION}")
        steps = [_step_from_record(record) for record in header["steps"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptJournalError(f"unreadable journal {path!r}: {exc}") from None
    return steps, rest.startswith(_COMMIT_LINE)


def _step_from_record(record: dict[str, Any]) -> Step:
    kind, paths = record["kind"], [record.get(key) for key in ("path", "tmp", "backup")]
    if kind not in _KINDS or not isinstance(paths[0], str) or paths[0] in ("", ".", os.sep):
        raise ValueError(f"bad journal step {record!r:.80}")
    for rel in paths:
        # The journal sits inside the tree, so it is checked like any other input.
        if rel is not None and (
            not isinstance(rel, str) or os.path.isabs(rel) or ".." in rel.split(os.sep)
        ):
            raise ValueError(f"journal path {rel!r:.80} leaves the project")
    return Step(kind, paths[0], paths[1], paths[2])


def _committed(journal: str) -> bool:
    try:
        return read_journal(journal)[1]
    except (OSError, CorruptJournalError):
        return False


__all__ = [
    "APPLIED_NOTE",
    "JOURNAL_DIR",
    "JOURNAL_FILE",
    "ROLLED_BACK_NOTE",
    "Cleanup",
    "CorruptJournalError",
    "FileGroup",
    "Step",
    "read_journal",
]
