"""What a worker's Claude calls cost: the budget check before a call, the ledger row after.

A call is priced as the model that answered it (the free offline model for simulated
clients); its tokens and dollars count against the task being executed and the run's budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codeframe.agents.budget import check_call
from codeframe.llm import TokenUsage, reply_record, token_usage
from codeframe.llm.call import CallRecord, ChangeRequest
from codeframe.llm.failures import describe_failure
from codeframe.llm.messages import OFFLINE_MODEL, is_offline, reply_stop_reason
from codeframe.llm.parsing import CHANGES_TOOL
from codeframe.llm.pricing import estimate_input_tokens

if TYPE_CHECKING:
    from codeframe.agents.worker_agent import WorkerAgent


def pricing_model(worker: WorkerAgent, client: object, reply: object = None) -> str:
    """The model a call is priced as: simulated clients' calls as the free offline model."""
    if is_offline(client):
        return OFFLINE_MODEL
    return str(getattr(reply, "model", None) or worker.model)


async def check_budget(worker: WorkerAgent, request: ChangeRequest, client: object) -> float:
    """Refuse a call that could take the task or the run past its budget
    (:class:`~codeframe.errors.BudgetExceededError`); else what the call reserved on the
    run's budget, to release once the call is recorded."""
    execution = worker.execution
    task_limit = None if execution is None else execution.task_budget
    run = worker.budget
    if task_limit is None and (run is None or run.limit is None):
        return 0.0  # no budget: no estimate to make
    tokens = estimate_input_tokens(request.system, request.messages, [CHANGES_TOOL])
    bound = worker.prices.upper_bound(
        pricing_model(worker, client), input_tokens=tokens, max_tokens=request.max_tokens
    )
    if bound is None:
        return 0.0  # a model without a price cannot be budgeted (its calls cost unknown)
    spent = 0.0 if execution is None else execution.task_spent
    check_call(estimate=bound, task_spent=spent, task_limit=task_limit)
    return 0.0 if run is None else await run.reserve(bound)


def call_cost(worker: WorkerAgent, reply: object, usage: TokenUsage) -> float | None:
    """The call's dollars, or ``None`` for a model without a price."""
    return worker.prices.cost(
        pricing_model(worker, worker.client, reply),
        input_tokens=usage.input or 0,
        output_tokens=usage.output or 0,
        cache_write_tokens=usage.cache_creation_input or 0,
        cache_read_tokens=usage.cache_read_input or 0,
    )


def record_call(worker: WorkerAgent, task_id: int, attempt: int, call: CallRecord) -> None:
    """Count the call against its task and the run, and write its ledger row."""
    reply = call.reply
    usage = token_usage(reply) if reply is not None else TokenUsage()
    cost = None if reply is None else call_cost(worker, reply, usage)
    execution = worker.execution
    if execution is not None:
        execution.task_tokens += usage.total
    if cost:
        if execution is not None:
            execution.task_spent += cost
        if worker.budget is not None:
            worker.budget.spent += cost
    error = call.error
    worker.db.record_llm_call(
        task_id=task_id,
        agent_id=worker.agent_id,
        attempt=attempt,
        model=worker.model,
        request={"system": call.request.system, "messages": call.request.messages},
        reply_text=reply_record(reply) if reply is not None else None,
        stop_reason=reply_stop_reason(reply) if reply is not None else None,
        input_tokens=usage.input,
        output_tokens=usage.output,
        cache_write_tokens=usage.cache_creation_input,
        cache_read_tokens=usage.cache_read_input,
        cost_usd=cost,
        latency_s=call.latency_s,
        error=None if error is None else describe_failure(error, api_key=worker.api_key).message,
        count_tokens=True,
        secrets=(worker.api_key,),
    )


__all__ = ["call_cost", "check_budget", "pricing_model", "record_call"]
