"""A group that creates one new file in an existing folder, applied without a journal.

A journal exists to undo a group that a crash left half-applied, and a group of one new file
cannot be half-applied if the file appears in a single step, whole. So its content is written
to an anonymous file (``O_TMPFILE``: an inode with no name, which the kernel frees if the
process dies) in the target's own folder, and then given its name with one ``link``, which
fails rather than replace anything. Before the link the tree is untouched and nothing is
left behind; after it the group is applied. That saves the journal's folder, its file and
the temp file's rename — most of a group's file-system work, and most of a task's cost on
a disk-backed tree.

Anything this cannot do (no ``O_TMPFILE`` on this system or file system, no ``/proc``, a
missing folder to create, the name taken meanwhile) is reported before anything is visible,
and the caller falls back to the journaled group.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING

from codeframe.core import file_ops
from codeframe.core.deferred_signals import SignalGuard
from codeframe.core.file_journal import APPLIED_NOTE, ROLLED_BACK_NOTE

if TYPE_CHECKING:
    from codeframe.core.file_changes import PlannedChange

# A child of file_changes' logger: configuring that one (level, handlers) covers this too.
logger = logging.getLogger("codeframe.core.file_changes.create")

_O_TMPFILE: int | None = getattr(os, "O_TMPFILE", None)

# A link that fails with one of these means "not this way", never "something is wrong":
# the name exists (the journaled group then replaces it, as it always has), /proc is not
# there, or the file system does not link anonymous files.
_FALL_BACK = frozenset(
    {errno.EEXIST, errno.ENOENT, errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK}
)


def applies_to(plan: PlannedChange) -> bool:
    """Whether ``plan`` is a create that this path may try (the caller checks it is alone)."""
    return _O_TMPFILE is not None and plan.action == "create" and plan.data is not None


def create_alone(plan: PlannedChange, *, durable: bool = False) -> bool:
    """Create ``plan``'s file all or nothing; ``False`` (nothing written) if it cannot here.

    An exception once the content is being written carries the same note as a journaled
    group's: applied in full, or rolled back (nothing visible was ever made). ``durable``
    puts the content on disk before the name, and the name on disk before returning.
    """
    assert _O_TMPFILE is not None and plan.data is not None
    target = str(plan.target)
    folder = os.path.dirname(target)
    try:
        fd = os.open(folder, _O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    except OSError:
        # No such folder (it must be made: a journaled step), or O_TMPFILE unsupported
        # here; any real problem shows up again, named, on the journaled path.
        return False
    linked = closed = False
    with SignalGuard() as guard:
        try:
            file_ops.write_all(fd, plan.data)
            if durable:
                os.fsync(fd)
            # From here on signals wait for the guard's exit, so none can land between the
            # link and the note saying it happened.
            guard.deferring = True
            try:
                # linkat(AT_SYMLINK_FOLLOW) through /proc names the open inode; the dir fd
                # only selects linkat (an absolute path ignores it). Fails if the name exists.
                os.link(f"/proc/self/fd/{fd}", target, src_dir_fd=fd)
            except OSError as exc:
                if exc.errno not in _FALL_BACK or _has_name(fd):
                    raise
                closed = True
                interrupt = _close(fd)
                if interrupt is not None:
                    raise interrupt from None
                return False
            linked = True
            if durable:
                file_ops.fsync_folder(folder)
            closed = True  # before the call: a close cut short is never retried here
            os.close(fd)
        except BaseException as cause:
            guard.deferring = True  # a plain store: no handler runs before it
            applied = linked or (not closed and _has_name(fd))
            interrupt = None if closed else _close(fd)
            note = APPLIED_NOTE if applied else ROLLED_BACK_NOTE
            if interrupt is not None and interrupt is not cause:
                cause.add_note(f"codeframe: {interrupt!r} during the clean-up was held back")
            cause.add_note(note)
            guard.note = note
            raise
        guard.note = APPLIED_NOTE
    return True


def _has_name(fd: int) -> bool:
    """Whether the anonymous file got its name: the tree, not our bookkeeping, decides."""
    try:
        return os.fstat(fd).st_nlink > 0
    except OSError:
        return False


def _close(fd: int) -> BaseException | None:
    """Close ``fd`` once; returns the exception that cut the call short, if one did.

    Never retried: a close cut short may have happened, and its number been reused since.
    """
    try:
        os.close(fd)
    except OSError as exc:  # closed anyway: Linux frees the descriptor even then
        logger.warning("could not close an anonymous file's descriptor: %s", exc)
    except BaseException as exc:  # cut short: the caller reports it with the outcome
        return exc
    return None


__all__ = ["applies_to", "create_alone"]
