"""The lead agent through its public API: concurrency, dependencies, retries, blocking, stopping."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.models import TaskStatus, TestResult
from codeframe.errors import CodeframeError, DependencyCycleError, RunTimeoutError
from codeframe.llm import ScriptedClient
from codeframe.testing.fixed_runner import FixedResultRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder


def note_reply(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Each task writes one small file named after its id, like the benchmark's tasks."""
    text = kwargs["messages"][0]["content"]
    task_id = text.split("Task #", 1)[1].split(":", 1)[0]
    return {
        "files": [{"path": f"notes/task_{task_id}.txt", "action": "create", "content": text[:80]}],
        "explanation": f"note for {task_id}",
    }


class CountingClient:
    """Wraps a scripted client and records how many calls are in flight at once, and threads."""

    def __init__(self, inner: ScriptedClient, latency: float = 0.0) -> None:
        self.inner = inner
        self.latency = latency
        self.in_flight = 0
        self.peak = 0
        self.threads_seen: set[int] = set()
        self.messages = self

    async def create(self, **kwargs: Any) -> Any:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.threads_seen.update(t.ident for t in threading.enumerate())
        try:
            await asyncio.sleep(self.latency)
            return await self.inner.messages.create(**kwargs)
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        await self.inner.close()


def lead(db, project_id, client, runner=None, recorder=None, **kw) -> LeadAgent:
    return LeadAgent(
        project_id,
        db,
        ws_manager=recorder,
        client=client,
        test_runner=runner or FixedResultRunner(),
        **kw,
    )


async def test_forty_tasks_never_exceed_ten_in_flight_and_use_no_threads(db, project_id):
    for n in range(40):
        db.create_task(project_id, f"Implement service {n}")
    client = CountingClient(ScriptedClient(default=note_reply), latency=0.02)
    threads_before = {t.ident for t in threading.enumerate()}

    summary = await lead(db, project_id, client, max_agents=20).start_multi_agent_execution(
        max_concurrent=10
    )

    assert summary["completed"] == 40
    assert summary["total_tasks"] == 40
    assert summary["failed"] == summary["blocked"] == summary["cancelled"] == 0
    assert client.peak == 10
    assert client.threads_seen == threads_before
    assert {t.ident for t in threading.enumerate()} == threads_before


async def test_concurrency_is_capped_by_max_agents(db, project_id):
    for n in range(12):
        db.create_task(project_id, f"Implement service {n}")
    client = CountingClient(ScriptedClient(default=note_reply), latency=0.02)
    summary = await lead(db, project_id, client, max_agents=3).start_multi_agent_execution(
        max_concurrent=10
    )
    assert summary["completed"] == 12
    assert client.peak == 3


async def test_dependencies_are_respected(db, project_id):
    ids = db.create_tasks(
        project_id,
        [
            {"title": "Create schema", "task_number": "1"},
            {"title": "Add API endpoint", "task_number": "2", "depends_on": ["1"]},
            {"title": "Add service layer", "task_number": "3", "depends_on": ["1"]},
            {"title": "Wire endpoint to service", "task_number": "4", "depends_on": ["2", "3"]},
        ],
    )
    client = ScriptedClient(default=note_reply)
    recorder = BroadcastRecorder()
    summary = await lead(db, project_id, client, recorder=recorder).start_multi_agent_execution()

    assert summary["completed"] == 4
    order = [
        m["task_id"]
        for m in recorder.messages
        if m["type"] == "task_status_changed" and m["status"] == "in_progress"
    ]
    done = [
        m["task_id"]
        for m in recorder.messages
        if m["type"] == "task_status_changed" and m["status"] == "completed"
    ]
    assert order[0] == ids[0]
    assert order[-1] == ids[3]
    assert done.index(ids[1]) < order.index(ids[3])
    assert done.index(ids[2]) < order.index(ids[3])
    progress = [m for m in recorder.messages if m["type"] == "progress_update"]
    assert [(m["completed"], m["total"]) for m in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert recorder.messages[-1]["type"] == "agent_retired"


async def test_a_blocked_upstream_blocks_its_dependents(db, project_id):
    ids = db.create_tasks(
        project_id,
        [
            {"title": "Make the parser", "task_number": "1"},
            {"title": "Use the parser", "task_number": "2", "depends_on": ["1"]},
            {"title": "Document the parser use", "task_number": "3", "depends_on": ["2"]},
            {"title": "Unrelated endpoint", "task_number": "4"},
        ],
    )
    failing = FixedResultRunner(TestResult("failed", failed=1, output="assert 1 == 2"))
    client = ScriptedClient(default=note_reply)
    recorder = BroadcastRecorder()
    summary = await lead(
        db, project_id, client, runner=failing, recorder=recorder
    ).start_multi_agent_execution()

    statuses = {t["id"]: t["status"] for t in db.get_project_tasks(project_id)}
    # Everything fails its tests, so the two roots block on their own and 2, 3 are never run.
    assert statuses == {i: "blocked" for i in ids}
    assert summary["blocked"] == 4
    ran = {c["messages"][0]["content"].split(":", 1)[0] for c in client.history}
    assert ran == {f"Task #{ids[0]}", f"Task #{ids[3]}"}
    reasons = {b["task_id"]: b["reason"] for b in db.get_blockers(project_id)}
    assert f"task #{ids[0]}" in reasons[ids[1]]
    assert f"task #{ids[0]}" in reasons[ids[2]]  # transitively
    blocked_msgs = {
        m["task_id"]: m["blocked_by"] for m in recorder.messages if m["type"] == "task_blocked"
    }
    assert blocked_msgs[ids[0]] == []
    assert blocked_msgs[ids[1]] == [ids[0]]


async def test_a_failed_task_is_retried_then_completes(db, project_id):
    task_id = db.create_task(project_id, "Flaky service")
    reply = note_reply
    client = ScriptedClient([("Flaky", [RuntimeError("connection reset"), reply])])
    summary = await lead(db, project_id, client).start_multi_agent_execution(max_retries=3)
    assert summary["completed"] == 1
    assert summary["retries"] == 1
    assert db.get_task(task_id)["status"] == TaskStatus.COMPLETED
    assert db.get_task(task_id)["execution_count"] == 2


async def test_retries_stop_after_max_retries_and_block_dependents(db, project_id):
    ids = db.create_tasks(
        project_id,
        [
            {"title": "Always broken", "task_number": "1"},
            {"title": "After broken", "task_number": "2", "depends_on": ["1"]},
        ],
    )
    client = ScriptedClient([("Always broken", RuntimeError("still broken"))])
    summary = await lead(db, project_id, client).start_multi_agent_execution(max_retries=2)
    assert summary["retries"] == 2
    assert len(client.history) == 3  # 1 + max_retries runs
    assert db.get_task(ids[0])["status"] == TaskStatus.FAILED
    assert db.get_task(ids[1])["status"] == TaskStatus.BLOCKED
    assert summary["failed"] == 1 and summary["blocked"] == 1


async def test_unretryable_failures_are_not_retried(db, project_id):
    db.create_task(project_id, "Unscripted work")
    client = ScriptedClient([("nothing matches this", "{}")])
    summary = await lead(db, project_id, client).start_multi_agent_execution(max_retries=3)
    assert summary["failed"] == 1
    assert summary["retries"] == 0


async def test_a_cycle_is_reported_before_anything_runs(db, project_id):
    ids = db.create_tasks(
        project_id,
        [
            {"title": "A", "task_number": "1", "depends_on": ["2"]},
            {"title": "B", "task_number": "2", "depends_on": ["1"]},
        ],
    )
    client = ScriptedClient(default=note_reply)
    with pytest.raises(DependencyCycleError) as caught:
        async with asyncio.timeout(10):
            await lead(db, project_id, client).start_multi_agent_execution()
    assert str(caught.value) == f"Circular dependencies detected: {ids[0]} → {ids[1]} → {ids[0]}"
    assert client.history == []
    assert {t["status"] for t in db.get_project_tasks(project_id)} == {"pending"}


async def test_a_missing_dependency_blocks_the_task(db, project_id):
    task_id = db.create_task(project_id, "Orphan", depends_on=[999])
    summary = await lead(
        db, project_id, ScriptedClient(default=note_reply)
    ).start_multi_agent_execution()
    assert summary["blocked"] == 1
    assert "#999" in db.get_blockers(project_id)[0]["reason"]
    assert db.get_task(task_id)["status"] == TaskStatus.BLOCKED


async def test_timeout_cancels_exactly_the_running_tasks(db, project_id):
    ids = [db.create_task(project_id, f"Slow service {n}") for n in range(5)]
    client = ScriptedClient(default=note_reply, latency=30)
    agent = lead(db, project_id, client)
    with pytest.raises(RunTimeoutError) as caught:
        await agent.start_multi_agent_execution(max_concurrent=2, timeout=0.3)
    statuses = [db.get_task(i)["status"] for i in ids]
    assert statuses == ["cancelled", "cancelled", "pending", "pending", "pending"]
    assert caught.value.summary["cancelled"] == 2
    assert isinstance(caught.value, TimeoutError)
    assert agent.agent_pool_manager.get_agent_status() == {}


async def test_cancelling_a_run_marks_running_tasks_and_a_new_run_resumes(db, project_id):
    ids = [db.create_task(project_id, f"Service {n}") for n in range(3)]
    slow = ScriptedClient(default=note_reply, latency=30)
    run = asyncio.create_task(
        lead(db, project_id, slow).start_multi_agent_execution(max_concurrent=2)
    )
    await asyncio.sleep(0.2)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert [db.get_task(i)["status"] for i in ids] == ["cancelled", "cancelled", "pending"]

    summary = await lead(
        db, project_id, ScriptedClient(default=note_reply)
    ).start_multi_agent_execution()
    assert summary["completed"] == 3


async def test_a_second_run_while_one_is_live_is_refused(db, project_id):
    db.create_task(project_id, "Slow")
    client = ScriptedClient(default=note_reply, latency=30)
    first = asyncio.create_task(lead(db, project_id, client).start_multi_agent_execution())
    await asyncio.sleep(0.1)
    with pytest.raises(
        CodeframeError, match=f"a run is already in progress for project {project_id}"
    ):
        await lead(db, project_id, client).start_multi_agent_execution()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_agents_are_pooled_by_type_and_retired(db, project_id):
    db.create_tasks(
        project_id,
        [
            {"title": "Login form component", "task_number": "1"},
            {"title": "Write pytest coverage for login", "task_number": "2"},
            {"title": "Login API endpoint", "task_number": "3"},
        ],
    )
    recorder = BroadcastRecorder()
    await lead(
        db,
        project_id,
        ScriptedClient(default=lambda kw: {"files": [], "explanation": "nothing to change"}),
        recorder=recorder,
    ).start_multi_agent_execution(max_concurrent=1)
    created = [
        (m["agent_id"], m["agent_type"]) for m in recorder.messages if m["type"] == "agent_created"
    ]
    assert sorted(t for _, t in created) == ["backend", "frontend", "test"]
    retired = {m["agent_id"] for m in recorder.messages if m["type"] == "agent_retired"}
    assert retired == {a for a, _ in created}
    assigned = {t["title"]: t["assigned_to"] for t in db.get_project_tasks(project_id)}
    assert assigned["Login form component"].startswith("frontend-")
    assert assigned["Write pytest coverage for login"].startswith("test-")
    assert assigned["Login API endpoint"].startswith("backend-")


async def test_a_resolved_blocker_unblocks_the_task_and_reaches_the_prompt(db, project_id):
    task_id = db.create_task(project_id, "Round prices half up")
    failing = FixedResultRunner(TestResult("failed", failed=1, output="assert '1.00' == '1.01'"))
    await lead(
        db, project_id, ScriptedClient(default=note_reply), runner=failing
    ).start_multi_agent_execution()
    assert db.get_task(task_id)["status"] == TaskStatus.BLOCKED
    blocker = db.get_blockers(project_id)[0]
    assert blocker["question"]

    db.resolve_blocker(blocker["id"], "Use Decimal(str(price)) before rounding.")
    assert db.get_task(task_id)["status"] == TaskStatus.PENDING
    client = ScriptedClient(default=note_reply)
    recorder = BroadcastRecorder()
    summary = await lead(db, project_id, client, recorder=recorder).start_multi_agent_execution()

    assert summary["completed"] == 1
    prompt = client.history[0]["messages"][0]["content"]
    assert "Answer: Use Decimal(str(price)) before rounding." in prompt
    assert blocker["question"] in prompt
    unblocked = recorder.of_type("task_unblocked")
    assert [m["task_id"] for m in unblocked] == [task_id]
    assert recorder.types().index("task_unblocked") < recorder.types().index("task_assigned")
