"""What a run may spend on model calls, and the check made before each one.

Before every call the worker adds an upper bound of the call's cost (its input tokens,
estimated from the request, and all of ``max_tokens`` as output) to what the task and the run
have spent. If that would pass a budget the call is not made: the task is blocked with a
budget blocker instead — a task is never stopped in the middle of a call. Answering the
blocker with a figure gives the task a new budget.

Tasks run concurrently, so the run's check also counts the bounds of calls already under
way: each call reserves its bound when it passes the check and gives it back once its real
cost is recorded. Otherwise every worker could pass the check before any reply came back,
and together they could spend several times the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def reached(self) -> bool:
        """Whether the run's budget is spent, or too little is left for a call (the run then
        starts no new task)."""
        return self.exhausted or (self.limit is not None and self.spent >= self.limit)

    def release(self, reservation: float) -> None:
        """Give back what :func:`check_call` reserved for a call that has ended."""
        self.reserved = max(self.reserved - reservation, 0.0)


def over_budget(
    scope: str, spent: float, limit: float, estimate: float, *, under_way: float = 0.0
) -> BudgetExceededError:
    """The error that blocks a task whose next call could pass the ``scope``'s budget."""
    who = "the task" if scope == "task" else "the run"
    pending = ""
    if under_way > 0:
        pending = f", and calls under way could cost up to {format_usd(under_way)} more"
    if scope == "task":
        question = "Answer with a new budget for this task, in dollars, to continue."
    else:
        question = (
            "The run's budget is spent. Answer with a budget for this task, in dollars, and "
            "start a run with a larger budget to continue."
        )
    return BudgetExceededError(
        f"{who} spent {format_usd(spent)} of {format_usd(limit)}{pending}; the next call could "
        f"cost up to {format_usd(estimate)}",
        scope=scope,
        spent=spent,
        limit=limit,
        estimate=estimate,
        question=question,
    )


def check_call(
    *,
    estimate: float,
    task_spent: float,
    task_limit: float | None,
    run: RunBudget | None,
) -> float:
    """Raise :class:`BudgetExceededError` if a call costing up to ``estimate`` would pass the
    task's limit or the run's (counting the calls under way); else reserve ``estimate`` on
    the run and return what was reserved, for :meth:`RunBudget.release` after the call."""
    if task_limit is not None and task_spent + estimate > task_limit:
        raise over_budget("task", task_spent, task_limit, estimate)
    if run is None or run.limit is None:
        return 0.0
    if run.spent + run.reserved + estimate > run.limit:
        run.exhausted = True
        raise over_budget("run", run.spent, run.limit, estimate, under_way=run.reserved)
    run.reserved += estimate
    return estimate


__all__ = ["RunBudget", "check_call", "over_budget"]
