"""What a run costs, in dollars, and budgets that block a task before a call could pass them."""

from __future__ import annotations

from typing import Any

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.models import TaskStatus
from codeframe.llm import Prices, PriceTable, ScriptedClient, make_tool_message
from codeframe.llm.messages import OFFLINE_MODEL
from codeframe.llm.parsing import CHANGES_TOOL_NAME
from codeframe.notebook import AgentPanel, llm_calls_frame, tasks_frame
from codeframe.testing.fixed_runner import FixedResultRunner

from .conftest import MULTIPLY_BUGGY, MULTIPLY_OK, MULTIPLY_TESTS, changes


class PricedStub:
    """A stand-in for the live client: replies name a real model and report real usage."""

    def __init__(self, model: str, usage: tuple[int, int]) -> None:
        self.model, self.usage, self.calls = model, usage, 0
        self.messages = self

    async def create(self, **kwargs: Any) -> Any:
        self.calls += 1
        content = kwargs["messages"][0]["content"]
        task_id = content.split("Task #", 1)[1].split(":", 1)[0]
        reply = changes((f"notes/{task_id}.txt", "create", "a note"))
        return make_tool_message(CHANGES_TOOL_NAME, reply, model=self.model, usage=self.usage)


async def test_every_call_is_priced_and_the_run_says_what_it_cost(db, project_id):
    ids = [db.create_task(project_id, f"Write note {n}") for n in range(2)]
    client = PricedStub("claude-sonnet-4-5", usage=(1_000, 500))
    lead = LeadAgent(project_id, db, client=client, test_runner=FixedResultRunner())
    summary = await lead.start_multi_agent_execution()

    per_call = 1_000 * 3 / 1e6 + 500 * 15 / 1e6  # Sonnet 4.5: $3 in, $15 out per MTok
    calls = llm_calls_frame(db, project_id)
    assert calls["cost_usd"].tolist() == pytest.approx([per_call, per_call])
    assert tasks_frame(db, project_id)["cost_usd"].tolist() == pytest.approx([per_call] * 2)
    assert summary["cost_usd"] == pytest.approx(2 * per_call)
    assert summary["simulated"] is False
    assert all(db.get_task(i)["cost_usd"] == pytest.approx(per_call) for i in ids)


async def test_offline_calls_cost_nothing_and_say_they_are_simulated(db, project_id):
    db.create_task(project_id, "Write note")
    panel = AgentPanel(db, project_id, mode="offline")
    client = ScriptedClient(default=changes(("notes/a.txt", "create", "a")))
    lead = LeadAgent(project_id, db, ws_manager=panel, client=client,
                     test_runner=FixedResultRunner())  # fmt: skip
    summary = await lead.start_multi_agent_execution()
    await panel.flush()
    assert (summary["cost_usd"], summary["simulated"]) == (0.0, True)
    assert llm_calls_frame(db, project_id)["cost_usd"].tolist() == [0.0]
    assert panel.snapshot()["cost_usd"] == 0.0
    assert "200 simulated tokens · $0.00" in panel.to_html()


def _rehearsal_prices(output_per_mtok: float) -> PriceTable:
    """Prices for the offline model, to rehearse budgets without spending anything real."""
    return PriceTable.default().with_prices(
        {OFFLINE_MODEL: Prices(input=0.0, output=output_per_mtok, cache_write=0.0, cache_read=0.0)}
    )


async def test_a_task_over_its_budget_is_blocked_before_the_call_and_an_answer_continues(
    db, project_id, project, runner
):
    buggy = changes(
        ("calc.py", "modify", MULTIPLY_BUGGY), ("tests/test_multiply.py", "create", MULTIPLY_TESTS)
    )
    fixed = changes(("calc.py", "modify", MULTIPLY_OK))
    client = ScriptedClient([("multiply", [buggy, fixed])])
    task_id = db.create_task(project_id, "Add a multiply function")
    # $1 per MTok of output: one call's bound is 4,096 tokens = $0.004096, its cost $0.00008.
    lead = LeadAgent(project_id, db, client=client, test_runner=runner,
                     prices=_rehearsal_prices(1.0))  # fmt: skip
    summary = await lead.start_multi_agent_execution(task_budget_usd=0.0041)

    assert summary["blocked"] == 1
    assert len(client.history) == 1  # the correction was never asked for
    [blocker] = db.get_blockers(project_id)
    assert blocker["blocker_type"] == "budget"
    assert "the task spent $0.0001 of $0.0041" in blocker["reason"]
    assert "new budget" in blocker["question"]

    await lead.answer_blocker(blocker["id"], "$0.02")
    assert db.get_task(task_id)["budget_usd"] == 0.02
    summary = await lead.start_multi_agent_execution(task_budget_usd=0.0041)
    assert summary["completed"] == 1
    assert db.get_task(task_id)["status"] == TaskStatus.COMPLETED


async def test_a_run_that_reaches_its_budget_starts_no_new_task(db, project_id):
    ids = [db.create_task(project_id, f"Write note {n}") for n in range(4)]
    client = ScriptedClient(default=changes(("notes/a.txt", "create", "a")))
    lead = LeadAgent(project_id, db, client=client, test_runner=FixedResultRunner(),
                     prices=_rehearsal_prices(1.0))  # fmt: skip
    # Two calls fit (each may cost up to $0.004096, costs $0.00008); the third could pass it.
    summary = await lead.start_multi_agent_execution(max_concurrent=1, budget_usd=0.0042)

    statuses = [db.get_task(i)["status"] for i in ids]
    assert statuses == ["completed", "completed", "blocked", "pending"]
    assert summary["budget_reached"] is True
    assert summary["budget_usd"] == 0.0042
    assert summary["cost_usd"] == pytest.approx(2 * 80 / 1e6)
    [blocker] = db.get_blockers(project_id)
    assert blocker["blocker_type"] == "budget" and "the run spent" in blocker["reason"]
    assert len(client.history) == 2


async def test_concurrent_tasks_end_where_tasks_run_one_by_one_would(db, project_id):
    """Found in review: each worker compared only what was already *recorded* with the
    budget, so four concurrent tasks all passed the check before any reply came back and
    together could spend four bounds. A call now reserves its bound until it is recorded,
    and one that would fit but for the calls under way waits for them."""
    ids = [db.create_task(project_id, f"Write note {n}") for n in range(4)]
    client = ScriptedClient(default=changes(("notes/a.txt", "create", "a")), latency=0.2)
    lead = LeadAgent(project_id, db, client=client, test_runner=FixedResultRunner(),
                     prices=_rehearsal_prices(1.0))  # fmt: skip
    # As in the one-by-one test above: two calls fit ($0.004096 bound, $0.00008 cost each).
    summary = await lead.start_multi_agent_execution(max_concurrent=4, budget_usd=0.0042)

    assert len(client.history) == 2
    statuses = sorted(db.get_task(i)["status"] for i in ids)
    assert statuses == ["blocked", "blocked", "completed", "completed"]
    assert summary["budget_reached"] is True
    assert summary["cost_usd"] == pytest.approx(2 * 80 / 1e6)
    reasons = [b["reason"] for b in db.get_blockers(project_id)]
    assert all("the run spent $0.00" in r for r in reasons), reasons
