"""A kernel killed mid-run: no pytest survives it, and the next run recovers the task."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.file_changes import JOURNAL_DIR, validate_file_changes
from codeframe.core.file_journal import FileGroup
from codeframe.core.models import TaskStatus
from codeframe.llm import ScriptedClient
from codeframe.persistence.database import Database
from codeframe.testing.fixed_runner import FixedResultRunner
from codeframe.testing.test_runner import TestRunner

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux-only"
)

KERNEL = textwrap.dedent("""
    import asyncio, sys
    from codeframe.agents.lead_agent import LeadAgent
    from codeframe.llm import ScriptedClient
    from codeframe.persistence.database import Database
    from codeframe.testing.test_runner import TestRunner

    db_path, root, pid_file = sys.argv[1:]
    slow_test = (
        "import os, time\\n"
        "def test_slow():\\n"
        f"    open({pid_file!r}, 'w').write(str(os.getpid()))\\n"
        "    time.sleep(120)\\n"
    )
    reply = {"files": [{"path": "tests/test_slow.py", "action": "create",
                        "content": slow_test}], "explanation": "slow"}
    db = Database(db_path)
    project_id = db.get_project(1)["id"]
    lead = LeadAgent(project_id, db, client=ScriptedClient(default=reply),
                     test_runner=TestRunner(root, plugin_autoload=False))
    asyncio.run(lead.start_multi_agent_execution())
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; this sandbox's PID 1 may not reap it at once.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


async def test_a_killed_kernel_leaves_no_pytest_and_the_next_run_recovers(tmp_path: Path):
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    db_path = tmp_path / "run.db"
    pid_file = tmp_path / "pytest.pid"
    with Database(db_path) as db:
        project_id = db.create_project("killed", workspace_path=str(root))
        task_id = db.create_task(project_id, "Slow feature")

    kernel = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KERNEL,
        str(db_path),
        str(root),
        str(pid_file),
        env={k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"},
    )
    try:
        async with asyncio.timeout(60):
            while not (pid_file.exists() and pid_file.read_text()):
                await asyncio.sleep(0.05)
    finally:
        kernel.send_signal(signal.SIGKILL)  # what a dying kernel feels like: no clean-up at all
        await kernel.wait()
    pytest_pid = int(pid_file.read_text())
    async with asyncio.timeout(10):
        while _alive(pytest_pid):
            await asyncio.sleep(0.05)

    db = Database(db_path)
    try:
        assert db.get_task(task_id)["status"] == TaskStatus.IN_PROGRESS  # what the crash left
        quick = {
            "files": [
                {
                    "path": "tests/test_slow.py",
                    "action": "modify",
                    "content": "def test_quick():\n    assert True\n",
                }
            ],
            "explanation": "quick",
        }
        lead = LeadAgent(
            project_id,
            db,
            client=ScriptedClient(default=quick),
            test_runner=TestRunner(root, plugin_autoload=False),
        )
        summary = await lead.start_multi_agent_execution()
        assert summary["completed"] == 1
        task = db.get_task(task_id)
        assert task["status"] == TaskStatus.COMPLETED
        assert any("interrupted" in note["text"] for note in task["notes"])
        runs = db.get_runs(project_id)
        assert len(runs) == 2 and all(r["ended_at"] for r in runs)
    finally:
        db.close()


async def test_a_run_first_undoes_the_file_changes_a_killed_run_left_half_made(
    db, project_id, project
):
    """A group abandoned mid-way (as by a SIGKILL) is rolled back before the next run works."""
    before = (project / "calc.py").read_text()
    changes = [
        {"path": "calc.py", "action": "modify", "content": "broken = True\n"},
        {"path": "half/new.py", "action": "create", "content": "x = 1\n"},
    ]
    group = FileGroup.plan(os.path.realpath(project), validate_file_changes(project, changes))
    group.prepare()
    group.switch()  # the new files are in place, the group never committed
    assert group.fd is not None
    os.close(group.fd)  # the kill drops the journal's lock
    assert (project / "calc.py").read_text() == "broken = True\n"

    # No task at all: the run's own start does the recovery, not a worker's next write.
    lead = LeadAgent(project_id, db, client=ScriptedClient(), test_runner=FixedResultRunner())
    await lead.start_multi_agent_execution()

    assert (project / "calc.py").read_text() == before
    assert not (project / "half").exists()
    assert not (project / JOURNAL_DIR).exists()
