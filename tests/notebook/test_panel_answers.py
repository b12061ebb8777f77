"""The panel's Answer and Resume buttons, driven as widgets: one answer, one resumed run."""

from __future__ import annotations

from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.models import TaskStatus
from codeframe.llm import ScriptedClient
from codeframe.notebook import AgentPanel
from codeframe.testing.test_runner import TestRunner

CALC_BUGGY = "def multiply(a, b):\n    return a + b\n"
CALC_OK = "def multiply(a, b):\n    return a * b\n"
CALC_TEST = "from calc import multiply\n\n\ndef test_multiply():\n    assert multiply(3, 4) == 12\n"


def _reply(*files: tuple[str, str]) -> dict:
    return {
        "files": [{"path": p, "action": "create", "content": c} for p, c in files],
        "explanation": "done",
    }


async def test_answer_and_resume_from_the_panel_finish_the_chain(db, tmp_path):
    root = tmp_path / "calc"
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    project_id = db.create_project("calc", workspace_path=str(root))
    ids = db.create_tasks(
        project_id,
        [
            {"title": "Add multiply", "task_number": "1"},
            {"title": "Write the changelog", "task_number": "2", "depends_on": ["1"]},
        ],
    )
    buggy = _reply(("calc.py", CALC_BUGGY), ("tests/test_calc.py", CALC_TEST))
    fixed = _reply(("calc.py", CALC_OK))
    client = ScriptedClient(
        [
            ("Add multiply", [buggy, buggy, buggy, buggy, fixed]),
            ("changelog", _reply(("CHANGELOG.md", "multiply\n"))),
        ]
    )
    panel = AgentPanel(db, project_id)
    lead = LeadAgent(
        project_id,
        db,
        ws_manager=panel,
        client=client,
        test_runner=TestRunner(root, plugin_autoload=False),
    )
    assert panel.resume_button.disabled  # nothing to resume without a lead
    panel.connect(lead, max_concurrent=2)
    assert not panel.resume_button.disabled

    panel.resume_button.click()  # the first run: multiply gets blocked, its dependent too
    assert panel.resume_button.disabled  # while the run is live
    summary = await panel.wait()
    assert summary["blocked"] == 2
    assert not panel.resume_button.disabled
    [own] = [b for b in db.get_blockers(project_id) if b["task_id"] == ids[0]]

    row = panel.answers.row(own["id"])
    row.button.click()
    assert row.status.value == "type an answer first"
    row.text.value = "multiply is a * b"
    row.button.click()
    await panel.answers.settled()
    assert row.status.value == "answered"
    assert db.get_task(ids[0])["status"] == TaskStatus.PENDING

    panel.resume_button.click()  # one resumed run finishes the chain
    summary = await panel.wait()
    assert (summary["completed"], summary["blocked"]) == (2, 0)
    assert panel.snapshot()["blockers"] == []
    assert "multiply is a * b" in client.history[4]["messages"][0]["content"]


async def test_a_refused_answer_says_why_in_its_row(db, project_id):
    task_id = db.create_task(project_id, "Costly", status="blocked")
    blocker_id = db.create_blocker(task_id, reason="spent", question="more?", blocker_type="budget")
    panel = AgentPanel(db, project_id)
    panel.connect(LeadAgent(project_id, db))
    row = panel.answers.row(blocker_id)
    row.text.value = "sure"
    row.button.click()
    await panel.answers.settled()
    assert "new budget in dollars" in row.status.value
    assert not row.button.disabled  # the row stays usable
    row.text.value = "4"
    row.button.click()
    await panel.answers.settled()
    assert db.get_task(task_id)["budget_usd"] == 4.0
