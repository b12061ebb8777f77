from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codeframe.persistence.database import Database


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "codeframe.db"


@pytest.fixture(params=["file", "memory"])
def db(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Database]:
    """Every test using this runs on a WAL file database and on ``:memory:``."""
    database = Database(db_path if request.param == "file" else ":memory:")
    yield database
    database.close()


@pytest.fixture
def project_id(db: Database) -> int:
    return db.create_project("demo", "a test project")
