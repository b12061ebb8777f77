"""``codeframe cleanup``: the worktrees and branches kept for finished tasks go, on request."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from codeframe.agents.lead_agent import LeadAgent
from codeframe.llm import ScriptedClient
from codeframe.persistence.database import Database
from codeframe.testing.test_runner import TestRunner
from tests.agents.conftest import MULTIPLY_BUGGY, MULTIPLY_TESTS, changes
from tests.cli.conftest import Cli
from tests.cli.scenarios import make_project

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip


def git(root: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def blocked_task_in_a_repository(tmp_path: Path) -> tuple[Path, Database, int]:
    """A calculator repository whose one task ended blocked, keeping its worktree and branch."""
    root = make_project(tmp_path / "calc")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "calc")
    db = Database(root / ".codeframe" / "codeframe.db")
    project_id = db.create_project("calc", workspace_path=str(root))
    db.create_task(project_id, "Add a multiply function")
    broken = changes(
        ("calc.py", "modify", MULTIPLY_BUGGY), ("tests/test_multiply.py", "create", MULTIPLY_TESTS)
    )
    lead = LeadAgent(project_id, db, client=ScriptedClient(default=broken),
                     test_runner=TestRunner(root, timeout=60, plugin_autoload=False))  # fmt: skip
    assert asyncio.run(lead.start_multi_agent_execution())["blocked"] == 1
    return root, db, project_id


def test_cleanup_removes_the_worktree_and_branch_a_blocked_task_kept(
    tmp_path: Path, cli: Cli
) -> None:
    root, db, _ = blocked_task_in_a_repository(tmp_path)
    db.close()
    assert (
        git(root, "branch", "--list", "--format=%(refname:short)", "codeframe/*").strip()
        == "codeframe/task-1"
    )

    outcome = cli("cleanup", "--project", root)

    assert outcome.code == 0, outcome.err
    assert "branch codeframe/task-1 of task #1" in outcome.out
    assert git(root, "branch", "--list", "--format=%(refname:short)", "codeframe/*") == ""
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(root, "status", "--porcelain") == ""
    again = cli("cleanup", "--project", root)
    assert (again.code, again.out.strip()) == (0, f"Nothing to clean up in {root}.")


def test_cleanup_is_refused_while_another_process_runs_the_project(
    tmp_path: Path, cli: Cli
) -> None:
    root, db, project_id = blocked_task_in_a_repository(tmp_path)
    # A run row held by a live process that is not this one (our parent), beating now.
    db.conn.execute(
        "INSERT INTO runs (project_id, pid, started_at, heartbeat_at, workspace)"
        " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'), strftime('%Y-%m-%dT%H:%M:%fZ'), ?)",
        (project_id, os.getppid(), str(root)),
    )
    db.conn.commit()
    db.close()

    outcome = cli("cleanup", "--project", root)

    assert outcome.code == 2
    assert "not now: a run is already in progress for project 1" in outcome.err
    assert (
        git(root, "branch", "--list", "--format=%(refname:short)", "codeframe/*").strip()
        == "codeframe/task-1"
    )


def test_cleanup_of_a_folder_without_tasks_says_so(tmp_path: Path, cli: Cli) -> None:
    outcome = cli("cleanup", "--project", tmp_path)
    assert (outcome.code, outcome.out.strip()) == (
        0,
        f"Nothing to clean up: {tmp_path} has no tasks yet.",
    )
