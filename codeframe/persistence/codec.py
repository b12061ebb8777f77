"""Validation, encoding and row decoding shared by the persistence mixins.

Pure functions and constants with no connection: every value a ``Database`` method writes
passes through one of these first, and every row it hands out is decoded by one. They live
apart from the SQL so each domain module imports only what it needs. Package-internal.
"""

from __future__ import annotations

import json
import logging
import operator
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from codeframe.core.models import (
    BlockerSeverity,
    CaseOutcome,
    ProjectStatus,
    TaskStatus,
    TestCase,
    TestStatus,
    WorkerType,
    parse_depends_on,
)
from codeframe.errors import InvalidInputError
from codeframe.persistence.migrations import AGENT_STATUSES
from codeframe.redaction import redact

# Named after the public module, as before the split, so logging configuration keeps working.
logger = logging.getLogger(__name__)

Row = dict[str, Any]

_TASK_STATUSES = frozenset(TaskStatus)
_PROJECT_STATUSES = frozenset(ProjectStatus)
_TEST_STATUSES = frozenset(TestStatus)
_CASE_OUTCOMES = frozenset(CaseOutcome)
_SEVERITIES = frozenset(BlockerSeverity)
_AGENT_STATUSES = frozenset(AGENT_STATUSES)

# Request keys that may carry credentials; they never reach the llm_calls table.
_SECRET_KEY = re.compile(r"header|api[_-]?key|auth|secret|password|credential", re.IGNORECASE)


# --- validation and encoding -------------------------------------------------------------


def _choice(value: object, allowed: frozenset[str], what: str) -> str:
    if isinstance(value, str) and value in allowed:
        return str(value)
    options = ", ".join(sorted(allowed))
    raise InvalidInputError(f"invalid {what} {value!r}; expected one of: {options}")


def _int_in(value: object, low: int, high: int | None, what: str) -> int:
    # bool is an int to Python but never a count or a priority here. Plain ints take the
    # fast path: this runs for every column of every write.
    number: int | None
    if type(value) is int:
        number = value
    elif isinstance(value, bool):
        number = None
    else:
        try:
            number = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            number = None
    if number is None or number < low or (high is not None and number > high):
        bound = f"{low}–{high}" if high is not None else f"≥ {low}"
        raise InvalidInputError(f"{what} must be an integer {bound}, got {value!r}")
    return number


def _priority(value: object) -> int:
    return _int_in(value, 0, 4, "priority")


def _task_status(value: object) -> str:
    return _choice(value, _TASK_STATUSES, "task status")


#: The seed design's names for the worker types, accepted wherever a worker type is.
_WORKER_ALIASES = {"backend-worker": "backend", "frontend-specialist": "frontend",
                   "test-engineer": "test"}  # fmt: skip
_WORKER_TYPES = frozenset(WorkerType)


def _worker_type(value: object) -> str | None:
    """A task's worker type (either spelling), or ``None`` to let the assigner decide."""
    if value is None or value == "":
        return None
    name = _WORKER_ALIASES.get(str(value).strip().lower(), str(value).strip().lower())
    if name not in _WORKER_TYPES:
        raise InvalidInputError(
            f"unknown worker type {value!r}; expected one of: backend, frontend, test"
        )
    return name


def _budget(value: object) -> float | None:
    """A budget in dollars: a non-negative number, or ``None`` for none of its own."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidInputError(f"a budget must be a non-negative number of dollars, got {value!r}")
    return float(value)


def _flag(value: object) -> int:
    return 1 if value else 0


def _opt_text(value: object) -> str | None:
    return None if value is None else str(value)


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable(text: str) -> str:
    """``text`` as SQLite can store it: valid UTF-8, lone surrogates as ``\\udcff`` escapes.

    A lone surrogate is what Python makes of an undecodable byte in a file name; sqlite3
    refuses to encode it, which would lose the whole row for one character.
    """
    if _encodable(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _opt_storable(value: object) -> str | None:
    return None if value is None else _storable(str(value))


def _folder_key(value: object) -> str | None:
    """The absolute, symlink-free form of a project folder, so two spellings compare equal."""
    if value is None or str(value) == "":
        return None
    return str(Path(str(value)).expanduser().resolve())


def _title(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"a title must be non-empty text, got {value!r}")
    return value


def _encode_depends_on(value: object) -> str:
    """Store dependencies as JSON text whatever form they came in (list, JSON, "1,2")."""
    try:
        ids = parse_depends_on(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"depends_on must list task ids, got {value!r}") from exc
    return json.dumps(ids)


def _decode_depends_on(text: object) -> list[int]:
    try:
        return parse_depends_on(text)
    except (TypeError, ValueError):
        logger.warning("ignoring unparsable depends_on %r", text)
        return []


def _to_json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"value is not JSON-serialisable: {exc}") from exc


def _from_json(text: str | None, default: Any = None) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except ValueError:
        # Raw SQL may have stored plain text; hand it back rather than failing a read.
        logger.warning("column holds invalid JSON; returning it as text")
        return text


def _encode_notes(value: object) -> str:
    if not isinstance(value, list | tuple):
        raise InvalidInputError(f"notes must be a list, got {type(value).__name__}")
    return _to_json(list(value))


def _task_row(row: sqlite3.Row) -> Row:
    task = dict(row)
    raw = task["depends_on"]
    try:
        task["depends_on"] = parse_depends_on(raw)
    except (TypeError, ValueError):
        # Written by raw SQL: kept beside an empty list, so the lead can block the task
        # naming the value instead of running it as if it depended on nothing.
        logger.warning("task %s: unparsable depends_on %r", task.get("id"), raw)
        task["depends_on"] = []
        task["depends_on_invalid"] = raw
    task["can_parallelize"] = bool(task["can_parallelize"])
    task["requires_mcp"] = bool(task["requires_mcp"])
    task["notes"] = _from_json(task["notes"], [])
    return task


def _project_row(row: sqlite3.Row) -> Row:
    project = dict(row)
    project["config"] = _from_json(project["config"])
    return project


def _correction_row(row: sqlite3.Row) -> Row:
    attempt = dict(row)
    if attempt.pop("code_changes_format") == "json":
        attempt["code_changes"] = _from_json(attempt["code_changes"], "")
    return attempt


def _json_row(row: sqlite3.Row, column: str) -> Row:
    data = dict(row)
    data[column] = _from_json(data[column])
    return data


def _case_values(case: TestCase | Mapping[str, Any]) -> tuple[str, str, str, float]:
    if isinstance(case, TestCase):
        node_id, outcome, message, duration = (
            case.node_id,
            case.outcome,
            case.message,
            case.duration,
        )
    elif isinstance(case, Mapping):
        if "node_id" not in case or "outcome" not in case:
            raise InvalidInputError(f"a test case needs node_id and outcome, got {dict(case)!r}")
        node_id, outcome = case["node_id"], case["outcome"]
        message, duration = case.get("message") or "", case.get("duration") or 0.0
    else:
        raise InvalidInputError(f"a test case must be a TestCase or a dict, got {case!r}")
    outcome = _choice(outcome, _CASE_OUTCOMES, "test case outcome")
    return str(node_id), outcome, str(message), float(duration)


def _scrub_request(request: object, secrets: Iterable[str | None] = ()) -> str:
    """The request as JSON without header or credential keys, and no key value anywhere."""
    if not isinstance(request, Mapping):
        raise InvalidInputError(f"request must be a dict, got {type(request).__name__}")
    clean = {k: v for k, v in request.items() if not _SECRET_KEY.search(str(k))}
    text = redact(json.dumps(clean, ensure_ascii=False, default=str), secrets)
    if not _encodable(text):
        # JSON's own escapes keep every character, lone surrogates included, and read back
        # exactly; only the rare request that needs them pays for them.
        text = json.dumps(json.loads(text), ensure_ascii=True)
    return text


_Encoder = Callable[[Any], object]

#: For foreign-key failures: which table a reference names, for the NotFoundError message.
_Ref = tuple[str, str, object]
