"""The panel's Clean up button removes what finished tasks kept, and says so in the header."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.errors import CodeframeError
from codeframe.llm import ScriptedClient
from codeframe.notebook import AgentPanel
from codeframe.testing.test_runner import TestRunner

BUGGY = "def multiply(a, b):\n    return a + b\n"
TEST = "from calc import multiply\n\n\ndef test_multiply():\n    assert multiply(3, 4) == 12\n"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip


def git(root: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True
    ).stdout


def task_branches(root: Path) -> list[str]:
    return git(root, "branch", "--list", "--format=%(refname:short)", "codeframe/*").split()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "calc"
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    (root / "README.md").write_text("calc\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "calc")
    return root


async def test_clean_up_removes_the_blocked_tasks_worktree_and_branch(db, repo: Path) -> None:
    project_id = db.create_project("calc", workspace_path=str(repo))
    db.create_task(project_id, "Add multiply")
    broken = {
        "files": [
            {"path": "calc.py", "action": "create", "content": BUGGY},
            {"path": "tests/test_calc.py", "action": "create", "content": TEST},
        ],
        "explanation": "multiply",
    }
    panel = AgentPanel(db, project_id)
    lead = LeadAgent(project_id, db, ws_manager=panel, client=ScriptedClient(default=broken),
                     test_runner=TestRunner(repo, plugin_autoload=False))  # fmt: skip
    assert panel.cleanup_button.disabled  # nothing to clean up for without a lead
    panel.connect(lead)
    panel.resume_button.click()
    assert panel.cleanup_button.disabled  # never while a run is live
    assert (await panel.wait())["blocked"] == 1
    assert task_branches(repo) == ["codeframe/task-1"]
    assert not panel.cleanup_button.disabled

    panel.cleanup_button.click()
    assert panel.cleaning and panel.cleanup_button.disabled
    assert panel.cleanup_task is not None
    removed = await panel.cleanup_task

    assert [item.task_id for item in removed] == ["1"]
    assert task_branches(repo) == []
    assert "cleaned up: 1 worktrees and branches of finished tasks removed (tasks 1)" in (
        panel.to_html()
    )
    assert not panel.cleanup_button.disabled
    assert await panel.cleanup_workspaces() == []
    assert "nothing of finished tasks was left to remove" in panel.to_html()


async def test_clean_up_needs_a_connected_lead(db) -> None:
    panel = AgentPanel()
    panel.cleanup_button.click()  # disabled in the browser; a click from code does nothing
    assert panel.cleanup_task is None
    with pytest.raises(CodeframeError, match=r"panel\.connect"):
        await panel.cleanup_workspaces()
