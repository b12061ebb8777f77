"""Whose file is this? Deciding before SQLite may change a database file we were given.

Opening a file with SQLite read-write is not neutral: switching to WAL rewrites its header,
and a reader of a WAL file leaves ``-wal``/``-shm`` files beside it. So a file is first
looked at without any of that — its header read as bytes, its schema through a read-only
(where possible immutable) connection — and sorted into one of:

- ``missing``: nothing there. It is built aside under a temporary name and linked into
  place, so another process never sees it half made (and two processes creating the same
  path at once cannot both win: ``link`` fails for the second).
- ``empty``: zero bytes, or a SQLite file with no schema at all. Whoever made it may still
  mean to fill it, so it is only adopted when the caller says so.
- ``ours``: it records our schema versions (checked like any open of ours).
- anything else is refused with a ``SchemaError`` naming the file and what is in it.

Write access is checked before the read-write open, so a read-only file or folder is
reported as such, never as "not a SQLite database".
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from codeframe.errors import DatabaseReadOnlyError, SchemaError
from codeframe.persistence import migrations
from codeframe.persistence.sqlite_errors import translate

logger = logging.getLogger(__name__)

_SQLITE_MAGIC = b"SQLite format 3\x00"
_WAL_FORMAT = 2  # header bytes 18–19: 1 = rollback journal, 2 = WAL
_TABLES_SHOWN = 8

FileKind = Literal["missing", "empty", "ours", "foreign"]


@dataclass(frozen=True, slots=True)
class FileState:
    """What :func:`inspect_file` found: the kind, and the tables that decided it."""

    kind: FileKind
    tables: tuple[str, ...] = ()


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _read_header(path: Path, where: str) -> bytes | None:
    """The first 100 bytes, ``None`` if the file does not exist."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(mode):
        raise SchemaError(f"{where} is a folder, not a database file")
    with open(path, "rb") as file:
        return file.read(100)


def _inspection_uri(path: Path) -> tuple[str, bool]:
    """A read-only URI for ``path`` and whether it can see recent, uncheckpointed writes.

    Without a ``-wal`` the main file is the whole database, and ``immutable`` reads it with
    no locks and no side files. With a ``-wal`` and its ``-shm`` (a live or killed writer)
    a plain read-only reader sees everything and creates nothing new. A ``-wal`` without
    its ``-shm``, or a hot rollback journal, would need files created or rewritten to be
    read exactly, so only the main file is read then.
    """
    base = "file:" + quote(os.fsencode(path.absolute()))
    wal, shm = _sidecar(path, "-wal"), _sidecar(path, "-shm")
    if _nonempty(wal) and shm.exists():
        return base + "?mode=ro", True
    pending = _nonempty(wal) or _nonempty(_sidecar(path, "-journal"))
    return base + "?mode=ro&immutable=1", not pending


def _schema(path: Path, where: str) -> tuple[list[str], int, bool]:
    """Table names (ours first checked), count of schema objects, whether that is complete."""
    uri, complete = _inspection_uri(path)
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise translate(exc, where) from exc
    try:
        rows = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
        tables = sorted(
            name for kind, name in rows if kind == "table" and not name.startswith("sqlite_")
        )
        if "schema_migrations" in tables or set(tables) & migrations.OUR_TABLES:
            # Raises for our tables without a version, or a version we do not know.
            migrations.migrate(conn, where=where, apply=False)
        return tables, len(rows), complete
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # a damaged name is not UTF-8
        raise translate(exc, where) from exc
    finally:
        conn.close()


def inspect_file(path: Path, where: str) -> FileState:
    """Classify ``path`` without changing it or creating anything beside it."""
    header = _read_header(path, where)
    if header is None:
        return FileState("missing")
    if not header:
        return FileState("empty")
    if not header.startswith(_SQLITE_MAGIC):
        raise SchemaError(
            f"{where} is not a SQLite database (its first bytes are not the SQLite header); "
            "refusing to touch it"
        )
    tables, objects, complete = _schema(path, where)
    if "schema_migrations" in tables:
        return FileState("ours", tuple(tables))
    if objects == 0:
        if not complete:
            raise SchemaError(
                f"{where} shows no schema but has an unfinished journal beside it "
                f"({path.name}-wal or -journal); open it once with the sqlite3 shell to "
                "recover it, then try again"
            )
        return FileState("empty")
    return FileState("foreign", tuple(tables))


def describe_foreign(state: FileState) -> str:
    """A short list of what a refused file holds, for the error message."""
    names = list(state.tables[:_TABLES_SHOWN])
    more = len(state.tables) - len(names)
    if not names:
        return "schema objects but no tables"
    listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    return f"table{'s' if len(state.tables) > 1 else ''} {listed}"


def _read_only_reason(path: Path) -> str | None:
    """Why SQLite could not write ``path`` (file, folder or mount), ``None`` if it can."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except OSError:
        pass  # no statvfs answer: the access checks below still decide
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is not writable (permissions or an immutable flag)"
    sidecars = [_sidecar(path, "-wal"), _sidecar(path, "-shm")]
    if all(s.exists() and os.access(s, os.W_OK) for s in sidecars):
        return None  # SQLite needs nothing new in the folder
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return (
            f"its folder {path.parent} is not writable "
            "(SQLite keeps its -wal and -shm files beside the database)"
        )
    return None


def check_writable(path: Path, where: str) -> None:
    """Raise ``DatabaseReadOnlyError`` saying why, if SQLite could not write ``path``."""
    reason = _read_only_reason(path)
    if reason is not None:
        raise DatabaseReadOnlyError(
            f"{where} is read-only: {reason}. The file itself may be fine; copy it somewhere "
            "writable or fix its permissions to use it with codeframe"
        )


def _build(aside: Path) -> None:
    # No syncs while building: nobody sees this file until it is linked, and a crash here
    # leaves only the hidden file. WAL is set now, while it is free (the header of an empty
    # file); switching a full file later costs a rollback-journal write with its fsyncs.
    # Closing checkpoints everything into the file; one fsync makes it whole before the link.
    conn = sqlite3.connect(aside)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA journal_mode = WAL")
        migrations.migrate(conn, where=str(aside))
    finally:
        conn.close()
    fd = os.open(aside, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_file(path: Path, where: str) -> bool:
    """Create ``path`` with our schema; ``False`` if another process created it first.

    The schema is built in a hidden file beside it and hard-linked into place, which fails
    if the name exists — so the name never shows a half-made database. On a file system
    without hard links the file is created exclusively and filled in place instead.
    """
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    try:
        # 0o644 before the umask: the mode SQLite itself gives a new database.
        os.close(os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise DatabaseReadOnlyError(
                f"cannot create {where}: its folder {path.parent} is not writable ({exc})"
            ) from exc
        raise
    try:
        _build(aside)
        try:
            os.link(aside, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            return _create_in_place(path, aside)
        return True
    finally:
        for leftover in (aside, _sidecar(aside, "-wal"), _sidecar(aside, "-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _create_in_place(path: Path, built: Path) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as target, open(built, "rb") as source:
        target.write(source.read())
        target.flush()
        os.fsync(target.fileno())
    logger.debug("%s: no hard links here; created the database in place", path)
    return True


__all__ = ["FileState", "check_writable", "create_file", "describe_foreign", "inspect_file"]
