"""Where the commands find a project and its database, so all four find the same ones.

A project is a folder (``--project``, default: the current folder). Its database lives by
default inside it, at ``<project>/.codeframe/codeframe.db``: it travels with the folder, and
``run``, ``status``, ``blockers`` and ``answer`` need nothing but the folder to find it.
``--db FILE`` puts it elsewhere (one file can hold several projects, one per folder).
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeframe.core.file_changes import STATE_DIR
from codeframe.errors import CodeframeError, CommandLineError

# STATE_DIR is one the agents' file changes can never write into.
DB_NAME = "codeframe.db"
# Git skips a folder whose own .gitignore ignores everything, this file included.
_GITIGNORE = "# codeframe's ledger of this project's runs; not part of the project.\n*\n"

PROJECT_HELP = "the project folder the agents work in (default: the current folder)"
DB_HELP = f"the database file (default: PROJECT/{STATE_DIR}/{DB_NAME})"


def add_location_options(parser: argparse.ArgumentParser) -> None:
    """``--project DIR`` and ``--db FILE``, the same on every command."""
    parser.add_argument("--project", type=Path, default=None, metavar="DIR", help=PROJECT_HELP)
    parser.add_argument("--db", type=Path, default=None, metavar="FILE", help=DB_HELP)


@dataclass(frozen=True, slots=True)
class Location:
    """A project folder (resolved) and the database that records its runs."""

    project_dir: Path
    db_path: Path
    #: The database is the folder's own (``--db`` not given).
    default_db: bool
    #: How the user named the folder and the file, to repeat in the commands we suggest.
    given_project: Path | None = None
    given_db: Path | None = None

    def options(self) -> str:
        """The ``--project``/``--db`` options that make a suggested command find this one."""
        parts = []
        if self.given_project is not None and self.project_dir != Path.cwd().resolve():
            parts += ["--project", str(self.given_project)]
        if self.given_db is not None:
            parts += ["--db", str(self.given_db)]
        return "".join(f" {shlex.quote(part)}" for part in parts)


def locate(args: argparse.Namespace) -> Location:
    """The project folder and database the command line names; the folder must exist."""
    given: Path | None = args.project
    folder = (given if given is not None else Path.cwd()).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise CommandLineError(f"the project folder {folder} {what}")
    project_dir = folder.resolve()
    db: Path | None = args.db
    if db is None:
        return Location(project_dir, project_dir / STATE_DIR / DB_NAME, True, given)
    return Location(project_dir, db.expanduser().resolve(), False, given, db)


def prepare_state_dir(location: Location) -> None:
    """Make the folder that holds the database (and, for the default one, keep it out of git)."""
    folder = location.db_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if location.default_db:
            ignore = folder / ".gitignore"
            if not ignore.exists():
                ignore.write_text(_GITIGNORE, encoding="utf-8")
    except OSError as exc:
        raise CommandLineError(
            f"cannot prepare {folder} for the database: {exc.strerror or exc}"
        ) from None


def open_existing(location: Location) -> Any:
    """The location's database if it exists, else ``None``; never creates one.

    A ``--db`` file that does not exist is a usage error: the user named it, and a typo must
    not read as "nothing to show".
    """
    from codeframe.persistence.database import Database

    if not location.db_path.exists():
        if location.default_db:
            return None
        raise CommandLineError(f"--db {location.db_path}: no such file")
    try:
        return Database(location.db_path)
    except CodeframeError as exc:
        raise CommandLineError(f"cannot use the database {location.db_path}: {exc}") from None


def open_project(location: Location) -> tuple[Any, dict[str, Any]] | None:
    """The location's database, open, with the folder's project; ``None`` (and nothing left
    open) when there is no database or no project yet — to the commands that read one,
    "nothing to do", not an error."""
    db = open_existing(location)
    if db is None:
        return None
    try:
        project = find_project(db, location.project_dir)
    except BaseException:
        db.close()
        raise
    if project is None:
        db.close()
        return None
    return db, project


def find_project(db: Any, project_dir: Path) -> dict[str, Any] | None:
    """The project that works in ``project_dir``, or ``None``; creates nothing.

    Folders compare resolved, as ``get_or_create_project`` compares them.
    """
    # Oldest first, as get_or_create_project picks among projects an older version let share.
    for project in sorted(db.list_projects(), key=lambda row: int(row["id"])):
        folder = project.get("workspace_path")
        if folder and Path(folder).expanduser().resolve() == project_dir:
            return dict(project)
    return None


__all__ = [
    "DB_HELP",
    "DB_NAME",
    "PROJECT_HELP",
    "STATE_DIR",
    "Location",
    "add_location_options",
    "find_project",
    "locate",
    "open_existing",
    "open_project",
    "prepare_state_dir",
]
