"""SQLite's error codes turned into the errors a user can act on.

SQLite reports "locked by someone else", "cannot write" and "not a database" through the
same few exception classes; the extended result code says which it is. Deciding here, by
code rather than by message text, keeps every caller's translation the same.
"""

from __future__ import annotations

import sqlite3

from codeframe.errors import (
    CodeframeError,
    DatabaseBusyError,
    DatabaseReadOnlyError,
    SchemaError,
)

# Primary result codes; the extended codes (e.g. SQLITE_BUSY_SNAPSHOT) keep them in the low byte.
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_BUSY_MESSAGES = ("database is locked", "database table is locked", "database schema is locked")
# What sqlite3 says when a TEXT value's bytes are not UTF-8 (it has no result code for it).
_NOT_UTF8 = "Could not decode to UTF-8"


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` means another connection holds a lock: transient, worth retrying."""
    if isinstance(exc, DatabaseBusyError):
        return True
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = _primary_code(exc)
    if code is not None:
        return code in _BUSY_CODES
    # Raised by hand (tests, older drivers) without a code: fall back to SQLite's wording.
    return str(exc).startswith(_BUSY_MESSAGES)


def is_read_only(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite refusing a write to a file it opened read-only."""
    return _primary_code(exc) == sqlite3.SQLITE_READONLY


def translate(exc: sqlite3.Error | UnicodeDecodeError, where: str) -> Exception:
    """The codeframe error for a SQLite error about the database at ``where``.

    Errors with no better name are returned unchanged, so callers can ``raise`` the result
    either way.
    """
    if isinstance(exc, CodeframeError):
        return exc
    if isinstance(exc, UnicodeDecodeError) or str(exc).startswith(_NOT_UTF8):
        return SchemaError(
            f"{where} holds text that is not UTF-8 (a damaged file, or one another program "
            f"wrote): {exc}"
        )
    if is_busy(exc):
        return DatabaseBusyError(
            f"{where} is locked by another connection (waited out the busy timeout): {exc}; "
            "the write did not happen and can be retried"
        )
    if is_read_only(exc):
        return DatabaseReadOnlyError(f"{where} is read-only: {exc}")
    code = _primary_code(exc)
    if code == sqlite3.SQLITE_NOTADB:
        return SchemaError(f"{where} is not a SQLite database: {exc}")
    if code == sqlite3.SQLITE_CORRUPT:
        return SchemaError(f"{where} is a damaged SQLite database: {exc}")
    return exc


__all__ = ["is_busy", "is_read_only", "translate"]
