"""The bundled demo: its outcome, its work folder, and a run of `python -m codeframe demo`.

The command line's own machinery (parser, errors, progress lines) is tested in tests/cli."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from codeframe.agents.simple_assignment import SimpleAgentAssigner, normalize_agent_type
from codeframe.demo import DEMO_TASKS, DemoWorkdirError, demo_client, prepare_workdir, run_demo
from codeframe.demo.runner import DB_NAME, MARKER, SAMPLE_PROJECT, DemoResult
from codeframe.errors import MissingAPIKeyError
from codeframe.llm import ScriptedClient
from codeframe.persistence.database import Database
from codeframe.ui import BroadcastRecorder

HEADINGS = (
    "== Tasks ==", "== Test results ==", "== Correction attempts ==", "== Blockers ==",
    "== Commits ==",
)  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, BroadcastRecorder]:
    """One offline demo run shared by the read-only tests (no simulated latency)."""
    recorder = BroadcastRecorder()
    workdir = tmp_path_factory.mktemp("demo") / "work"
    result = asyncio.run(run_demo(workdir, client=demo_client(latency=0.0), ws_manager=recorder))
    return result, recorder


@pytest.fixture
def db(demo: tuple[DemoResult, BroadcastRecorder]):
    database = Database(demo[0].db_path)
    yield database
    database.close()


def task_id(demo: tuple[DemoResult, BroadcastRecorder], number: str) -> int:
    return demo[0].task_ids[number]


# -- the task list -------------------------------------------------------------------------


def test_every_task_lands_on_the_worker_it_was_written_for():
    assigner = SimpleAgentAssigner()
    for task in DEMO_TASKS:
        chosen = assigner.assign_agent_type({"title": task.title, "description": task.description})
        assert normalize_agent_type(chosen) == task.worker, task.title
    assert {task.worker for task in DEMO_TASKS} == {"backend", "frontend", "test"}
    assert 6 <= len(DEMO_TASKS) <= 10


# -- the outcome (from the database) -------------------------------------------------------


def test_six_tasks_complete_and_three_end_blocked(demo, db):
    result, _ = demo
    assert result.summary["completed"] == 6
    assert result.summary["blocked"] == 3
    assert result.summary["failed"] == result.summary["cancelled"] == 0
    statuses = {t["task_number"]: t["status"] for t in db.get_project_tasks(result.project_id)}
    assert statuses == {
        "1": "completed", "2": "completed", "3": "completed", "4": "completed",
        "5": "completed", "6": "completed", "7": "blocked", "8": "blocked", "9": "blocked",
    }  # fmt: skip


def test_tasks_ran_on_the_intended_workers(demo, db):
    agents = {t["task_number"]: t["assigned_to"] for t in db.get_project_tasks(demo[0].project_id)}
    for task in DEMO_TASKS[:7]:
        assert agents[task.number].startswith(f"{task.worker}-"), task.title
    assert agents["8"] is None and agents["9"] is None  # never ran


def test_most_tasks_pass_on_their_first_run(demo, db):
    for number in ("1", "2", "3", "5", "6"):
        runs = db.get_test_results_by_task(task_id(demo, number))
        assert [(r["attempt"], r["status"]) for r in runs] == [(0, "passed")], number
        assert db.count_correction_attempts(task_id(demo, number)) == 0


def test_isbn_task_fails_then_self_corrects_on_attempt_two(demo, db):
    tid = task_id(demo, "4")
    runs = db.get_test_results_by_task(tid)
    assert [(r["attempt"], r["status"]) for r in runs] == [
        (0, "failed"), (1, "failed"), (2, "passed"),
    ]  # fmt: skip
    attempts = db.get_correction_attempts_by_task(tid)
    assert [a["attempt_number"] for a in attempts] == [1, 2]
    # Each correction row points at the run after its fix.
    assert [a["test_result_id"] for a in attempts] == [runs[1]["id"], runs[2]["id"]]
    assert db.get_blockers_by_task(tid) == []


def test_export_task_exhausts_three_attempts_and_files_a_blocker(demo, db):
    tid = task_id(demo, "7")
    runs = db.get_test_results_by_task(tid)
    assert [(r["attempt"], r["status"]) for r in runs] == [(n, "failed") for n in range(4)]
    assert [a["attempt_number"] for a in db.get_correction_attempts_by_task(tid)] == [1, 2, 3]
    (blocker,) = db.get_blockers_by_task(tid)
    assert blocker["severity"] == "sync"
    assert "3 self-correction attempts" in blocker["reason"]
    # The last fix still rounds 1.005 down: the failing case is named.
    assert "1.005" in blocker["reason"]


def test_dependents_of_the_export_are_blocked_naming_it(demo, db):
    upstream = task_id(demo, "7")
    for number in ("8", "9"):
        tid = task_id(demo, number)
        (blocker,) = db.get_blockers_by_task(tid)
        assert blocker["severity"] == "async"
        assert f"task #{upstream}" in blocker["reason"]
        assert db.get_test_results_by_task(tid) == []


def test_three_tasks_are_in_flight_together_at_the_start(demo):
    _, recorder = demo
    started_before_any_finished = []
    for message in recorder.of_type("task_status_changed"):
        if message["status"] != "in_progress":
            break
        started_before_any_finished.append(message["task_id"])
    assert sorted(started_before_any_finished) == sorted(task_id(demo, n) for n in ("1", "2", "3"))


def test_the_agents_changed_the_copy_and_never_the_packaged_sample(demo):
    result, _ = demo
    # Completed work is integrated into the copy; the blocked export (task 7) is not: a
    # task that ends blocked changes nothing in the integration branch.
    assert (result.project_root / "frontend" / "components" / "BookCard.js").is_file()
    assert not (result.project_root / "bookshelf" / "export.py").exists()
    assert not (SAMPLE_PROJECT / "bookshelf" / "export.py").exists()
    assert not (SAMPLE_PROJECT / "frontend" / "components" / "BookCard.js").exists()
    assert not (SAMPLE_PROJECT / "bookshelf" / "__pycache__").exists()


# -- the work folder -----------------------------------------------------------------------


async def test_a_second_run_in_the_same_folder_starts_afresh(demo, tmp_path):
    workdir = tmp_path / "again"
    shutil.copytree(demo[0].workdir, workdir)
    (workdir / "project" / "stray.txt").write_text("left over")

    result = await run_demo(workdir, client=demo_client(latency=0.0))

    assert not (workdir / "project" / "stray.txt").exists()
    assert (result.summary["completed"], result.summary["blocked"]) == (6, 3)
    with Database(workdir / DB_NAME) as again:
        assert len(again.get_project_tasks(result.project_id)) == 9
        assert [p["id"] for p in again.list_projects()] == [result.project_id]


async def test_a_folder_that_is_not_ours_is_refused_and_left_alone(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    client = ScriptedClient()

    with pytest.raises(DemoWorkdirError, match=MARKER):
        await run_demo(mine, client=client)

    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
    assert client.history == []


@pytest.mark.parametrize("plant", ["empty marker", "foreign file", "git repository", "symlink"])
def test_a_planted_marker_does_not_make_a_folder_ours(tmp_path, plant):
    ours = prepare_workdir(tmp_path / "ours").parent  # a real demo folder, for its marker
    mine = tmp_path / "mine"
    mine.mkdir()
    if plant == "empty marker":
        (mine / MARKER).write_text("")
    elif plant == "symlink":
        (mine / MARKER).symlink_to(ours / MARKER)
    else:
        shutil.copy(ours / MARKER, mine / MARKER)
        if plant == "foreign file":
            (mine / "thesis.tex").write_text("precious")
        else:
            (mine / ".git").mkdir()
            (mine / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    before = sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*"))

    with pytest.raises(DemoWorkdirError, match="refusing to delete it"):
        prepare_workdir(mine)

    assert sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*")) == before


@pytest.mark.parametrize("where", [SAMPLE_PROJECT, SAMPLE_PROJECT.parent, SAMPLE_PROJECT / "x"])
def test_the_packaged_sample_is_never_a_work_folder(where):
    with pytest.raises(DemoWorkdirError, match="sample project"):
        prepare_workdir(where)
    assert not (SAMPLE_PROJECT / "x").exists()


def test_an_empty_folder_is_used_and_marked(tmp_path):
    root = prepare_workdir(tmp_path)
    assert (tmp_path / MARKER).is_file()
    assert (root / "pytest.ini").is_file()
    assert not any(root.rglob("__pycache__"))


# -- live mode -----------------------------------------------------------------------------


async def test_live_without_a_key_is_refused_before_anything_is_copied(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="ANTHROPIC_API_KEY"):
        await run_demo(tmp_path / "live", live=True)
    assert not (tmp_path / "live").exists()


class FailingClient:
    """Stands in for the live client: every call fails as a bad key would; it must be closed."""

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False
        self.messages = self

    async def create(self, **kwargs: Any) -> Any:
        self.calls += 1
        raise MissingAPIKeyError("stub: no real Claude in tests")

    async def close(self) -> None:
        self.closed = True


async def test_live_with_a_key_uses_the_client_from_env_and_closes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-a-key")
    stub = FailingClient()
    monkeypatch.setattr("codeframe.demo.runner.client_from_env", lambda: stub)

    result = await run_demo(tmp_path / "live", live=True)

    assert result.live is True
    assert stub.calls == 3  # tasks 1-3 fail without retries; everything after is blocked
    assert stub.closed
    assert (result.summary["failed"], result.summary["blocked"]) == (3, 6)


# -- the command line ----------------------------------------------------------------------


def test_python_m_codeframe_demo_runs_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "codeframe", "demo", "--workdir", str(tmp_path / "w")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=100, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for heading in HEADINGS:
        assert heading in out
    assert [out.index(heading) for heading in HEADINGS] == sorted(
        out.index(heading) for heading in HEADINGS
    )
    assert "6 completed, 3 blocked, 0 failed" in out
    assert f"git -C {tmp_path / 'w' / 'project'} log --oneline" in out
    assert "self-correction attempt 2/3 made the tests pass" in out
    assert "progress 9/9" in out
