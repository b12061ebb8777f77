"""Released migrations are fixed text, and their CHECK lists match the Python enums exactly."""

from __future__ import annotations

import hashlib
import inspect
import re
import sqlite3
from pathlib import Path

import pytest

from codeframe.core.models import (
    BlockerSeverity,
    BlockerType,
    CaseOutcome,
    ProjectStatus,
    Resolver,
    TaskStatus,
    TestStatus,
    WorkerType,
)
from codeframe.persistence import Database, migration_sql, migrations
from codeframe.persistence.migrations import AGENT_STATUSES, MIGRATIONS

# sha256 of each released migration's statements, whitespace collapsed: a migration that
# files in the wild have applied must never change. Append a new migration instead.
RELEASED = {
    1: ("create_core_tables", "7b9a242e14a616b7"),
    2: ("create_test_tables", "bed62e0e78f27744"),
    3: ("create_llm_calls", "3e29c03f5d022c33"),
    4: ("create_runs_and_agents", "e4567b2196c504ab"),
    5: ("add_run_workspace", "ca9404b6bd186d00"),
    6: ("add_blocker_types", "a28d9637b9efaab6"),
    7: ("add_task_worker_and_cost", "1b0ab327a0a1b637"),
    8: ("add_llm_call_costs", "b6f1f74bc03f1907"),
    9: ("create_commits", "61dd752e230cde93"),
}

COLUMNS: dict[tuple[str, str], frozenset[str]] = {
    ("projects", "status"): frozenset(ProjectStatus),
    ("issues", "status"): frozenset(TaskStatus),
    ("tasks", "status"): frozenset(TaskStatus),
    ("test_results", "status"): frozenset(TestStatus),
    ("test_cases", "outcome"): frozenset(CaseOutcome),
    ("blockers", "severity"): frozenset(BlockerSeverity),
    ("agents", "status"): frozenset(AGENT_STATUSES),
    ("blockers", "blocker_type"): frozenset(BlockerType),
    ("blockers", "resolved_by"): frozenset(Resolver),
    ("tasks", "worker"): frozenset(WorkerType),
}

_CHECK_IN = re.compile(r"CHECK\s*\(\s*(\w+)\s+IN\s*\(([^)]*)\)\s*\)", re.IGNORECASE)


def _normalised(statements: tuple[str, ...]) -> str:
    collapsed = (re.sub(r"\s+", " ", s).replace("( ", "(").replace(" )", ")") for s in statements)
    return ";".join(s.strip() for s in collapsed)


@pytest.mark.parametrize("version", sorted(RELEASED))
def test_a_released_migration_never_changes(version: int) -> None:
    migration = MIGRATIONS[version - 1]
    name, digest = RELEASED[version]
    assert (migration.version, migration.name) == (version, name)
    actual = hashlib.sha256(_normalised(migration.statements).encode()).hexdigest()[:16]
    assert actual == digest, f"migration {version} ({name}) was edited; append a new one"


def test_migration_sql_is_plain_text_not_built_from_python_values() -> None:
    for module in (migrations, migration_sql):
        source = inspect.getsource(module)
        assert not re.search(r"""\bf["']{1,3}\s*(CREATE|ALTER|DROP|INSERT|UPDATE)""", source)
    for migration in MIGRATIONS:
        assert all(isinstance(s, str) for s in migration.statements)


def _check_lists(conn: sqlite3.Connection) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for table, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"):
        for column, values in _CHECK_IN.findall(sql or ""):
            quoted = re.findall(r"'([^']*)'", values)
            if quoted:  # skip numeric lists such as CHECK (flag IN (0, 1))
                found[(table, column)] = set(quoted)
    return found


def test_every_enum_value_is_in_its_check_list_and_nothing_else(tmp_path: Path) -> None:
    with Database(tmp_path / "fresh.db") as db:
        assert db.conn is not None
        checks = _check_lists(db.conn)
    for column, allowed in COLUMNS.items():
        assert column in checks, f"no CHECK list for {column}"
        assert checks[column] == set(allowed), f"{column}: CHECK {checks[column]} ≠ {allowed}"
    # Text CHECK lists that are not enums are known too, so a new one gets a row above.
    assert set(checks) - set(COLUMNS) == {("correction_attempts", "code_changes_format")}
