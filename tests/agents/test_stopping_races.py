"""Stops that land at awkward moments: the database must still tell the truth afterwards."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import codeframe.agents.lead_agent as lead_module
from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.agents.lead_agent import LeadAgent
from codeframe.agents.lifecycle import TaskLifecycle
from codeframe.core.models import TaskStatus
from codeframe.llm import ScriptedClient
from codeframe.persistence.task_status import StatusWrite
from codeframe.testing.fixed_runner import FixedResultRunner

from .test_lead_agent import note_reply


class StallingTarget:
    """A slow broadcast target (like a websocket hub): it stalls on the first matching event."""

    def __init__(self, event_type: str, **fields: Any) -> None:
        self.event_type, self.fields = event_type, fields
        self.reached = asyncio.Event()
        self.messages: list[dict[str, Any]] = []

    async def broadcast(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        wanted = message["type"] == self.event_type and all(
            message.get(k) == v for k, v in self.fields.items()
        )
        if wanted and not self.reached.is_set():
            self.reached.set()
            await asyncio.sleep(30)


async def _cancel_when(target: StallingTarget, run: asyncio.Task) -> None:
    async with asyncio.timeout(10):
        await target.reached.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run


async def test_a_stop_while_a_task_is_handed_over_leaves_it_cancelled(db, project_id):
    task_id = db.create_task(project_id, "Slow hand-over")
    target = StallingTarget("task_assigned")
    lead = LeadAgent(
        project_id,
        db,
        ws_manager=target,
        client=ScriptedClient(default=note_reply),
        test_runner=FixedResultRunner(),
    )
    await _cancel_when(target, asyncio.create_task(lead.start_multi_agent_execution()))
    assert db.get_task(task_id)["status"] == TaskStatus.CANCELLED


async def test_a_stop_while_a_retry_is_scheduled_keeps_the_retry(db, project_id):
    task_id = db.create_task(project_id, "Flaky once")
    client = ScriptedClient([("Flaky", [RuntimeError("connection reset"), note_reply])])
    target = StallingTarget("agent_status_changed", status="idle")
    lead = LeadAgent(
        project_id, db, ws_manager=target, client=client, test_runner=FixedResultRunner()
    )
    await _cancel_when(target, asyncio.create_task(lead.start_multi_agent_execution()))
    assert db.get_task(task_id)["status"] == TaskStatus.PENDING  # not a final "failed"

    again = LeadAgent(project_id, db, client=client, test_runner=FixedResultRunner())
    summary = await again.start_multi_agent_execution()
    assert summary["completed"] == 1


async def test_a_cancel_during_the_final_report_keeps_the_final_status(db, project_id, tmp_path):
    task_id = db.create_task(project_id, "Finished work")
    target = StallingTarget("task_status_changed", status="completed")
    worker = BackendWorkerAgent(
        project_id,
        db,
        None,
        project_root=tmp_path / "project",
        ws_manager=target,
        client=ScriptedClient(default=note_reply),
        test_runner=FixedResultRunner(),
    )
    await _cancel_when(target, asyncio.create_task(worker.execute_task(db.get_task(task_id))))
    row = db.get_task(task_id)
    assert row["status"] == TaskStatus.COMPLETED
    assert row["completed_at"]


async def test_a_failing_ledger_write_never_swallows_a_cancel(
    db, project_id, tmp_path, monkeypatch
):
    task_id = db.create_task(project_id, "Cancelled mid-call")

    def broken(**_kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(db, "record_llm_call", broken)
    worker = BackendWorkerAgent(
        project_id,
        db,
        None,
        project_root=tmp_path / "project",
        client=ScriptedClient(default=note_reply, latency=30),
        test_runner=FixedResultRunner(),
    )
    running = asyncio.create_task(worker.execute_task(db.get_task(task_id)))
    await asyncio.sleep(0.1)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert db.get_task(task_id)["status"] == TaskStatus.CANCELLED


async def test_a_heartbeat_that_cannot_write_does_not_lock_the_project(db, project_id, monkeypatch):
    db.create_task(project_id, "Fast job")
    monkeypatch.setattr(lead_module, "_HEARTBEAT_WRITE_S", 0.0)

    def locked(_run_id: int) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(db, "heartbeat_run", locked)
    client = ScriptedClient(default=note_reply, latency=0.3)  # long enough for a few beats
    lead = LeadAgent(project_id, db, client=client, test_runner=FixedResultRunner())
    assert (await lead.start_multi_agent_execution())["completed"] == 1
    assert all(run["ended_at"] for run in db.get_runs(project_id))
    db.create_task(project_id, "Next")
    assert (await lead.start_multi_agent_execution())["completed"] == 2


async def test_a_cycle_changes_nothing_and_closes_its_run(db, project_id):
    ids = db.create_tasks(
        project_id,
        [
            {"title": "A", "task_number": "1", "depends_on": ["2"]},
            {"title": "B", "task_number": "2", "depends_on": ["1"]},
        ],
    )
    db.update_task(ids[0], {"status": "cancelled"})
    lead = LeadAgent(
        project_id, db, client=ScriptedClient(default=note_reply), test_runner=FixedResultRunner()
    )
    with pytest.raises(ValueError, match="Circular dependencies detected"):
        await lead.start_multi_agent_execution()
    assert db.get_task(ids[0])["status"] == TaskStatus.CANCELLED  # no recovery happened
    assert [bool(r["ended_at"]) for r in db.get_runs(project_id)] == [True]


async def test_a_missing_dependency_blocks_its_dependents_too(db, project_id):
    ids = db.create_tasks(
        project_id,
        [
            {"title": "Orphan", "task_number": "1", "depends_on": []},
            {"title": "After the orphan", "task_number": "2", "depends_on": ["1"]},
        ],
    )
    db.update_task(ids[0], {"depends_on": [999]})
    lead = LeadAgent(
        project_id, db, client=ScriptedClient(default=note_reply), test_runner=FixedResultRunner()
    )
    summary = await lead.start_multi_agent_execution()
    assert summary["blocked"] == 2
    reasons = {b["task_id"]: b["reason"] for b in db.get_blockers(project_id)}
    assert "#999" in reasons[ids[0]]
    assert f"#{ids[0]}" in reasons[ids[1]]


async def test_a_stop_while_a_retryable_failure_is_reported_keeps_the_retry(db, project_id):
    task_id = db.create_task(project_id, "Flaky once")
    client = ScriptedClient([("Flaky", [RuntimeError("connection reset"), note_reply])])
    # The worker has written "failed" and is broadcasting it when the stop lands.
    target = StallingTarget("activity_update", activity_type="task_failed")
    lead = LeadAgent(
        project_id, db, ws_manager=target, client=client, test_runner=FixedResultRunner()
    )
    await _cancel_when(target, asyncio.create_task(lead.start_multi_agent_execution()))
    assert db.get_task(task_id)["status"] == TaskStatus.PENDING

    again = LeadAgent(project_id, db, client=client, test_runner=FixedResultRunner())
    assert (await again.start_multi_agent_execution())["completed"] == 1


class CancelOnLastEvent:
    """Cancels the run as its last event (an agent retiring) goes out."""

    broadcast_timeout = None

    def __init__(self) -> None:
        self.run: asyncio.Task | None = None

    async def broadcast(self, message: dict[str, Any]) -> None:
        if message["type"] == "agent_retired" and self.run is not None:
            asyncio.get_running_loop().call_soon(self.run.cancel)


async def test_a_cancel_at_the_very_end_still_closes_the_run(db, project_id):
    db.create_task(project_id, "Only task")
    target = CancelOnLastEvent()
    lead = LeadAgent(
        project_id,
        db,
        ws_manager=target,
        client=ScriptedClient(default=note_reply),
        test_runner=FixedResultRunner(),
    )
    target.run = asyncio.create_task(lead.start_multi_agent_execution())
    with pytest.raises(asyncio.CancelledError):
        await target.run
    assert all(run["ended_at"] for run in db.get_runs(project_id))
    db.create_task(project_id, "Next")  # the project is not left locked
    again = LeadAgent(
        project_id, db, client=ScriptedClient(default=note_reply), test_runner=FixedResultRunner()
    )
    assert (await again.start_multi_agent_execution())["completed"] == 2


async def test_a_fault_after_the_final_write_does_not_undo_completed(db, project_id, monkeypatch):
    task_id = db.create_task(project_id, "Done once")
    real_complete, faults = TaskLifecycle.complete, []

    async def complete(self: TaskLifecycle, ident: int, **kwargs: Any) -> Any:
        await real_complete(self, ident, **kwargs)
        faults.append(ident)
        raise RuntimeError("disk I/O error")  # e.g. while reporting the written outcome

    monkeypatch.setattr(TaskLifecycle, "complete", complete)
    client = ScriptedClient(default=note_reply)
    lead = LeadAgent(project_id, db, client=client, test_runner=FixedResultRunner())
    summary = await lead.start_multi_agent_execution(max_retries=3)

    assert faults == [task_id]
    assert (summary["completed"], summary["failed"], summary["retries"]) == (1, 0, 0)
    assert len(client.history) == 1  # not run again


async def test_an_unexpected_worker_error_is_logged_without_the_key(
    db, project_id, caplog, monkeypatch
):
    key = "sk-ant-lead-0123456789abcdef"
    task_id = db.create_task(project_id, "Leaky")
    real_write = db.write_status

    def write_status(ident: int, change: StatusWrite) -> Any:
        if change.status == "failed" and "output" in change.fields:  # the worker's own write
            raise RuntimeError("database is locked")
        return real_write(ident, change)

    monkeypatch.setattr(db, "write_status", write_status)
    client = ScriptedClient([("Leaky", RuntimeError(f"proxy said: x-api-key={key}"))])
    lead = LeadAgent(project_id, db, api_key=key, client=client, test_runner=FixedResultRunner())
    await lead.start_multi_agent_execution(max_retries=0)

    assert "the worker raised" in caplog.text
    assert key not in caplog.text
    assert key not in (db.get_task(task_id)["error"] or "")


async def test_an_unreadable_depends_on_blocks_its_task_naming_the_value(db, project_id):
    first = db.create_task(project_id, "First")
    second = db.create_task(project_id, "Second")
    assert db.conn is not None
    db.conn.execute("UPDATE tasks SET depends_on = 'after the first one' WHERE id = ?", (second,))
    db.conn.commit()
    client = ScriptedClient(default=note_reply)
    lead = LeadAgent(project_id, db, client=client, test_runner=FixedResultRunner())
    summary = await lead.start_multi_agent_execution()

    assert (summary["completed"], summary["blocked"]) == (1, 1)
    assert db.get_task(first)["status"] == TaskStatus.COMPLETED
    assert db.get_task(second)["status"] == TaskStatus.BLOCKED
    [blocker] = db.get_blockers(project_id)
    assert "'after the first one'" in blocker["reason"]
    assert len(client.history) == 1  # the task with the bad value never ran


async def test_an_interrupt_as_the_run_row_is_closed_still_closes_it(db, project_id, monkeypatch):
    db.create_task(project_id, "Only task")
    real_finish, interrupts = db.finish_run, []

    def finish_run(run_id: int, summary: Any = None) -> None:
        if not interrupts:  # Ctrl-C lands just as the close begins, before it writes
            interrupts.append(run_id)
            raise KeyboardInterrupt
        real_finish(run_id, summary)

    monkeypatch.setattr(db, "finish_run", finish_run)
    lead = LeadAgent(
        project_id, db, client=ScriptedClient(default=note_reply), test_runner=FixedResultRunner()
    )
    with pytest.raises(KeyboardInterrupt):
        await lead.start_multi_agent_execution()

    [run] = db.get_runs(project_id)
    assert interrupts == [run["id"]] and run["ended_at"] is not None
    assert run["summary"]["completed"] == 1
    assert db.runs_claimed_here(project_id) == []  # the project is not left locked here
