"""Lanes: a run's tasks run in up to ``max_concurrent`` lanes, each starting the next ready
task as soon as its own ends — and none starting anything once a stop is under way."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from codeframe.agents import run_stopping
from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.models import TaskStatus


def _run_in_one_lane(db: Any, project_id: int, worker: Any) -> asyncio.Task[Any]:
    """A run, started in the background, whose every task goes to ``worker``."""
    lead = LeadAgent(project_id, db, worker_factory=lambda kind, agent_id: worker, max_agents=1)
    return asyncio.create_task(lead.start_multi_agent_execution(max_concurrent=1))


class CancelSwallowingWorker:
    """A stand-in worker that holds its task until cancelled, then reports a failure
    instead of letting the cancel go on (what a worker must not do, and one may)."""

    def __init__(self, started: list[int], holding: asyncio.Event) -> None:
        self.started, self.holding = started, holding

    async def execute_task(self, task: Mapping[str, Any]) -> dict[str, Any]:
        self.started.append(task["id"])
        self.holding.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return {"status": "failed", "error": "stopped", "output": "", "retryable": False}
        return {"status": "completed", "error": None, "output": ""}


async def test_a_stop_starts_no_further_task_even_when_a_worker_swallows_the_cancel(db, project_id):
    first = db.create_task(project_id, "First of two")
    second = db.create_task(project_id, "Second of two")
    started: list[int] = []
    holding = asyncio.Event()
    run = _run_in_one_lane(db, project_id, CancelSwallowingWorker(started, holding))
    async with asyncio.timeout(10):
        await holding.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await run

    assert started == [first]  # the lane did not go on to the second task
    assert db.get_task(second)["status"] == TaskStatus.PENDING
    assert db.get_task(first)["status"] not in (TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS)


class GatedWorker:
    """Task 1 waits for a gate, any other task for a long time; records what started."""

    def __init__(self, started: list[int], gate: asyncio.Event) -> None:
        self.started, self.gate = started, gate

    async def execute_task(self, task: Mapping[str, Any]) -> dict[str, Any]:
        self.started.append(task["id"])
        if len(self.started) == 1:
            await self.gate.wait()
        else:
            await asyncio.sleep(30)
        return {"status": "completed", "error": None, "output": ""}


async def test_a_stop_pressed_as_a_task_ends_starts_nothing_new(db, project_id):
    """The lane settling the finished task runs before the stop reaches the run: it must
    see the cancel on its way and leave the next task pending."""
    first = db.create_task(project_id, "Ends as the stop is pressed")
    second = db.create_task(project_id, "Must not start")
    started: list[int] = []
    gate = asyncio.Event()
    run = _run_in_one_lane(db, project_id, GatedWorker(started, gate))
    while not started:
        await asyncio.sleep(0.01)
    gate.set()  # the worker returns, and the user stops the run, in the same loop step
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await run

    assert started == [first]
    assert db.get_task(second)["status"] == TaskStatus.PENDING


class StragglingWorker:
    """Ignores the stop's cancel for longer than the stop waits, then reports success."""

    def __init__(self, started: list[int]) -> None:
        self.started = started

    async def execute_task(self, task: Mapping[str, Any]) -> dict[str, Any]:
        self.started.append(task["id"])
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.5)
        return {"status": "completed", "error": None, "output": ""}


async def test_a_worker_ending_after_the_stop_gave_up_on_it_changes_nothing(
    db, project_id, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(run_stopping, "CLEANUP_BOUND_S", 0.1)
    task_id = db.create_task(project_id, "Slow to stop")
    started: list[int] = []
    run = _run_in_one_lane(db, project_id, StragglingWorker(started))
    while not started:
        await asyncio.sleep(0.01)
    lanes = [t for t in asyncio.all_tasks() if t.get_name().startswith("codeframe-lane")]
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    async with asyncio.timeout(5):
        await asyncio.wait(lanes)

    assert lanes and all(lane.cancelled() or lane.exception() is None for lane in lanes)
    assert db.get_task(task_id)["status"] == TaskStatus.CANCELLED  # the stop's word stands


class InterruptedWorker:
    async def execute_task(self, task: Mapping[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        if task["title"] == "Interrupted":
            raise KeyboardInterrupt("Ctrl-C inside a worker")
        await asyncio.sleep(0.3)
        return {"status": "completed", "error": None, "output": ""}


def test_an_interrupt_in_a_worker_is_raised_once_and_stops_the_run(db, project_id):
    """A kernel keeps its loop after an interrupt and runs the next cell on it: the
    interrupt must not come out a second time there, and the run must stop."""
    interrupted = db.create_task(project_id, "Interrupted")
    other = db.create_task(project_id, "Running beside it")
    waiting = db.create_task(project_id, "Not started yet")
    lead = LeadAgent(
        project_id, db, worker_factory=lambda kind, agent_id: InterruptedWorker(), max_agents=2
    )
    loop = asyncio.new_event_loop()
    try:
        run = loop.create_task(lead.start_multi_agent_execution(max_concurrent=2))
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(run)  # the first cell
        try:
            loop.run_until_complete(asyncio.sleep(0.6))  # the next cell
        except KeyboardInterrupt:
            pytest.fail("the worker's interrupt came out a second time, in the next cell")
        assert run.done()
    finally:
        loop.close()
    statuses = {t: db.get_task(t)["status"] for t in (interrupted, other, waiting)}
    assert statuses == {
        interrupted: TaskStatus.CANCELLED,
        other: TaskStatus.CANCELLED,
        waiting: TaskStatus.PENDING,
    }
