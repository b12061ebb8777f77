"""A corpus of database files codeframe must not take: each refused clearly and left as it was.

Every kind of bad file is made fresh for each case (its contents drawn from the seed): not
SQLite at all, empty, SQLite with no schema, another program's schema, our tables without
a version or with a newer one, a folder, a read-only file or folder, and one of ours
truncated or with bytes overwritten. Opening it (and, if it opens, reading it) must end in
a ``CodeframeError`` that names the file — never a raw ``sqlite3`` error or a crash — and
the folder must hold the same bytes afterwards, with nothing new beside the file.

A database that another process holds locked for a while is the other kind of case: a run
on it either completes, or fails with ``DatabaseBusyError`` and completes when run again
once the lock is gone.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from random import Random

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.errors import CodeframeError, DatabaseBusyError, DatabaseReadOnlyError, SchemaError
from codeframe.llm import ScriptedClient
from codeframe.persistence.database import Database
from tests.faults.harness import Tally, describe, env_without_keys, rng_for, seeds
from tests.faults.invariants import ledger_problems
from tests.faults.known import assert_fixed
from tests.faults.scenario import TreeRunner

CATEGORY = "bad database files"


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
        for p in sorted(folder.iterdir())
    }


def sqlite_file(path: Path, statements: list[str]) -> None:
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def ours_with_data(path: Path, rng: Random) -> None:
    """One of our databases, with enough rows to fill several pages."""
    with Database(path) as db:
        project_id = db.create_project("mine", workspace_path=str(path.parent))
        for n in range(rng.randint(5, 60)):
            db.create_task(project_id, f"task {n}", "d" * rng.randint(0, 3000))


# -- the corpus: each makes the file at ``path`` -------------------------------------------


def not_sqlite(path: Path, rng: Random) -> str:
    choice = rng.choice(["random", "text", "png", "zip", "old sqlite", "almost"])
    data = {
        "random": rng.randbytes(rng.randint(1, 20_000)),
        "text": b"name,email\nada,ada@example.org\n" * rng.randint(1, 100),
        "png": b"\x89PNG\r\n\x1a\n" + rng.randbytes(200),
        "zip": b"PK\x03\x04" + rng.randbytes(300),
        "old sqlite": b"** This file contains an SQLite 2.1 database **\x00" + rng.randbytes(500),
        "almost": b"SQLite format 3" + rng.randbytes(4096),  # one byte short of the header
    }[choice]
    path.write_bytes(data)
    return choice


def empty(path: Path, rng: Random) -> str:
    path.write_bytes(b"")
    return "zero bytes"


def empty_schema(path: Path, rng: Random) -> str:
    sqlite_file(path, [f"PRAGMA user_version = {rng.randint(0, 99)}", "VACUUM"])
    if path.stat().st_size == 0:  # SQLite wrote nothing: give it a header by a table dropped
        sqlite_file(path, ["CREATE TABLE t (x)", "DROP TABLE t"])
    return "a header, no tables"


def foreign(path: Path, rng: Random) -> str:
    names = rng.sample(["users", "orders", "notes", "events", "items", "tags", "logs"], 3)
    statements = [f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, v TEXT)" for name in names]
    statements += [f"INSERT INTO {names[0]} (v) VALUES ('{'x' * rng.randint(0, 500)}')"]
    if rng.random() < 0.5:
        statements.append("PRAGMA journal_mode = WAL")
    sqlite_file(path, statements)
    return ", ".join(names)


def foreign_with_our_names(path: Path, rng: Random) -> str:
    table = rng.choice(["tasks", "projects", "blockers", "runs"])
    sqlite_file(path, [f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, other TEXT)"])
    return table


def newer_version(path: Path, rng: Random) -> str:
    ours_with_data(path, rng)
    version = rng.randint(100, 10_000)
    insert = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
    conn = sqlite3.connect(path)
    try:
        conn.execute(insert, (version, "from the future", "2030-01-01T00:00:00Z"))
        conn.commit()
    finally:
        conn.close()
    return f"version {version}"


def no_version(path: Path, rng: Random) -> str:
    ours_with_data(path, rng)
    sqlite_file(path, ["DROP TABLE schema_migrations"])
    return "no schema_migrations"


def a_folder(path: Path, rng: Random) -> str:
    path.mkdir()
    return "a folder"


def truncated(path: Path, rng: Random) -> str:
    ours_with_data(path, rng)
    size = path.stat().st_size
    cut = rng.randint(1, size - 1)
    with open(path, "r+b") as handle:
        handle.truncate(cut)
    return f"cut to {cut} of {size} bytes"


def overwritten(path: Path, rng: Random) -> str:
    ours_with_data(path, rng)
    data = bytearray(path.read_bytes())
    start = rng.randrange(0, len(data))
    length = rng.randint(1, 512)
    data[start : start + length] = rng.randbytes(len(data[start : start + length]))
    path.write_bytes(bytes(data))
    return f"{length} bytes from {start} overwritten"


CORPUS: dict[str, Callable[[Path, Random], str]] = {
    "not SQLite": not_sqlite,
    "empty": empty,
    "SQLite with no schema": empty_schema,
    "another program's schema": foreign,
    "a foreign table with one of our names": foreign_with_our_names,
    "a newer schema version": newer_version,
    "our tables without a version": no_version,
    "a folder": a_folder,
    "truncated": truncated,
    "bytes overwritten": overwritten,
}

#: What the refusal must say, for the kinds that must be refused (damaged files may open).
REFUSALS = {
    "not SQLite": r"not a SQLite database",
    "empty": r"empty",
    "SQLite with no schema": r"empty",
    "another program's schema": r"did not create",
    "a foreign table with one of our names": r"schema|version|did not create",
    "a newer schema version": r"newer",
    "our tables without a version": r"version",
    "a folder": r"folder",
}


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` made read-only even for root (the immutable flag), then writable again."""
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
        pytest.skip("no usable chattr: cannot make a file read-only as root")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def open_and_read(path: Path) -> BaseException | None:
    """Open the file and read it as a user would; the error, if one was raised."""
    try:
        with Database(path) as db:
            for project in db.list_projects():
                db.get_project_tasks(project["id"])
                db.get_blockers(project["id"])
                db.get_runs(project["id"])
    except BaseException as exc:  # the suite wants every kind of failure, reported
        return exc
    return None


def check_refused(folder: Path, name: str, error: BaseException | None) -> list[str]:
    """Whether opening the ``name`` kind of file ended as it must."""
    path = folder / "codeframe.db"
    problems = []
    must_refuse = name in REFUSALS
    if error is None:
        if must_refuse:
            problems.append("it was opened")
    elif not isinstance(error, CodeframeError):
        problems.append(f"not a clear error: {describe(error)}")
    elif str(path) not in str(error):
        problems.append(f"the error does not name the file: {describe(error)}")
    elif must_refuse and not re.search(REFUSALS[name], str(error)):
        problems.append(f"the error does not say why: {describe(error)}")
    elif isinstance(error, SchemaError) and "read-only" in str(error):
        problems.append("a read-only file reported as not ours")
    return problems


@pytest.mark.parametrize("seed", seeds(default=1, cost=1), ids=lambda s: f"seed{s}")
def test_a_bad_database_file_is_refused_clearly_and_left_unchanged(
    seed: int, tally: Tally, tmp_path: Path
) -> None:
    rng = rng_for("databases", seed)
    for index, (name, make) in enumerate(CORPUS.items()):
        folder = tmp_path / str(index)
        folder.mkdir()
        made = make(folder / "codeframe.db", rng)
        before = fingerprint(folder)
        error = open_and_read(folder / "codeframe.db")
        problems = check_refused(folder, name, error)
        if fingerprint(folder) != before:
            problems.append("the folder changed")
        outcome = "opened" if error is None else type(error).__name__
        tally.record(f"{name} ({made}): {outcome}", problems)
    tally.finish()


@pytest.mark.parametrize("seed", seeds(default=1, cost=2), ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_database_is_reported_as_read_only(
    seed: int, what: str, tally: Tally, tmp_path: Path
) -> None:
    rng = rng_for("read-only", seed, what)
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "codeframe.db"
    ours_with_data(path, rng)
    before = fingerprint(folder)
    with read_only(path if what == "file" else folder):
        error = open_and_read(path)
    problems = []
    if not isinstance(error, DatabaseReadOnlyError):
        problems.append(f"not reported as read-only: {error and describe(error)}")
    elif "not a SQLite database" in str(error) or str(path) not in str(error):
        problems.append(f"a misleading message: {describe(error)}")
    if fingerprint(folder) != before:
        problems.append("the folder changed")
    tally.record(f"a read-only {what}", problems)
    tally.finish()


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
conn.close()
"""


async def hold_lock(path: Path, seconds: float) -> asyncio.subprocess.Process:
    """Another process takes the database's write lock for ``seconds``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LOCKER,
        str(path),
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
        env=env_without_keys(),
    )
    assert process.stdout is not None
    async with asyncio.timeout(30):
        assert (await process.stdout.readline()).strip() == b"locked"
    return process


async def run_once(db: Database, project_id: int, root: Path) -> dict[str, object]:
    reply = {"files": [{"path": "work/done.txt", "action": "create", "content": "ok\n"}]}
    lead = LeadAgent(
        project_id,
        db,
        client=ScriptedClient(default={**reply, "explanation": "done"}),
        test_runner=TreeRunner(root),
        project_root=root,
    )
    return await lead.start_multi_agent_execution(max_retries=0)


@pytest.mark.parametrize("seed", seeds(default=1, cost=6), ids=lambda s: f"seed{s}")
async def test_a_database_locked_by_another_process_for_a_while_is_waited_out(
    seed: int, tally: Tally, tmp_path: Path
) -> None:
    """A run while another process holds the write lock completes, or fails busy and
    completes when run again."""
    rng = rng_for("locked", seed)
    for case in range(2):
        folder = tmp_path / str(case)
        root = folder / "project"
        root.mkdir(parents=True)
        path = folder / "codeframe.db"
        with Database(path) as db:
            project_id = db.create_project("locked", workspace_path=str(root))
            db.create_task(project_id, f"Write the file {case}")
        hold = rng.choice([0.3, 0.6, 1.0, 1.5, 2.5])
        locker = await hold_lock(path, hold)
        problems: list[str] = []
        outcome = "completed"
        try:
            db = Database(path)
        except DatabaseBusyError:
            await locker.wait()
            db = Database(path)
            outcome = "opened once the lock went"
        try:
            try:
                summary = await run_once(db, project_id, root)
            except DatabaseBusyError:
                await locker.wait()
                outcome = "busy, then completed when run again"
                summary = await run_once(db, project_id, root)
            except Exception as exc:
                summary = {}
                problems.append(f"the run raised {describe(exc)}")
            if summary and summary.get("completed") != 1:
                problems.append(f"the run's summary: {summary}")
            problems += ledger_problems(db, project_id, allowed={"completed"})
        finally:
            db.close()
            if locker.returncode is None:
                await locker.wait()
        tally.record(f"locked {hold:g} s: {outcome}", problems)
    tally.finish()


@pytest.mark.parametrize("damage", ["text that is not UTF-8", "each page damaged in turn"])
def test_a_damaged_database_never_raises_raw_errors(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "good.db"
    ours_with_data(path, Random(0))
    damaged = []
    if damage == "text that is not UTF-8":
        target = tmp_path / "text.db"
        shutil.copyfile(path, target)
        sqlite_file(target, ["UPDATE tasks SET description = CAST(X'FFFE41' AS TEXT)"])
        damaged.append(target)
    else:
        data = path.read_bytes()
        page_size = int.from_bytes(data[16:18], "big")
        for page in range(1, len(data) // page_size):
            target = tmp_path / f"page{page}.db"
            start = page * page_size
            target.write_bytes(data[:start] + b"\xff" * 8 + data[start + 8 :])
            damaged.append(target)
    raw = []
    for target in damaged:
        error = open_and_read(target)
        if error is not None and not isinstance(error, CodeframeError):
            raw.append(f"{target.name}: {describe(error)}")
    assert_fixed(raw)
