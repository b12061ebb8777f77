"""The agents' seams: an injected worker factory, the client on every worker, typed stand-ins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from codeframe.agents.agent_pool_manager import AgentPoolManager
from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.agents.frontend_worker_agent import FrontendWorkerAgent
from codeframe.agents.lead_agent import LeadAgent
from codeframe.agents.test_worker_agent import TestWorkerAgent
from codeframe.core.models import TaskStatus
from codeframe.llm import ScriptedClient
from codeframe.notebook import AgentPanel
from codeframe.testing.fixed_runner import FixedResultRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder

from .conftest import changes
from .test_lead_agent import note_reply


class ReportingWorker:
    """A worker of another design: it reports an outcome and never touches the database.

    Tasks whose title holds "flaky" fail; the rest complete.
    """

    def __init__(self, kind: str, agent_id: str) -> None:
        self.kind, self.agent_id = kind, agent_id
        self.seen: list[int] = []

    async def execute_task(self, task: Mapping[str, Any]) -> dict[str, Any]:
        self.seen.append(task["id"])
        status = "failed" if "flaky" in task["title"] else "completed"
        error = None if status == "completed" else f"{self.kind} says {status}"
        return {"status": status, "files_modified": [], "output": "ok", "error": error}


def test_the_pool_builds_workers_with_the_factory_it_was_given(db, project_id):
    built: list[tuple[str, str]] = []

    def factory(kind: str, agent_id: str) -> ReportingWorker:
        built.append((kind, agent_id))
        return ReportingWorker(kind, agent_id)

    pool = AgentPoolManager(project_id, db, worker_factory=factory)
    agent_id = pool.create_agent("frontend-specialist")
    assert built == [("frontend", "frontend-1")]
    assert isinstance(pool.get_agent_instance(agent_id), ReportingWorker)


async def test_a_lead_runs_workers_from_an_injected_factory(db, project_id):
    """Outcomes a worker only reports are still written through the run's lifecycle."""
    ok = db.create_task(project_id, "Add an endpoint")
    flaky = db.create_task(project_id, "Add the flaky endpoint")
    after = db.create_task(project_id, "Use the endpoint", depends_on=[flaky])
    workers: list[ReportingWorker] = []

    def factory(kind: str, agent_id: str) -> ReportingWorker:
        workers.append(ReportingWorker(kind, agent_id))
        return workers[-1]

    lead = LeadAgent(project_id, db, worker_factory=factory, max_agents=1)
    summary = await lead.start_multi_agent_execution(max_retries=1, max_concurrent=1)

    assert db.get_task(ok)["status"] == TaskStatus.COMPLETED
    assert db.get_task(flaky)["status"] == TaskStatus.FAILED
    assert "says failed" in db.get_task(flaky)["error"]
    assert db.get_task(after)["status"] == TaskStatus.BLOCKED
    assert (summary["completed"], summary["failed"], summary["blocked"]) == (1, 1, 1)
    assert summary["retries"] == 1  # a reported failure is retryable unless it says not
    assert sorted(task for worker in workers for task in worker.seen) == [ok, flaky, flaky]


@pytest.mark.parametrize("cls", [BackendWorkerAgent, FrontendWorkerAgent, TestWorkerAgent])
def test_every_worker_takes_the_client_to_use(db, project_id, cls):
    client = ScriptedClient(default=note_reply)
    worker = cls(project_id, db, None, client=client)
    assert worker.client is client
    assert worker._claude() is client  # no key needed, no live client made


async def test_a_panel_without_a_database_still_names_a_workers_task(db, project_id, project):
    task_id = db.create_task(project_id, "Write the release notes")
    panel = AgentPanel()
    worker = BackendWorkerAgent(
        project_id,
        db,
        None,
        project_root=project,
        ws_manager=panel,
        client=ScriptedClient(default=note_reply),
        test_runner=FixedResultRunner(),
    )
    await worker.execute_task(db.get_task(task_id))
    task = panel.snapshot()["tasks"][task_id]
    assert task["title"] == "Write the release notes"
    assert task["status"] == "completed"


async def test_a_task_that_names_its_worker_is_run_by_that_worker(db, project_id, project):
    db.create_task(project_id, "Add an API endpoint", worker="frontend")
    recorder = BroadcastRecorder()
    lead = LeadAgent(
        project_id,
        db,
        ws_manager=recorder,
        client=ScriptedClient(default=changes(("frontend/notes.txt", "create", "hi"))),
        test_runner=FixedResultRunner(),
    )
    assert (await lead.start_multi_agent_execution())["completed"] == 1
    assert [m["agent_type"] for m in recorder.of_type("agent_created")] == ["frontend"]
