"""A workspace of its own for every task: real git worktrees, commits and merges, end to end."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.models import TaskStatus
from codeframe.errors import DirtyWorkingTreeError
from codeframe.llm import ScriptedClient
from codeframe.notebook import commits_frame
from codeframe.persistence.database import Database
from codeframe.testing.test_runner import TestRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder

from .conftest import CALC, CALC_TESTS, MULTIPLY_BUGGY, MULTIPLY_TESTS, changes

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The calculator project as a git repository with one commit on ``main``."""
    root = tmp_path / "calc"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "tests" / "test_calc.py").write_text(CALC_TESTS)
    (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "calc")
    return root


@pytest.fixture
def project_id(db, repo: Path) -> int:
    return db.create_project("calc", workspace_path=str(repo))


def lead_for(db, project_id, repo, client, **kw) -> LeadAgent:
    return LeadAgent(
        project_id,
        db,
        client=client,
        test_runner=TestRunner(repo, timeout=60, plugin_autoload=False),
        **kw,
    )


def ours_left(repo: Path) -> tuple[list[str], str]:
    """Worktrees other than the user's checkout, and the checkout's ``git status``."""
    listed = git(repo, "worktree", "list", "--porcelain").split("\n\n")
    others = [entry for entry in listed if entry.strip() and f"worktree {repo}\n" not in entry]
    return others, git(repo, "status", "--porcelain")


NOTE_A = changes(("notes_a.py", "create", "A = 1\n"), explanation="note a")
NOTE_B = changes(("notes_b.py", "create", "B = 2\n"), explanation="note b")


async def test_a_blocked_task_no_longer_breaks_an_independent_one(db, project_id, repo):
    broken = changes(
        ("calc.py", "modify", MULTIPLY_BUGGY), ("tests/test_multiply.py", "create", MULTIPLY_TESTS)
    )
    client = ScriptedClient([("multiply", broken), ("Independent", NOTE_A)])
    first = db.create_task(project_id, "Add a multiply function", priority=0)
    second = db.create_task(project_id, "Independent note")
    summary = await lead_for(db, project_id, repo, client).start_multi_agent_execution(
        max_concurrent=1
    )

    assert db.get_task(first)["status"] == TaskStatus.BLOCKED
    assert db.get_task(second)["status"] == TaskStatus.COMPLETED  # shared mode: blocked too
    assert (summary["completed"], summary["blocked"]) == (1, 1)
    # The user's checkout has the completed work and nothing of the blocked task's.
    assert (repo / "notes_a.py").read_text() == "A = 1\n"
    assert (repo / "calc.py").read_text() == CALC
    [blocker] = db.get_blockers(project_id)
    assert f"codeframe/task-{first}" in blocker["reason"]  # the branch kept for inspection
    assert f"codeframe/task-{first}" in git(repo, "branch", "--list", "codeframe/*")


async def test_two_tasks_on_different_files_both_land_with_a_commit_each(db, project_id, repo):
    client = ScriptedClient([("Note A", NOTE_A), ("Note B", NOTE_B)], latency=0.05)
    ids = [db.create_task(project_id, "Note A"), db.create_task(project_id, "Note B")]
    recorder = BroadcastRecorder()
    lead = lead_for(db, project_id, repo, client, ws_manager=recorder)
    summary = await lead.start_multi_agent_execution(max_concurrent=2)

    assert summary["completed"] == 2
    assert (repo / "notes_a.py").exists() and (repo / "notes_b.py").exists()
    log = git(repo, "log", "--format=%s%n%b", "main")
    for task_id in ids:
        assert f"Codeframe-Task: {task_id}" in log
    frame = commits_frame(db, project_id)
    assert sorted(frame["task_id"].tolist()) == sorted(ids)
    assert sorted(path for files in frame["files"] for path in files) == [
        "notes_a.py",
        "notes_b.py",
    ]
    assert (frame["insertions"] == 1).all()
    assert len(recorder.of_type("commit_created")) == 2
    assert ours_left(repo) == ([], "")


async def test_two_tasks_on_the_same_lines_give_one_commit_and_one_conflict(db, project_id, repo):
    one = changes(("calc.py", "modify", CALC.replace("a + b", "a + b  # one")))
    two = changes(("calc.py", "modify", CALC.replace("a + b", "b + a  # two")))
    client = ScriptedClient([("First edit", one), ("Second edit", two)], latency=0.05)
    first = db.create_task(project_id, "First edit")
    second = db.create_task(project_id, "Second edit")
    summary = await lead_for(db, project_id, repo, client).start_multi_agent_execution(
        max_concurrent=2
    )

    assert (summary["completed"], summary["blocked"]) == (1, 1)
    done, stuck = (
        (first, second) if db.get_task(first)["status"] == "completed" else (second, first)
    )
    [blocker] = db.get_blockers(project_id)
    assert (blocker["task_id"], blocker["blocker_type"]) == (stuck, "conflict")
    assert "calc.py" in blocker["reason"] and f"#{done}" in blocker["reason"]
    assert f"codeframe/task-{stuck}" in blocker["reason"]
    # Nothing corrupted: the checkout has the integrated edit, no merge in progress.
    assert "# one" in (repo / "calc.py").read_text() or "# two" in (repo / "calc.py").read_text()
    assert not (repo / ".git" / "MERGE_HEAD").exists()
    git(repo, "fsck", "--no-progress")
    assert git(repo, "status", "--porcelain") == ""


async def test_a_dependent_sees_its_dependencys_work_and_nothing_else(db, project_id, repo):
    uses = changes(("uses_a.py", "create", "from notes_a import A\n"))
    client = ScriptedClient([("Base", NOTE_A), ("Other", NOTE_B), ("Uses", uses)], latency=0.05)
    ids = db.create_tasks(
        project_id,
        [
            {"title": "Base", "task_number": "1"},
            {"title": "Other", "task_number": "2"},
            {"title": "Uses base", "task_number": "3", "depends_on": ["1"]},
        ],
    )
    lead = lead_for(db, project_id, repo, client)
    assert (await lead.start_multi_agent_execution(max_concurrent=3))["completed"] == 3

    commits = {c["task_id"]: c for c in commits_frame(db, project_id).to_dict("records")}
    tree = git(repo, "ls-tree", "-r", "--name-only", commits[ids[2]]["sha"]).split()
    # The dependent's worktree held its dependency's work and not the unrelated task's.
    assert "notes_a.py" in tree and "uses_a.py" in tree
    assert "notes_b.py" not in tree
    # Its prompt was built in that worktree: the related code shown is the dependency's.
    prompt = db.get_llm_calls(task_id=ids[2])[0]["request"]["messages"][0]["content"]
    assert "notes_b" not in prompt


async def test_a_dirty_checkout_is_refused_naming_the_paths_or_committed_on_request(
    db, project_id, repo
):
    (repo / "calc.py").write_text(CALC + "# edited by hand\n")
    (repo / "scratch.txt").write_text("mine\n")
    db.create_task(project_id, "Note A")
    client = ScriptedClient(default=NOTE_A)
    with pytest.raises(
        DirtyWorkingTreeError, match=r"calc\.py.*scratch\.txt|scratch\.txt.*calc\.py"
    ):
        await lead_for(db, project_id, repo, client).start_multi_agent_execution()
    assert client.history == []
    lead = lead_for(db, project_id, repo, client, commit_dirty=True)
    assert (await lead.start_multi_agent_execution())["completed"] == 1
    assert "# edited by hand" in git(repo, "show", "main:calc.py")  # kept, and committed
    assert "uncommitted" in git(repo, "log", "--format=%s", "main").lower()


async def test_outside_git_tasks_share_the_tree_and_say_so(db, tmp_path, caplog):
    root = tmp_path / "plain"
    root.mkdir()
    project_id = db.create_project("plain", workspace_path=str(root))
    db.create_task(project_id, "Note A")
    lead = lead_for(db, project_id, root, ScriptedClient(default=NOTE_A))
    with caplog.at_level(logging.INFO, logger="codeframe"):
        assert (await lead.start_multi_agent_execution())["completed"] == 1
    assert "isolation='shared'" in caplog.text
    assert (root / "notes_a.py").exists()


async def test_a_stop_mid_run_leaves_no_worktree_or_lock_behind(db, project_id, repo):
    for n in range(3):
        db.create_task(project_id, f"Slow note {n}")
    client = ScriptedClient(default=NOTE_A, latency=30)
    lead = lead_for(db, project_id, repo, client)
    run = asyncio.create_task(lead.start_multi_agent_execution(max_concurrent=3))
    async with asyncio.timeout(30):
        while len(client.history) < 3:
            await asyncio.sleep(0.05)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert ours_left(repo) == ([], "")
    assert not list((repo / ".git").rglob("*.lock"))
    quick = lead_for(db, project_id, repo, ScriptedClient(default=NOTE_A))
    assert (await quick.start_multi_agent_execution())["completed"] == 3


async def test_cleanup_removes_what_finished_tasks_kept(db, project_id, repo):
    broken = changes(
        ("calc.py", "modify", MULTIPLY_BUGGY), ("tests/test_multiply.py", "create", MULTIPLY_TESTS)
    )
    task_id = db.create_task(project_id, "Add a multiply function")
    lead = lead_for(db, project_id, repo, ScriptedClient(default=broken))
    assert (await lead.start_multi_agent_execution())["blocked"] == 1
    assert ours_left(repo)[0]  # the blocked task's worktree is kept
    removed = await lead.cleanup_workspaces()
    assert [r.task_id for r in removed] == [str(task_id)]
    assert ours_left(repo) == ([], "")
    assert git(repo, "branch", "--list", "codeframe/*") == ""


async def test_uncommitted_edits_in_the_way_block_the_task_without_paid_retries(
    db, project_id, repo
):
    """Found in review: git's refusal to update a checkout whose own edits touch the task's
    files was a retryable failure, so each retry paid for a model call and was refused the
    same way. A human has to commit or stash; the task waits for them with its commit kept."""
    reply = changes(("calc.py", "modify", CALC.replace("a + b", "b + a")))

    def edit_while_the_task_runs(_request):
        (repo / "calc.py").write_text(CALC + "# the user's own edit\n")
        return reply

    client = ScriptedClient(default=edit_while_the_task_runs)
    task_id = db.create_task(project_id, "Swap the operands")
    summary = await lead_for(db, project_id, repo, client).start_multi_agent_execution()

    assert (summary["blocked"], summary["failed"], summary["retries"]) == (1, 0, 0)
    assert len(client.history) == 1  # one paid call, no retries
    [blocker] = db.get_blockers(project_id)
    assert (blocker["task_id"], blocker["blocker_type"]) == (task_id, "conflict")
    assert "uncommitted changes" in blocker["reason"] and "calc.py" in blocker["question"]
    branch = f"codeframe/task-{task_id}"
    assert branch in blocker["reason"]
    assert "b + a" in git(repo, "show", f"{branch}:calc.py")  # the passing work is kept
    assert (repo / "calc.py").read_text() == CALC + "# the user's own edit\n"


async def test_a_stop_while_the_branch_moves_still_records_the_completed_task(
    db, project_id, repo, monkeypatch
):
    """Found in review: a cancel that landed while git moved the user's branch let git
    finish (it must) but then marked the task cancelled, with no commit row: the branch
    held work the database did not know. The task's status now follows the branch, with
    its events, even when the move outlasts the bound a stop gives other work."""
    import codeframe.agents.run_stopping as run_stopping
    import codeframe.workspaces.git as git_module

    real_run_git = git_module.run_git
    moving = asyncio.Event()

    async def slow_branch_move(*args, **kwargs):
        if args[:2] == ("merge", "--ff-only") or args[:1] == ("update-ref",):
            moving.set()
            await asyncio.sleep(0.5)
        return await real_run_git(*args, **kwargs)

    monkeypatch.setattr(git_module, "run_git", slow_branch_move)
    monkeypatch.setattr(run_stopping, "CLEANUP_BOUND_S", 0.05)  # far shorter than the move
    task_id = db.create_task(project_id, "Note A")
    recorder = BroadcastRecorder()
    lead = lead_for(db, project_id, repo, ScriptedClient(default=NOTE_A), ws_manager=recorder)
    run = asyncio.create_task(lead.start_multi_agent_execution())
    async with asyncio.timeout(30):
        await moving.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    assert (repo / "notes_a.py").read_text() == "A = 1\n"  # the branch moved
    assert db.get_task(task_id)["status"] == TaskStatus.COMPLETED
    assert commits_frame(db, project_id)["task_id"].tolist() == [task_id]
    assert [m["task_id"] for m in recorder.of_type("commit_created")] == [task_id]
    assert ours_left(repo) == ([], "")


async def test_git_failing_on_one_tasks_worktree_blocks_that_task_and_the_run_goes_on(
    db, project_id, repo
):
    """Found in review: a git error while making one task's worktree ended the whole run."""
    first = db.create_task(project_id, "Note A", priority=0)
    second = db.create_task(project_id, "Note B", priority=1)
    # A branch below the task's own name makes git refuse to create codeframe/task-<first>.
    git(repo, "branch", f"codeframe/task-{first}/in-the-way")
    client = ScriptedClient([("Note A", NOTE_A), ("Note B", NOTE_B)])
    summary = await lead_for(db, project_id, repo, client).start_multi_agent_execution(
        max_concurrent=1
    )

    assert (summary["completed"], summary["blocked"]) == (1, 1)
    assert db.get_task(second)["status"] == TaskStatus.COMPLETED
    [blocker] = db.get_blockers(project_id)
    assert blocker["task_id"] == first
    assert blocker["reason"].startswith("Its git worktree could not be made")
    assert (repo / "notes_b.py").exists() and not (repo / "notes_a.py").exists()


KILLED_KERNEL = """
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
reply = {"files": [{"path": "tests/test_slow.py", "action": "create", "content": slow_test}],
         "explanation": "slow"}
db = Database(db_path)
lead = LeadAgent(1, db, client=ScriptedClient(default=reply),
                 test_runner=TestRunner(root, plugin_autoload=False))
asyncio.run(lead.start_multi_agent_execution())
"""


async def test_a_run_killed_mid_task_is_recovered_by_the_next(tmp_path, repo):
    db_path = tmp_path / "killed.db"
    pid_file = tmp_path / "pytest.pid"
    with Database(db_path) as db:
        project_id = db.create_project("calc", workspace_path=str(repo))
        task_id = db.create_task(project_id, "Slow feature")
    kernel = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_KERNEL, str(db_path), str(repo), str(pid_file),
        env={k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"},
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            while not (pid_file.exists() and pid_file.read_text()):
                await asyncio.sleep(0.05)
    finally:
        kernel.send_signal(signal.SIGKILL)  # no clean-up at all: worktrees and locks stay
        await kernel.wait()
    assert ours_left(repo)[0], "the killed run left its task's worktree"

    with Database(db_path) as db:
        quick = changes(("notes_a.py", "create", "A = 1\n"))
        lead = LeadAgent(
            project_id,
            db,
            client=ScriptedClient(default=quick),
            test_runner=TestRunner(repo, timeout=60, plugin_autoload=False),
        )
        summary = await lead.start_multi_agent_execution()
        assert summary["completed"] == 1
        assert db.get_task(task_id)["status"] == TaskStatus.COMPLETED
    assert (repo / "notes_a.py").exists()
    assert ours_left(repo) == ([], "")
