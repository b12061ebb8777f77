"""SQLite persistence: the :class:`Database` and its schema migrations."""

from codeframe.persistence.database import Database

__all__ = ["Database"]
