"""How a run stops: running work cancelled and marked so, agents retired, within a bound; and
what a run reports. Part of :class:`~codeframe.agents.run.Run`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from codeframe.core.models import TaskStatus

if TYPE_CHECKING:
    from codeframe.agents.agent_pool_manager import AgentPoolManager
    from codeframe.agents.budget import RunBudget
    from codeframe.agents.lead_agent import LeadAgent
    from codeframe.agents.lifecycle import Outcome, TaskLifecycle
    from codeframe.agents.seams import LeadStore

logger = logging.getLogger(__name__)

CLEANUP_BOUND_S = 5.0  # cancelled workers get this long to kill pytest and write their status
# A task whose work is being integrated is waited for longer: its git commands are bounded
# by git's own timeouts, and cutting it off would leave work on the branch that the database
# calls cancelled. (A delivery takes ~50 ms; this bound is for a git that hangs.)
DELIVERY_BOUND_S = 120.0


class RunStopping:
    """The stopping half of a run."""

    lead: LeadAgent
    store: LeadStore
    pool: AgentPoolManager
    lifecycle: TaskLifecycle
    project_id: int
    lanes: set[asyncio.Task[None]]
    running: dict[asyncio.Task[Any], tuple[int, str]]
    retries: int
    started: float
    budget: RunBudget
    executions: dict[int, int]
    max_retries: int

    def _should_retry(self, task_id: int, outcome: Outcome) -> bool:
        return (
            outcome.status is TaskStatus.FAILED
            and outcome.retryable
            and self.executions.get(task_id, 0) <= self.max_retries
        )

    async def stop(self) -> None:
        """Cancel running work, mark it ``cancelled`` and retire the agents, within a bound.

        The clean-up runs shielded: a second interrupt while it runs does not cut it short
        (it still ends within its bound) and is passed on once it is done.
        """
        cleanup = asyncio.ensure_future(self._stop())
        try:
            await asyncio.shield(cleanup)
        except asyncio.CancelledError:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(2 * CLEANUP_BOUND_S):
                    await asyncio.shield(cleanup)
            raise

    async def _stop(self) -> None:
        lanes = self.lanes | self.running.keys()
        for lane in lanes:
            lane.cancel()
        if lanes:
            _, late = await asyncio.wait(lanes, timeout=CLEANUP_BOUND_S)
            delivering = [
                t
                for t in late
                if t in self.running and self.running[t][0] in self.lifecycle.delivering
            ]
            if delivering:
                logger.info(
                    "waiting for %d task(s) whose work is being integrated", len(delivering)
                )
                await asyncio.wait(delivering, timeout=DELIVERY_BOUND_S)
                late = {t for t in late if not t.done()}
            for straggler in late:
                held = self.running.get(straggler)
                logger.warning(
                    "%s ignored cancellation for %s s",
                    f"task {held[0]}" if held else straggler.get_name(),
                    CLEANUP_BOUND_S,
                )
        # A copy: a lane that ignored its cancel may still end while this awaits.
        for lane, (task_id, _agent_id) in list(self.running.items()):
            outcome = self.lifecycle.outcome(task_id) if lane.done() else None
            if (
                outcome is not None
                and not outcome.requeued
                and self._should_retry(task_id, outcome)
            ):
                # A retryable failure goes back to pending, not to a final ``failed``.
                await self.lifecycle.requeue(task_id)
        self.running.clear()
        self.lanes.clear()
        # Read from the store, not from what this run thinks is running: a stop that lands
        # between handing a task over and starting its worker is caught too.
        await self.lifecycle.cancel_many(self.store.active_task_ids(self.project_id))
        try:
            async with asyncio.timeout(CLEANUP_BOUND_S):
                await self.pool.retire_all()
        except TimeoutError:
            logger.warning("retiring agents took longer than %s s", CLEANUP_BOUND_S)

    def summary(self) -> dict[str, Any]:
        counts = self.store.status_counts(self.project_id)
        return {
            "total_tasks": sum(counts.values()),
            "completed": counts[TaskStatus.COMPLETED],
            "failed": counts[TaskStatus.FAILED],
            "blocked": counts[TaskStatus.BLOCKED],
            "cancelled": counts[TaskStatus.CANCELLED],
            "retries": self.retries,
            "execution_time": time.monotonic() - self.started,
            "cost_usd": round(self.budget.spent, 6),
            "simulated": self.lead.simulated,
            "budget_usd": self.budget.limit,
            "budget_reached": self.budget.reached,
        }


__all__ = ["CLEANUP_BOUND_S", "DELIVERY_BOUND_S", "RunStopping"]
