"""The filesystem operations of a file-change group, each safe to repeat after an interrupt.

An interrupt can land before a syscall, after it, or between it and the line after it, so
the undo of a step reads the tree rather than our bookkeeping, and every removal accepts
that its target may already be gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat

try:
    import fcntl
except ImportError:  # not POSIX: groups still work, only unlocked
    fcntl = None  # type: ignore[assignment]

from codeframe.errors import FileChangeError


def undo_step(root: str, kind: str, path: str, tmp: str | None, backup: str | None) -> None:
    """Undo one journaled step whether or not it (or any part of it) ran; paths root-relative."""
    target = os.path.join(root, path)
    if kind == "dir":
        if os.path.normpath(target) != os.path.normpath(root):  # never the root itself
            remove_folder(target)
        return
    saved = os.path.join(root, backup) if backup else None
    if saved is not None and os.path.lexists(saved):
        # The backup exists only once the original was set aside: put it back.
        if kind == "replace" and same_file(saved, target):
            os.unlink(saved)  # never switched: the backup is a second link to the original
        else:
            os.replace(saved, target)
    elif kind == "new":
        discard(target)
    if tmp is not None:
        discard(os.path.join(root, tmp))
    if saved is not None:
        discard(saved + ".part")


def make_private_folder(path: str) -> None:
    """Make ``path`` (mode 0o700) unless it exists; refuse anything there but a real folder."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    # Never a link or file planted under our name: the journal must stay inside the root.
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        raise FileChangeError(f"{path!r} exists and is not codeframe's journal folder")


def try_lock(fd: int) -> bool:
    """Take the journal's lock; ``False`` if a live process holds it (a kill releases it)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_new_file(path: str, data: bytes, mode: int | None, *, durable: bool) -> None:
    """Create ``path`` with ``data``; ``mode`` for a replaced file, else the umask's.

    ``durable``: the content reaches the disk before the file can be renamed into place.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        write_all(fd, data)
        if mode is not None:
            os.fchmod(fd, mode)
        if durable:
            os.fdatasync(fd)
    finally:
        os.close(fd)


def backup_file(target: str, backup: str, *, durable: bool) -> None:
    """Keep the original of ``target`` at ``backup`` (same file system); whole or absent."""
    try:
        # A hard link keeps the original inode (content, mode, times) at no copying cost.
        os.link(target, backup)
        return
    except OSError:
        pass
    # The copy is completed under another name, so a backup that exists is always whole.
    partial = backup + ".part"
    shutil.copy2(target, partial)
    if durable:
        fd = os.open(partial, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(partial, backup)


def fsync_folder(path: str) -> None:
    """Make the entries made or renamed in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def same_file(a: str, b: str) -> bool:
    try:
        first, second = os.lstat(a), os.lstat(b)
    except FileNotFoundError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_folder(path: str, *, if_empty: bool = False) -> None:
    """Remove an empty folder; with ``if_empty``, a folder still in use is no error."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if not (if_empty and exc.errno in (errno.ENOTEMPTY, errno.EEXIST)):
            raise


__all__ = [
    "backup_file",
    "discard",
    "fsync_folder",
    "make_private_folder",
    "remove_folder",
    "same_file",
    "try_lock",
    "undo_step",
    "write_all",
    "write_new_file",
]
