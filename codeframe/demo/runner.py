"""Run the demo: copy the sample project to a work folder and let the lead agent loose on it.

The agents only ever touch the copy. The work folder holds a marker file, so a later run
may wipe it without risk of deleting something that is not ours.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeframe.agents.lead_agent import LeadAgent
from codeframe.demo.script import demo_client
from codeframe.demo.tasks import DEMO_ISSUE, DEMO_TASKS, task_specs
from codeframe.errors import (
    DemoWorkdirError,
    InvalidInputError,
    MissingAPIKeyError,
    WorkspaceUnavailableError,
)
from codeframe.llm import client_from_env
from codeframe.llm.live import API_KEY_ENV
from codeframe.persistence.database import Database
from codeframe.testing.test_runner import TestRunner
from codeframe.workspaces import GitIdentity, require_git, run_git

logger = logging.getLogger(__name__)

SAMPLE_PROJECT = Path(__file__).resolve().parent / "sample_project"
MARKER = ".codeframe-demo"
DB_NAME = "codeframe.db"
PROJECT_DIR = "project"
DEFAULT_WORKDIR = Path("codeframe-demo")

# Offline the whole demo takes seconds; the bounds only stop a wedged run.
OFFLINE_DEADLINE_S = 120.0
LIVE_DEADLINE_S = 1800.0
TEST_TIMEOUT_S = 60.0

_MARKER_TEXT = (
    "This folder was made by `codeframe demo`. The next demo run with this work folder\n"
    "deletes everything in it and starts again.\n"
)
_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
# Everything a demo run puts in its work folder (SQLite adds its journal files).
_DEMO_ENTRIES = frozenset(
    {MARKER, PROJECT_DIR, DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"}
)


@dataclass(frozen=True, slots=True)
class DemoResult:
    """Where a demo run left its work and what the lead agent reported."""

    workdir: Path
    project_root: Path
    db_path: Path
    project_id: int
    task_ids: dict[str, int]  # task number in the demo's list -> task id in the database
    summary: dict[str, Any]
    live: bool


def check_workdir(workdir: Path | str) -> Path:
    """``workdir`` resolved, if the demo may use it; else :class:`DemoWorkdirError`.

    Usable: a missing or empty folder, or one an earlier demo made (our marker file and only
    a demo's files). Never the packaged
    sample project, a folder inside it or one that holds it. Looks only; changes nothing.
    """
    workdir = Path(workdir).resolve()
    sample = SAMPLE_PROJECT
    if workdir.is_relative_to(sample) or sample.is_relative_to(workdir):
        raise DemoWorkdirError(
            f"{workdir} is (or holds) the packaged sample project; the demo only ever works "
            "on a copy — choose another --workdir"
        )
    if workdir.exists() and not workdir.is_dir():
        raise DemoWorkdirError(f"{workdir} exists and is not a folder")
    if workdir.is_dir() and any(workdir.iterdir()):
        _check_ours(workdir)
    return workdir


def _check_ours(workdir: Path) -> None:
    """Refuse a non-empty folder unless it holds our marker and nothing but a demo's files.

    The marker's name alone is not proof: a copied or published folder may carry one. So
    it must be a plain file with our text, and every other entry one the demo makes.
    """
    marker = workdir / MARKER
    if marker.is_symlink() or not marker.is_file():
        raise DemoWorkdirError(
            f"{workdir} is not empty and was not made by `codeframe demo` (it has no "
            f"{MARKER} file); refusing to delete it — choose another --workdir"
        )
    try:
        ours = marker.read_text(encoding="utf-8") == _MARKER_TEXT
    except (OSError, UnicodeDecodeError):
        ours = False
    foreign = sorted(child.name for child in workdir.iterdir() if child.name not in _DEMO_ENTRIES)
    if not ours or foreign:
        what = f"it also holds {', '.join(foreign[:5])}" if foreign else f"its {MARKER} is not ours"
        raise DemoWorkdirError(
            f"{workdir} has a {MARKER} file but {what}; refusing to delete it — choose "
            "another --workdir"
        )


def prepare_workdir(workdir: Path | str) -> Path:
    """Make ``workdir`` a fresh demo folder holding a copy of the sample; returns the copy.

    A missing or empty folder is used as is; one an earlier demo made is emptied first;
    anything else raises :class:`DemoWorkdirError` and is left untouched.
    """
    workdir = check_workdir(workdir)
    if workdir.is_dir() and any(workdir.iterdir()):
        logger.info("reusing demo folder %s: deleting the previous run", workdir)
        for child in workdir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
    project_root = workdir / PROJECT_DIR
    shutil.copytree(SAMPLE_PROJECT, project_root, ignore=_COPY_IGNORE)
    return project_root


async def init_repository(project_root: Path) -> bool:
    """Make the copy a git repository with one commit, so each task works in a worktree of
    its own and every passing task is a commit; without git the tasks share the tree."""
    try:
        await require_git()
    except WorkspaceUnavailableError as exc:
        logger.info("the demo's tasks share the project tree: %s", exc)
        return False
    identity = GitIdentity().environment()
    await run_git("init", "-q", "-b", "main", cwd=project_root)
    await run_git("add", "-A", cwd=project_root)
    await run_git(
        "commit", "-q", "-m", "The bookshelf sample project", cwd=project_root, env=identity
    )
    return True


def _live_client() -> Any:
    if not os.environ.get(API_KEY_ENV, "").strip():
        raise MissingAPIKeyError(f"the live demo needs {API_KEY_ENV} to be set")
    return client_from_env()


async def run_demo(
    workdir: Path | str = DEFAULT_WORKDIR,
    *,
    live: bool = False,
    client: Any = None,
    ws_manager: Any = None,
    max_concurrent: int = 4,
) -> DemoResult:
    """Copy the sample project to ``workdir``, create the demo's tasks and run them.

    Offline (the default) the scripted Claude of :mod:`codeframe.demo.script` answers, and
    the outcome is the same every time. ``live=True`` uses Claude (``ANTHROPIC_API_KEY``
    must be set). A ``client`` passed in is used as given, whatever ``live`` says.
    ``ws_manager`` receives every event, e.g. an ``AgentPanel`` or a console printer.
    """
    if max_concurrent < 1:
        raise InvalidInputError(f"max_concurrent must be at least 1, got {max_concurrent}")
    own_client = client is None and live
    if client is None:
        client = _live_client() if live else demo_client()
    try:
        # A dozen small files: copying them is quicker than handing the job elsewhere.
        project_root = prepare_workdir(workdir)
        await init_repository(project_root)
        db_path = project_root.parent / DB_NAME
        with Database(db_path) as db:
            project_id, task_ids = _create_project(db, project_root)
            lead = LeadAgent(
                project_id,
                db,
                ws_manager=ws_manager,
                client=client,
                project_root=project_root,
                test_runner=TestRunner(project_root, timeout=TEST_TIMEOUT_S, plugin_autoload=False),
            )
            started = time.monotonic()
            summary = await lead.start_multi_agent_execution(
                max_concurrent=max_concurrent,
                timeout=LIVE_DEADLINE_S if live else OFFLINE_DEADLINE_S,
            )
        logger.info("demo finished in %.1f s: %s", time.monotonic() - started, summary)
        return DemoResult(
            workdir=project_root.parent,
            project_root=project_root,
            db_path=db_path,
            project_id=project_id,
            task_ids=task_ids,
            summary=summary,
            live=live,
        )
    finally:
        if own_client:
            await client.close()


def _create_project(db: Database, project_root: Path) -> tuple[int, dict[str, int]]:
    project_id = db.create_project(
        "bookshelf demo",
        "The codeframe demo: agents extend a copy of the bookshelf sample project.",
        workspace_path=str(project_root),
    )
    issue_id = db.create_issue(project_id=project_id, **DEMO_ISSUE)
    ids = db.create_tasks(project_id, task_specs(issue_id))
    return project_id, {task.number: task_id for task, task_id in zip(DEMO_TASKS, ids, strict=True)}


__all__ = [
    "DB_NAME",
    "DEFAULT_WORKDIR",
    "MARKER",
    "SAMPLE_PROJECT",
    "DemoResult",
    "DemoWorkdirError",
    "check_workdir",
    "prepare_workdir",
    "run_demo",
]
