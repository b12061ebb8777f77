"""Humans in the loop: one answer lets a blocked chain finish, in the run under way or the next."""

from __future__ import annotations

import asyncio

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.models import TaskStatus
from codeframe.errors import InvalidInputError
from codeframe.llm import ScriptedClient
from codeframe.ui.websocket_broadcasts import BroadcastRecorder

from .conftest import MULTIPLY_BUGGY, MULTIPLY_OK, MULTIPLY_TESTS, changes

BUGGY = changes(
    ("calc.py", "modify", MULTIPLY_BUGGY), ("tests/test_multiply.py", "create", MULTIPLY_TESTS)
)
FIXED = changes(("calc.py", "modify", MULTIPLY_OK), explanation="multiply with *")


def _note(name: str) -> dict:
    return changes((f"notes/{name}.txt", "create", name))


def _chain(db, project_id) -> tuple[int, int, int]:
    ids = db.create_tasks(
        project_id,
        [
            {"title": "Add a multiply function", "task_number": "1"},
            {"title": "Document multiply", "task_number": "2", "depends_on": ["1"]},
            {"title": "Announce multiply", "task_number": "3", "depends_on": ["2"]},
        ],
    )
    return ids[0], ids[1], ids[2]


async def test_one_answer_lets_the_whole_chain_finish_in_one_resumed_run(
    db, project_id, project, runner
):
    first, second, third = _chain(db, project_id)
    # Four wrong versions (the first try and three corrections), then the right one.
    client = ScriptedClient(
        [
            ("multiply function", [BUGGY, BUGGY, BUGGY, BUGGY, FIXED]),
            ("Document", _note("docs")),
            ("Announce", _note("news")),
        ]
    )
    recorder = BroadcastRecorder()
    lead = LeadAgent(project_id, db, ws_manager=recorder, client=client, test_runner=runner)
    summary = await lead.start_multi_agent_execution()
    assert (summary["blocked"], summary["completed"]) == (3, 0)
    [own] = [b for b in db.get_blockers(project_id) if b["task_id"] == first]
    assert own["blocker_type"] == "tests"
    waiting = [b for b in db.get_blockers(project_id) if b["task_id"] != first]
    assert {(b["blocker_type"], b["upstream_task_id"]) for b in waiting} == {("dependency", first)}

    answered = await lead.answer_blocker(own["id"], "multiply means a * b")
    assert answered is not None and answered.released
    assert db.get_task(first)["status"] == TaskStatus.PENDING
    unblocked = recorder.of_type("task_unblocked")[-1]
    assert unblocked["task_id"] == first

    summary = await lead.start_multi_agent_execution()
    assert (summary["completed"], summary["blocked"]) == (3, 0)
    released = [
        b for b in db.get_blockers(project_id, include_resolved=True) if b["task_id"] != first
    ]
    assert {b["resolved_by"] for b in released} == {"system"}
    assert all(b["resolved_at"] for b in released)
    assert {m["task_id"] for m in recorder.of_type("task_unblocked")} == {first, second, third}
    # The fifth call saw the human's answer.
    assert "multiply means a * b" in client.history[4]["messages"][0]["content"]


async def test_an_answer_during_a_run_resumes_the_task_in_that_run(db, project_id, project, runner):
    first = db.create_task(project_id, "Add a multiply function")
    slow = db.create_task(project_id, "Write a long note")
    client = ScriptedClient(
        [
            ("multiply function", [BUGGY, BUGGY, BUGGY, BUGGY, FIXED]),
            ("long note", _note("long")),
        ],
    )
    gate = asyncio.Event()

    class Gated:
        """Holds the slow task's call until the test has answered the blocker."""

        def __init__(self) -> None:
            self.messages = self

        async def create(self, **kwargs):
            if "long note" in kwargs["messages"][0]["content"]:
                await gate.wait()
            return await client.messages.create(**kwargs)

    recorder = BroadcastRecorder()
    lead = LeadAgent(project_id, db, ws_manager=recorder, client=Gated(), test_runner=runner)
    run = asyncio.create_task(lead.start_multi_agent_execution(max_concurrent=2))
    async with asyncio.timeout(60):
        while not db.get_blockers(project_id):
            await asyncio.sleep(0.05)
    [blocker] = db.get_blockers(project_id)
    await lead.answer_blocker(blocker["id"], "use *")
    gate.set()
    async with asyncio.timeout(60):
        summary = await run
    assert summary["completed"] == 2
    assert db.get_task(first)["status"] == TaskStatus.COMPLETED
    assert db.get_task(slow)["status"] == TaskStatus.COMPLETED
    assert len(db.get_runs(project_id)) == 1


async def test_answering_twice_changes_nothing(db, project_id):
    task_id = db.create_task(project_id, "Stuck", status="blocked")
    blocker_id = db.create_blocker(task_id, reason="why", question="what?")
    lead = LeadAgent(project_id, db)
    assert (await lead.answer_blocker(blocker_id, "this")).released
    assert await lead.answer_blocker(blocker_id, "that") is None
    assert db.get_blocker(blocker_id)["resolution"] == "this"


async def test_a_budget_blocker_needs_a_figure(db, project_id):
    task_id = db.create_task(project_id, "Costly", status="blocked")
    blocker_id = db.create_blocker(task_id, reason="spent", question="more?", blocker_type="budget")
    lead = LeadAgent(project_id, db)
    with pytest.raises(InvalidInputError, match="new budget in dollars"):
        await lead.answer_blocker(blocker_id, "yes please")
    assert db.get_task(task_id)["status"] == TaskStatus.BLOCKED  # nothing changed
    await lead.answer_blocker(blocker_id, "raise it to $2.50")
    assert db.get_task(task_id)["budget_usd"] == 2.5
    assert db.get_task(task_id)["status"] == TaskStatus.PENDING


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        ("-1", "cannot be negative"),
        ("raise it by 2 to 3", "holds 2 figures"),
        ("1,5", "not a plain dollar figure"),
        ("1e3", "not a plain dollar figure"),
        ("$0", "more than \\$0"),
    ],
)
async def test_a_budget_answer_that_could_be_misread_is_refused(db, project_id, answer, refusal):
    task_id = db.create_task(project_id, "Costly", status="blocked")
    blocker_id = db.create_blocker(task_id, reason="spent", question="more?", blocker_type="budget")
    with pytest.raises(InvalidInputError, match=refusal):
        await LeadAgent(project_id, db).answer_blocker(blocker_id, answer)
    task = db.get_task(task_id)
    assert task["status"] == TaskStatus.BLOCKED and task["budget_usd"] is None
    assert db.get_blocker(blocker_id)["resolved_at"] is None


@pytest.mark.parametrize(
    ("answer", "budget"),
    [("3", 3.0), (".5", 0.5), ("$1,500.25", 1500.25), ("make it 4.", 4.0), ("+2", 2.0)],
)
async def test_a_budget_answer_is_read_as_written(db, project_id, answer, budget):
    task_id = db.create_task(project_id, "Costly", status="blocked")
    blocker_id = db.create_blocker(task_id, reason="spent", question="more?", blocker_type="budget")
    assert (await LeadAgent(project_id, db).answer_blocker(blocker_id, answer)).released
    assert db.get_task(task_id)["budget_usd"] == budget
