"""A folder belongs to one project: duplicates are refused, or the existing project is reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeframe.errors import DuplicateError, InvalidInputError
from codeframe.persistence.database import Database


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def test_a_second_project_for_the_same_folder_is_refused(db: Database, folder: Path) -> None:
    first = db.create_project("first", workspace_path=folder)
    (folder.parent / "link").symlink_to(folder)
    for spelling in (folder, str(folder), folder / ".." / "work", folder.parent / "link"):
        with pytest.raises(DuplicateError) as caught:
            db.create_project("again", workspace_path=spelling)
        message = str(caught.value)
        assert f"project {first} ('first')" in message
        assert str(folder.resolve()) in message and "get_or_create_project" in message
    assert [p["id"] for p in db.list_projects()] == [first]


def test_get_or_create_project_returns_the_folders_project(db: Database, folder: Path) -> None:
    created = db.get_or_create_project(
        "calc", workspace_path=folder, description="d", config={"k": 1}
    )
    project = db.get_project(created)
    assert project is not None
    assert (project["name"], project["description"], project["config"]) == ("calc", "d", {"k": 1})
    # A notebook cell run again, or another spelling of the folder: the same project.
    assert db.get_or_create_project("calc", workspace_path=folder) == created
    assert db.get_or_create_project("other name", workspace_path=f"{folder}/.") == created
    assert len(db.list_projects()) == 1
    elsewhere = folder.parent / "elsewhere"
    elsewhere.mkdir()
    assert db.get_or_create_project("calc", workspace_path=elsewhere) != created


def test_get_or_create_project_checks_its_arguments(db: Database, folder: Path) -> None:
    with pytest.raises(InvalidInputError, match="workspace_path"):
        db.get_or_create_project("p", workspace_path="")
    with pytest.raises(InvalidInputError, match="colour"):
        db.get_or_create_project("p", workspace_path=folder, colour="red")
    assert db.list_projects() == []


def test_moving_a_project_into_a_used_folder_is_refused(db: Database, folder: Path) -> None:
    first = db.create_project("first", workspace_path=folder)
    second = db.create_project("second")
    with pytest.raises(DuplicateError, match="'first'"):
        db.update_project(second, {"workspace_path": str(folder)})
    assert db.get_project(second)["workspace_path"] is None  # type: ignore[index]
    # Its own folder again, or another folder, is fine.
    assert db.update_project(first, {"workspace_path": f"{folder}/"}) == 1
    assert db.update_project(second, {"workspace_path": str(folder.parent)}) == 1


def test_projects_without_a_folder_may_share_a_name(db: Database) -> None:
    assert db.create_project("same") != db.create_project("same")
