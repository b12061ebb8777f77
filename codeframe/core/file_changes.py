"""Safe application of a model's file changes: validate the whole group, then write it atomically.

The model decides which paths to write, so every path is treated as hostile until proven to
be text the file system can name, to stay inside the project root (symlinks followed),
outside ``.git/`` and codeframe's own folders, and inside the worker's allowed area. Only
when the *whole* group passes is anything written. The path rules live in
:mod:`codeframe.core.change_paths`; the writing itself (a journal, temp files and
``os.replace``) in :mod:`codeframe.core.file_journal`.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from codeframe.core import file_create
from codeframe.core.change_paths import (
    PATH_MAX,
    STATE_DIR,
    is_within,
    normalise_path,
    refuse_reserved,
    resolve_folder,
)
from codeframe.core.deferred_signals import SignalGuard
from codeframe.core.file_journal import APPLIED_NOTE, JOURNAL_DIR, FileGroup
from codeframe.core.file_recovery import RecoveryReport, recover_file_changes
from codeframe.errors import (
    ContentTooLargeError,
    FileChangeError,
    InvalidInputError,
    MissingFileError,
    UnsafePathError,
)

logger = logging.getLogger(__name__)

ACTIONS = frozenset({"create", "modify", "delete"})
DEFAULT_MAX_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class WriteArea:
    """The part of the tree a worker may write, as a predicate on root-relative POSIX paths."""

    description: str
    predicate: Callable[[PurePosixPath], bool]

    def contains(self, rel: PurePosixPath) -> bool:
        return self.predicate(rel if isinstance(rel, PurePosixPath) else PurePosixPath(rel))

    @classmethod
    def anywhere(cls) -> WriteArea:
        return cls("anywhere in the project", lambda rel: True)

    @classmethod
    def under(cls, folder: str) -> WriteArea:
        """Files strictly below ``folder`` (e.g. ``"frontend"`` or ``"web/src"``)."""
        parts = tuple(p for p in folder.replace("\\", "/").split("/") if p not in ("", "."))
        if not parts or ".." in parts or folder.startswith(("/", "\\")):
            raise InvalidInputError(f"area folder must be a relative folder, got {folder!r}")
        depth = len(parts)

        def inside(rel: PurePosixPath) -> bool:
            return len(rel.parts) > depth and rel.parts[:depth] == parts

        return cls(f"files under {'/'.join(parts)}/", inside)

    @classmethod
    def test_files(cls) -> WriteArea:
        """What the test worker may write: ``tests/**``, ``test_*.py``, ``*_test.py``."""
        return cls(
            "test files (tests/**, test_*.py, *_test.py, conftest.py under tests/)",
            _is_test_file,
        )


def _is_test_file(rel: PurePosixPath) -> bool:
    # conftest.py outside tests/ is refused on purpose: it runs for every test in its folder.
    if len(rel.parts) > 1 and rel.parts[0] == "tests":
        return True
    name = rel.name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One validated change: where it lands and the exact bytes to write (``None`` for delete)."""

    path: str
    rel: PurePosixPath
    target: Path
    action: str
    data: bytes | None
    # The directory entry the path names (a symlink's own path); ``target`` may differ.
    entry: Path | None = None


def validate_file_changes(
    project_root: str | os.PathLike[str],
    files: Iterable[Mapping[str, Any]],
    *,
    area: WriteArea | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[PlannedChange]:
    """Check a whole group of changes against the tree as it is now; writes nothing.

    Raises a :class:`~codeframe.errors.FileChangeError` subclass naming the first bad path.
    """
    return _validate_group(os.path.realpath(project_root), project_root, files, area, max_bytes)


def _validate_group(
    root: str,
    project_root: str | os.PathLike[str],
    files: Iterable[Mapping[str, Any]],
    area: WriteArea | None,
    max_bytes: int,
) -> list[PlannedChange]:
    # Plain strings, not Path objects, below: this runs for every change a worker applies.
    if not os.path.isdir(root):
        raise FileChangeError(f"project root {str(project_root)!r} is not a directory")
    area = area or WriteArea.anywhere()

    plans: list[PlannedChange] = []
    seen: dict[str, str] = {}
    for index, change in enumerate(_as_list(files)):
        plan = _validate_one(root, change, index, area, max_bytes)
        # A symlink is one name for two things (deleting it removes the link, writing it
        # writes the file it points to): both count, so neither is touched twice.
        for name in {str(plan.target), str(plan.entry or plan.target)}:
            if name in seen:
                raise FileChangeError(
                    f"{plan.path!r} and {seen[name]!r} name the same file in one group"
                )
            seen[name] = plan.path
        plans.append(plan)

    # A file that another change needs as a folder (create "a" and "a/b") cannot both happen.
    if len(plans) > 1:
        for plan in plans:
            parent = os.path.dirname(plan.target)
            while parent != root and parent.startswith(root):
                if parent in seen:
                    raise FileChangeError(
                        f"{plan.path!r} needs {seen[parent]!r} to be a folder, "
                        "but the same group writes it as a file"
                    )
                parent = os.path.dirname(parent)
    return plans


def _as_list(files: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(files, str | bytes | Mapping) or not isinstance(files, Iterable):
        raise FileChangeError(f"file changes must be a list of dicts, got {type(files).__name__}")
    return list(files)


def _validate_one(
    root: str, change: Mapping[str, Any], index: int, area: WriteArea, max_bytes: int
) -> PlannedChange:
    if not isinstance(change, Mapping):
        raise FileChangeError(f"file change #{index} is not a dict: {change!r:.80}")
    path = change.get("path")
    action = change.get("action")
    if not isinstance(path, str) or not path.strip():
        raise FileChangeError(f"file change #{index} has no path (got {path!r:.80})")
    if action not in ACTIONS:
        raise FileChangeError(
            f"{path!r}: action must be one of create, modify, delete (got {action!r:.40})"
        )

    data: bytes | None = None
    if action != "delete":
        content = change.get("content")
        if not isinstance(content, str):
            raise FileChangeError(f"{path!r}: {action} needs text content (got {content!r:.40})")
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FileChangeError(f"{path!r}: content is not valid Unicode text ({exc})") from exc
        if len(data) > max_bytes:
            raise ContentTooLargeError(
                f"{path!r}: content is {len(data):,} bytes, over the {max_bytes:,}-byte cap"
            )

    rel = normalise_path(path)
    if not area.contains(rel):
        raise UnsafePathError(f"{path!r} is outside the allowed area: {area.description}")

    # Both the folder and the file itself must resolve inside the root, so nothing outside
    # is ever written. (A link that leaves the root and comes back in lands inside; that is
    # allowed, since the write happens where it lands.)
    lexical = os.path.join(root, *rel.parts)
    folder, folder_known = resolve_folder(root, rel.parts[:-1])
    entry = os.path.join(folder, rel.name)
    try:
        entry_mode: int | None = os.lstat(entry).st_mode
    except (FileNotFoundError, NotADirectoryError):
        entry_mode = None
    except OSError as exc:  # no permission, a name too long: unusable either way
        raise FileChangeError(f"{path!r} cannot be used: {exc.strerror}") from exc
    is_link = entry_mode is not None and stat.S_ISLNK(entry_mode)
    target = os.path.realpath(entry) if is_link else entry
    if not (is_within(folder, root) and is_within(target, root)):
        raise UnsafePathError(
            f"path traversal: {path!r} leads outside the project root through a symlink"
        )
    if target == root:
        raise FileChangeError(f"{path!r} names the project root itself, not a file")
    if target != lexical:
        # Checked again on the resolved path: an in-tree link must not reach .git/ or leave
        # the area.
        resolved_rel = PurePosixPath(os.path.relpath(target, root))
        refuse_reserved(path, resolved_rel)
        if not area.contains(resolved_rel):
            raise UnsafePathError(
                f"{path!r} leads (through a symlink) outside the allowed area: {area.description}"
            )
    if len(os.fsencode(target)) > PATH_MAX:
        raise FileChangeError(f"{path!r}: the full path is longer than {PATH_MAX} bytes")

    # Not a link: the entry's own mode is the target's, no second look needed.
    _check_target(
        path, action, target, None if is_link else (entry_mode,), folder_known and not is_link
    )
    if action == "delete" and is_link:
        # Deleting a symlink removes the link (as ``rm`` does), not the file it points to.
        target = entry
    return PlannedChange(
        path=path, rel=rel, target=Path(target), action=action, data=data, entry=Path(entry)
    )


def _check_target(
    path: str,
    action: str,
    target: str,
    known: tuple[int | None] | None = None,
    folder_known: bool = False,
) -> None:
    """Refuse an action the target cannot take; ``known`` holds its mode if already read,
    ``folder_known`` says the target's folder was just seen to be one."""
    if known is not None:
        mode = known[0]
    else:
        try:
            mode = os.stat(target).st_mode
        except (FileNotFoundError, NotADirectoryError):
            mode = None
        except OSError as exc:  # a symlink loop, no permission: the path is unusable anyway
            raise FileChangeError(f"{path!r} cannot be used: {exc.strerror}") from exc

    if action in ("modify", "delete"):
        if mode is None:
            raise MissingFileError(f"cannot {action} {path!r}: the file does not exist")
        if not stat.S_ISREG(mode):
            raise FileChangeError(f"cannot {action} {path!r}: it is not a regular file")
        return
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise FileChangeError(f"cannot create {path!r}: a folder of that name exists")
        if not stat.S_ISREG(mode):
            raise FileChangeError(f"cannot create {path!r}: it exists and is not a regular file")
        return
    if folder_known:
        return
    parent = os.path.dirname(target)
    while not os.path.lexists(parent):  # ends at the root at the latest, which is a folder
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        name = os.path.basename(parent)
        raise FileChangeError(f"cannot create {path!r}: {name!r} is not a folder")


def apply_file_changes(
    project_root: str | os.PathLike[str],
    files: Iterable[Mapping[str, Any]],
    *,
    area: WriteArea | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    durable: bool = False,
) -> list[str]:
    """Validate the whole group, then apply it all or nothing; returns the paths as given.

    Synchronous on purpose: a group is a few small files, cheaper to write than to hand to a
    thread. All or nothing holds for exceptions, Ctrl-C at any moment, and kills:

    * on return, the group is applied and nothing of ours is left in the tree (unless
      removing a backup failed after the commit: that is logged, and the next group or
      :func:`recover_file_changes` finishes the clean-up);
    * an exception raised once writing began carries a note saying the group was applied
      in full (the interrupt came after the commit point), rolled back (the tree is as it
      was), or - if a rollback step itself failed - that its journal is kept for
      :func:`recover_file_changes`; an exception without such a note came before any write
      (an interrupt in the last bytecodes after the group finished is the one exception);
    * a killed process leaves a journal in :data:`JOURNAL_DIR` that
      :func:`recover_file_changes` finishes; it also runs here, before the next group.
      ``durable=True`` extends that to a power cut, at the cost of a few disk flushes.
      A group that only creates one file in an existing folder needs no journal: the file
      gets its name in one step, whole (:mod:`~codeframe.core.file_create`).

    On the main thread, signal handlers are deferred while a rollback or the commit runs, and
    a signal that arrived meanwhile is delivered at the end, carrying the same note.
    """
    root = os.path.realpath(project_root)
    plans = _validate_group(root, project_root, files, area, max_bytes)
    if not plans:
        return []
    if os.path.lexists(os.path.join(root, JOURNAL_DIR)):
        # Never start on a tree that a crash or a failed rollback left half-done.
        recover_file_changes(root)
    # One new file in an existing folder: one link makes it appear whole, no journal.
    alone = len(plans) == 1 and file_create.applies_to(plans[0])
    if alone and file_create.create_alone(plans[0], durable=durable):
        return [plans[0].path]
    group = FileGroup.plan(root, plans, durable=durable)
    with SignalGuard() as guard:
        try:
            group.prepare()
            group.switch()
            guard.deferring = True
            group.commit()
        except BaseException as cause:
            # A plain store first: CPython runs signal handlers only at calls and backward
            # jumps, so none runs between catching ``cause`` and this line, and from here
            # on they wait for the guard's exit.
            guard.deferring = True
            guard.note = group.abort(cause)
            raise
        guard.note = APPLIED_NOTE
    return [plan.path for plan in plans]


__all__ = [
    "ACTIONS",
    "DEFAULT_MAX_BYTES",
    "JOURNAL_DIR",
    "STATE_DIR",
    "PlannedChange",
    "RecoveryReport",
    "WriteArea",
    "apply_file_changes",
    "normalise_path",
    "recover_file_changes",
    "validate_file_changes",
]
