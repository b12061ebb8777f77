"""Lanes: a run's tasks run in up to ``max_concurrent`` lanes, each starting the next ready
task as soon as its own ends — and none starting anything once a stop is under way."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.models import TaskStatus


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
    lead = LeadAgent(
        project_id,
        db,
        worker_factory=lambda kind, agent_id: CancelSwallowingWorker(started, holding),
        max_agents=1,
    )
    run = asyncio.create_task(lead.start_multi_agent_execution(max_concurrent=1))
    async with asyncio.timeout(10):
        await holding.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await run

    assert started == [first]  # the lane did not go on to the second task
    assert db.get_task(second)["status"] == TaskStatus.PENDING
    assert db.get_task(first)["status"] not in (TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS)
