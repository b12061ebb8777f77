"""Opening a file: ours is opened, anything else is refused and left exactly as it was."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codeframe.errors import DatabaseReadOnlyError, SchemaError
from codeframe.persistence import Database
from codeframe.persistence.migrations import LATEST_VERSION, migrate


def _fingerprint(folder: Path) -> dict[str, str]:
    """Every file in the folder with a hash of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _users_db(path: Path, *, wal: bool = False) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


# --- files that are not ours ---------------------------------------------------------------


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_another_programs_database_is_refused_byte_for_byte_unchanged(
    folder: Path, wal: bool
) -> None:
    path = folder / "app.db"
    _users_db(path, wal=wal)
    before = _fingerprint(folder)
    with pytest.raises(SchemaError) as caught:
        Database(path)
    message = str(caught.value)
    assert str(path) in message and "users" in message and "did not create" in message
    assert _fingerprint(folder) == before  # same bytes, no -wal, -shm or -journal beside it
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == ("wal" if wal else "delete")
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["users"]
    conn.close()


def test_a_database_in_use_by_another_connection_is_refused_unchanged(folder: Path) -> None:
    path = folder / "busy.db"
    _users_db(path, wal=True)
    holder = sqlite3.connect(path)  # its -wal and -shm exist while it is open
    try:
        holder.execute("INSERT INTO users (name) VALUES ('grace')")
        holder.commit()
        before = _fingerprint(folder)
        with pytest.raises(SchemaError, match="users"):
            Database(path)
        after = _fingerprint(folder)
        assert after.keys() == before.keys()
        assert after[path.name] == before[path.name]
        assert after[f"{path.name}-wal"] == before[f"{path.name}-wal"]
    finally:
        holder.close()


def test_migrate_itself_never_adds_our_tables_to_another_schema(folder: Path) -> None:
    # The last line of defence, inside the write transaction: a file swapped in after it was
    # inspected, or a raw connection handed to migrate(), is refused as well.
    path = folder / "app.db"
    _users_db(path)
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(SchemaError, match="did not create"):
            migrate(conn, where=str(path))
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    finally:
        conn.close()
    assert tables == ["users"]


def test_many_tables_are_summarised(folder: Path) -> None:
    path = folder / "big.db"
    conn = sqlite3.connect(path)
    for i in range(12):
        conn.execute(f"CREATE TABLE t{i:02d} (x)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match=r"t00, t01, .* and 4 more"):
        Database(path)


# --- empty files ------------------------------------------------------------------------------


def _empty_sqlite(path: Path) -> None:
    """A valid SQLite file with a header and no schema at all."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")  # writes page 1, creates nothing
    conn.commit()
    conn.close()
    assert path.stat().st_size > 0


@pytest.mark.parametrize("make", [Path.touch, _empty_sqlite], ids=["zero-bytes", "no-schema"])
def test_an_existing_empty_file_is_only_taken_when_the_caller_says_so(
    folder: Path, make: Callable[[Path], None]
) -> None:
    path = folder / "placeholder.db"
    make(path)
    before = _fingerprint(folder)
    with pytest.raises(SchemaError, match="adopt_empty=True") as caught:
        Database(path)
    assert str(path) in str(caught.value) and "empty" in str(caught.value)
    assert _fingerprint(folder) == before
    with Database(path, adopt_empty=True) as db:
        assert db.schema_version == LATEST_VERSION
        db.create_project("mine now")
    with Database(path) as db:  # from now on it is ours, no keyword needed
        assert [p["name"] for p in db.list_projects()] == ["mine now"]


def test_adopt_empty_does_not_make_a_foreign_file_ours(folder: Path) -> None:
    path = folder / "app.db"
    _users_db(path)
    before = _fingerprint(folder)
    with pytest.raises(SchemaError, match="users"):
        Database(path, adopt_empty=True)
    assert _fingerprint(folder) == before


# --- new files --------------------------------------------------------------------------------


def test_a_new_file_is_created_whole_with_nothing_left_beside_it(folder: Path) -> None:
    path = folder / "new.db"
    with Database(path) as db:
        assert db.schema_version == LATEST_VERSION
        assert db.conn is not None
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sorted(p.name for p in folder.iterdir()) == ["new.db"]  # no hidden build file


def test_processes_creating_one_new_file_at_once_all_open_it(folder: Path) -> None:
    path = folder / "race.db"
    start = threading.Barrier(6)
    outcomes: list[object] = []

    def open_it() -> None:
        start.wait()
        try:
            with Database(path) as db:
                outcomes.append(db.schema_version)
        except Exception as exc:  # collected and asserted on below
            outcomes.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes == [LATEST_VERSION] * 6
    assert sorted(p.name for p in folder.iterdir()) == ["race.db"]


def test_a_folder_is_not_a_database(folder: Path) -> None:
    with pytest.raises(SchemaError, match="is a folder"):
        Database(folder)


# --- read-only files ------------------------------------------------------------------------------


@pytest.fixture
def make_read_only() -> Iterator[Callable[[Path], None]]:
    """Make a file or folder unwritable for this process, whoever runs the tests.

    Permission bits do not stop root, so as root the immutable flag is used instead.
    """
    undo: list[Callable[[], None]] = []

    def make(path: Path) -> None:
        if os.geteuid() != 0:
            mode = path.stat().st_mode
            path.chmod(mode & ~0o222)
            undo.append(lambda: path.chmod(mode))
            return
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
            pytest.skip("running as root without a usable chattr: cannot make a file read-only")
        undo.append(lambda: subprocess.run([chattr, "-i", str(path)], check=True))

    yield make
    for step in reversed(undo):
        step()


def test_a_read_only_file_is_reported_as_read_only(
    folder: Path, make_read_only: Callable[[Path], None]
) -> None:
    path = folder / "codeframe.db"
    with Database(path) as db:
        db.create_project("keep me")
    make_read_only(path)
    before = _fingerprint(folder)
    with pytest.raises(DatabaseReadOnlyError) as caught:
        Database(path)
    message = str(caught.value)
    assert str(path) in message and "read-only" in message and "not writable" in message
    assert "not a SQLite database" not in message
    assert isinstance(caught.value, sqlite3.OperationalError)
    assert _fingerprint(folder) == before


def test_a_read_only_folder_is_reported_as_read_only(
    folder: Path, make_read_only: Callable[[Path], None]
) -> None:
    path = folder / "codeframe.db"
    with Database(path):
        pass
    make_read_only(folder)
    with pytest.raises(DatabaseReadOnlyError, match=r"folder .* is not writable"):
        Database(path)
    with pytest.raises(DatabaseReadOnlyError, match="cannot create"):
        Database(folder / "another.db")


_CHILD = """
import sys
from codeframe.persistence import Database
try:
    Database(sys.argv[1])
except Exception as exc:
    print(type(exc).__name__, exc)
"""


def test_a_database_on_a_read_only_mount_is_reported_as_read_only(folder: Path) -> None:
    path = folder / "codeframe.db"
    with Database(path):
        pass
    script = f"mount --bind -o ro {folder} {folder} && {sys.executable} -c '{_CHILD}' {path}"
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to make a private read-only mount")
    done = subprocess.run(
        [unshare, "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"no private mounts here: {done.stderr.strip()}")
    assert done.stdout.startswith("DatabaseReadOnlyError"), done.stdout + done.stderr
    assert "read-only file system" in done.stdout


def test_a_path_with_uri_characters_and_odd_bytes_is_opened(folder: Path) -> None:
    # The inspection opens a file: URI; '?', '#', '%' and undecodable bytes must survive it.
    path = folder / "we?ird #100% \udcff.db"
    with Database(path) as db:
        db.create_project("p")
    with Database(path) as db:
        assert [p["name"] for p in db.list_projects()] == ["p"]
    assert sorted(p.name for p in folder.iterdir()) == [path.name]
