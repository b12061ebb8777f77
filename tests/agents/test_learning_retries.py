"""Retries that learn (a refused reply is explained to the model) and a missing project found
before anything is paid for."""

from __future__ import annotations

import pytest

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.agents.lead_agent import LeadAgent
from codeframe.errors import MissingProjectRootError
from codeframe.llm import ScriptedClient
from codeframe.testing.fixed_runner import FixedResultRunner

from .conftest import MULTIPLY_BUGGY, MULTIPLY_OK, MULTIPLY_TESTS, changes

NOTE = changes(("notes/a.txt", "create", "hello"))


async def test_a_retry_after_a_refused_reply_tells_the_model_why(db, project_id, project):
    task_id = db.create_task(project_id, "Write a note")
    client = ScriptedClient([("Write a note", ["Sure! I would write a note.", NOTE])])
    lead = LeadAgent(project_id, db, client=client, test_runner=FixedResultRunner())
    summary = await lead.start_multi_agent_execution(max_retries=1)

    assert (summary["completed"], summary["retries"]) == (1, 1)
    first, second = (call["messages"][0]["content"] for call in client.history)
    assert "could not be used" not in first
    assert "Your previous reply could not be used" in second
    assert "reply is not JSON" in second
    assert db.get_task(task_id)["error"] is None


async def test_a_correction_after_a_refused_reply_tells_the_model_why(
    db, project_id, project, runner
):
    buggy = changes(
        ("calc.py", "modify", MULTIPLY_BUGGY), ("tests/test_multiply.py", "create", MULTIPLY_TESTS)
    )
    unsafe = changes(("../outside.py", "create", "x = 1"))
    fixed = changes(("calc.py", "modify", MULTIPLY_OK))
    client = ScriptedClient([("multiply", [buggy, unsafe, fixed])])
    task_id = db.create_task(project_id, "Add a multiply function")
    worker = BackendWorkerAgent(
        project_id, db, None, project_root=project, client=client, test_runner=runner
    )
    result = await worker.execute_task(db.get_task(task_id))

    assert result["status"] == "completed"
    prompts = [call["messages"][0]["content"] for call in client.history]
    assert len(prompts) == 3
    assert "could not be used" not in prompts[1]
    assert "Your previous reply could not be used" in prompts[2]
    assert "path traversal" in prompts[2]


async def test_a_missing_project_folder_fails_the_run_before_any_call(db, project_id, tmp_path):
    db.create_task(project_id, "Anything")
    client = ScriptedClient(default=NOTE)
    lead = LeadAgent(project_id, db, client=client, project_root=tmp_path / "gone")
    with pytest.raises(MissingProjectRootError, match="does not exist"):
        await lead.start_multi_agent_execution()
    assert client.history == []
    assert db.get_runs(project_id) == []


async def test_a_worker_on_a_missing_folder_fails_without_a_call(db, project_id, tmp_path):
    task_id = db.create_task(project_id, "Anything")
    client = ScriptedClient(default=NOTE)
    worker = BackendWorkerAgent(
        project_id,
        db,
        None,
        project_root=tmp_path / "gone",
        client=client,
        test_runner=FixedResultRunner(),
    )
    result = await worker.execute_task(db.get_task(task_id))
    assert (result["status"], result["retryable"]) == ("failed", False)
    assert "does not exist" in result["error"]
    assert client.history == []
