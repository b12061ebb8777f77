"""Record a worker's session with the real SDK (against a loopback stub), replay it offline."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.core.models import TaskStatus
from codeframe.llm import RecordingClient, ReplayClient
from codeframe.persistence.database import Database
from codeframe.testing.test_runner import TestRunner
from tests.support.stub_anthropic import message_body, stub_anthropic

from .conftest import CALC, CALC_TESTS, MULTIPLY_BUGGY, MULTIPLY_OK, MULTIPLY_TESTS, changes

KEY = "sk-ant-recording-test-key-0987654321"


def make_project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "tests" / "test_calc.py").write_text(CALC_TESTS)
    (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    return root


async def run_task(tmp: Path, name: str, client) -> tuple[dict, Database, int]:
    root = make_project(tmp / name)
    db = Database(tmp / f"{name}.db")
    project_id = db.create_project(name, workspace_path=str(root))
    task_id = db.create_task(project_id, "Add a multiply function")
    worker = BackendWorkerAgent(
        project_id,
        db,
        None,
        project_root=root,
        client=client,
        test_runner=TestRunner(root, plugin_autoload=False),
    )
    return await worker.execute_task(db.get_task(task_id)), db, task_id


async def test_a_recorded_fail_then_fix_session_replays_offline(tmp_path: Path):
    cassette = tmp_path / "session.json"
    steps = [
        (
            200,
            message_body(
                changes(
                    ("calc.py", "modify", MULTIPLY_BUGGY),
                    ("tests/test_multiply.py", "create", MULTIPLY_TESTS),
                )
            ),
            {},
        ),
        (200, message_body(changes(("calc.py", "modify", MULTIPLY_OK))), {}),
    ]
    async with stub_anthropic(steps) as stub:
        live = anthropic.AsyncAnthropic(api_key=KEY, base_url=stub.url, max_retries=0)
        recorder = RecordingClient(live, cassette, root=(tmp_path / "first").resolve())
        recorded, db1, task1 = await run_task(tmp_path, "first", recorder)
        await recorder.close()
    assert recorded["status"] == "completed"
    assert len(stub.requests) == 2
    text = cassette.read_text()
    assert KEY not in text and "x-api-key" not in text.lower()
    assert str(tmp_path / "first") not in text  # the project root is stored as <root>

    replay = ReplayClient(cassette, root=(tmp_path / "second").resolve())
    replayed, db2, task2 = await run_task(tmp_path, "second", replay)
    assert replayed["status"] == "completed"
    assert replay.remaining == 0
    runs = [
        [(r["attempt"], r["status"]) for r in db.get_test_results_by_task(t)]
        for db, t in ((db1, task1), (db2, task2))
    ]
    assert runs[0] == runs[1] == [(0, "failed"), (1, "passed")]
    assert json.loads(text)["version"] == 1


async def test_a_request_the_cassette_lacks_fails_the_task_clearly(tmp_path: Path):
    cassette = tmp_path / "empty.json"
    cassette.write_text(json.dumps({"version": 1, "entries": []}))
    result, db, task_id = await run_task(tmp_path, "miss", ReplayClient(cassette))
    assert result["status"] == "failed"
    assert result["retryable"] is False
    assert result["error"].startswith("ReplayMissError: ")
    assert "Task #1: Add a multiply function" in result["error"]
    assert db.get_task(task_id)["status"] == TaskStatus.FAILED
