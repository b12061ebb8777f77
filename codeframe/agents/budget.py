"""What a run may spend on model calls, and the check made before each one.

Before every call the worker adds an upper bound of the call's cost (its input tokens,
estimated from the request, and all of ``max_tokens`` as output) to what the task and the run
have spent. If that would pass a budget the call is not made: the task is blocked with a
budget blocker instead — a task is never stopped in the middle of a call. Answering the
blocker with a figure gives the task a new budget.

Tasks run concurrently, so the run's check also counts the bounds of calls already under
way: each call reserves its bound when it passes the check and gives it back once its real
cost is recorded. Otherwise every worker could pass the check before any reply came back,
and together they could spend several times the budget. A call that would fit but for the
calls under way waits for them (each is bounded by its own timeout) and is checked again,
so running tasks side by side ends where running them one by one would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from codeframe.errors import BudgetExceededError
from codeframe.llm.pricing import format_usd


@dataclass(slots=True)
class RunBudget:
    """A run's limit, the default limit of each of its tasks, and what it has spent so far."""

    limit: float | None = None
    task_limit: float | None = None
    spent: float = 0.0
    #: Upper bounds of the calls under way, not yet recorded in ``spent``.
    reserved: float = 0.0
    #: A call was refused because it could pass the run's budget.
    exhausted: bool = False
    _released: asyncio.Event | None = field(default=None, repr=False)

    @property
    def reached(self) -> bool:
        """Whether the run's budget is spent, or too little is left for a call (the run then
        starts no new task)."""
        return self.exhausted or (self.limit is not None and self.spent >= self.limit)

    async def reserve(self, estimate: float) -> float:
        """Reserve ``estimate`` for a call and return what was reserved (0 without a limit).

        Waits while only calls under way stand in the way; raises
        :class:`~codeframe.errors.BudgetExceededError` once what is spent leaves too little.
        """
        if self.limit is None:
            return 0.0
        while self.spent + self.reserved + estimate > self.limit:
            if self.spent + estimate > self.limit:
                self.exhausted = True
                raise over_budget("run", self.spent, self.limit, estimate)
            if self._released is None:
                self._released = asyncio.Event()
            await self._released.wait()
        self.reserved += estimate
        return estimate

    def release(self, reservation: float) -> None:
        """Give back what :meth:`reserve` reserved for a call whose cost is now recorded."""
        self.reserved = max(self.reserved - reservation, 0.0)
        if self._released is not None:
            self._released.set()  # the waiting calls look again
            self._released = None


def over_budget(scope: str, spent: float, limit: float, estimate: float) -> BudgetExceededError:
    """The error that blocks a task whose next call could pass the ``scope``'s budget."""
    who = "the task" if scope == "task" else "the run"
    if scope == "task":
        question = "Answer with a new budget for this task, in dollars, to continue."
    else:
        question = (
            "The run's budget is spent. Answer with a budget for this task, in dollars, and "
            "start a run with a larger budget to continue."
        )
    return BudgetExceededError(
        f"{who} spent {format_usd(spent)} of {format_usd(limit)}; the next call could cost up "
        f"to {format_usd(estimate)}",
        scope=scope,
        spent=spent,
        limit=limit,
        estimate=estimate,
        question=question,
    )


def check_call(*, estimate: float, task_spent: float, task_limit: float | None) -> None:
    """Raise :class:`BudgetExceededError` if a call costing up to ``estimate`` would pass the
    task's limit (the run's is :meth:`RunBudget.reserve`)."""
    if task_limit is not None and task_spent + estimate > task_limit:
        raise over_budget("task", task_spent, task_limit, estimate)


__all__ = ["RunBudget", "check_call", "over_budget"]
