"""Fixtures shared across the suite: a database file and a project folder in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codeframe.persistence.database import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "codeframe.db")
    yield database
    database.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder; tests/agents overrides it with a small calculator."""
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.fixture
def project_id(db: Database, project: Path) -> int:
    return db.create_project("project", workspace_path=str(project))
