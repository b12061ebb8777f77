"""A task past its run's ``task_timeout`` fails, its tests are killed, and the run goes on."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.models import TaskStatus
from codeframe.errors import InvalidInputError
from codeframe.llm import ScriptedClient
from codeframe.testing.test_runner import TestRunner

from .conftest import changes

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, check=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes; it only waits for its parent to reap it.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository, so the hanging task's test file never reaches the quick task."""
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "start")
    return root


async def test_a_task_past_its_limit_fails_its_tests_die_and_the_run_goes_on(
    db, repo: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "hanging-test.pid"
    hanging_test = (
        "import os, time\n\n"
        "def test_waits_for_ever():\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
    )
    client = ScriptedClient(
        [
            ("Hang", changes(("tests/test_hang.py", "create", hanging_test))),
            ("Quick", changes(("notes.py", "create", "NOTE = 1\n"))),
        ]
    )
    project_id = db.create_project("p", workspace_path=str(repo))
    hang = db.create_task(project_id, "Hang in the tests", description="d")
    quick = db.create_task(project_id, "Quick note", description="d")
    lead = LeadAgent(
        project_id,
        db,
        client=client,
        test_runner=TestRunner(repo, timeout=100, plugin_autoload=False),
    )

    started = time.monotonic()
    summary = await lead.start_multi_agent_execution(
        max_retries=0, max_concurrent=2, task_timeout=5
    )
    took = time.monotonic() - started

    assert (summary["completed"], summary["failed"]) == (1, 1), summary
    assert took < 60  # the test's sleep (120 s) and the runner's timeout (100 s) were cut short
    assert db.get_task(quick)["status"] == TaskStatus.COMPLETED
    failed = db.get_task(hang)
    assert failed["status"] == TaskStatus.FAILED
    assert "TaskTimeoutError" in failed["error"] and "5 s limit" in failed["error"]
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _alive(pid), "the hanging test's process outlived its task"


async def test_a_timed_out_task_is_retried_like_any_retryable_failure(db, repo: Path) -> None:
    """``max_retries`` gives it another go; here the second attempt is quick and passes."""
    client = ScriptedClient(
        [
            (
                "Flaky",
                [
                    changes(("tests/test_slow.py", "create", _SLOW_ONCE)),
                    changes(("tests/test_slow.py", "create", "def test_fast():\n    pass\n")),
                ],
            )
        ]
    )
    project_id = db.create_project("p", workspace_path=str(repo))
    task = db.create_task(project_id, "Flaky timing", description="d")
    lead = LeadAgent(
        project_id,
        db,
        client=client,
        test_runner=TestRunner(repo, timeout=100, plugin_autoload=False),
    )
    summary = await lead.start_multi_agent_execution(max_retries=1, task_timeout=5)

    assert summary["completed"] == 1 and summary["retries"] == 1, summary
    assert db.get_task(task)["status"] == TaskStatus.COMPLETED


_SLOW_ONCE = "import time\n\ndef test_slow():\n    time.sleep(120)\n"


@pytest.mark.parametrize("name", ["timeout", "task_timeout"])
@pytest.mark.parametrize("bad", [0, -1, float("nan")])
async def test_a_deadline_that_is_not_a_positive_number_is_refused_before_anything_runs(
    db, repo, name, bad
) -> None:
    project_id = db.create_project("p", workspace_path=str(repo))
    task = db.create_task(project_id, "Quick note", description="d")
    client = ScriptedClient(default=changes())
    lead = LeadAgent(project_id, db, client=client)
    with pytest.raises(InvalidInputError, match=name):
        await lead.start_multi_agent_execution(**{name: bad})
    assert client.history == [] and db.get_task(task)["status"] == TaskStatus.PENDING
