"""SQLite persistence: one connection, short transactions, rows handed out as plain dicts.

Access is synchronous on purpose: each method runs its statements (usually one) before it
returns, so a call never holds the event loop for long and its write is visible to the next
read. A ``Database`` belongs to the thread that opened it — the event loop's — and takes no
lock. A write that meets another connection's lock past the short busy timeout raises
``DatabaseBusyError`` having changed nothing; ``codeframe.persistence.retry`` retries it
without blocking the loop.

Outside an event loop every write method commits before it returns. Inside a running loop
the writes of one loop iteration share one commit, made when the loop gets to its next
iteration (``flush()`` commits at once; ``close()`` and interpreter exit commit what is
pending): see :mod:`~codeframe.persistence.group_commit`. ``conn`` keeps sqlite3's default
transaction handling, and raw SQL on it first commits codeframe's pending writes, so it
behaves as usual (``conn.rollback()`` undoes an uncommitted raw UPDATE, never a method's
write) until the next method call commits the connection.

``Database`` is assembled here from parts with one job each: ``store`` (connection,
migrations, transaction helpers), ``group_commit`` (one commit per loop iteration),
``codec`` (validation, encoding, row decoding), ``projects`` (projects and issues),
``tasks``, ``task_status`` (the one writer of a task's status), ``ledger`` (test results,
correction attempts), ``blockers`` (questions, answers, releases), ``commits`` (what tasks
committed), ``llm_calls`` (every model call and its cost), ``runs`` (runs, agents,
assignments) and ``read_models`` (the rows the notebook's frames and panel show).
"""

from __future__ import annotations

from codeframe.persistence.blockers import BlockersMixin
from codeframe.persistence.codec import Row as Row
from codeframe.persistence.commits import CommitsMixin
from codeframe.persistence.ledger import LedgerMixin
from codeframe.persistence.llm_calls import LlmCallsMixin
from codeframe.persistence.projects import ProjectsMixin
from codeframe.persistence.read_models import ReadModelsMixin
from codeframe.persistence.runs import RunsMixin
from codeframe.persistence.task_status import TaskStatusMixin
from codeframe.persistence.tasks import TasksMixin


class Database(
    ProjectsMixin,
    TasksMixin,
    TaskStatusMixin,
    LedgerMixin,
    BlockersMixin,
    CommitsMixin,
    LlmCallsMixin,
    RunsMixin,
    ReadModelsMixin,
):
    """The codeframe SQLite store: schema, validation and every query codeframe makes.

    ``Database(":memory:")`` works; a file path gets its parent folders created, WAL
    journal and ``synchronous=NORMAL`` (commits stay cheap; a power cut may lose the last
    commits but never corrupts the file). A path that does not exist gets a new database;
    an existing file must be ours, or empty with ``adopt_empty=True`` — anything else is
    refused unchanged (see :class:`~codeframe.persistence.store.Store`).
    """


__all__ = ["Database"]
