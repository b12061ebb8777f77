"""A key must not travel: not through test output into the ledger, the blocker, the panel or
the next prompt, not through the model's own words, not into the test process's environment."""

from __future__ import annotations

import json
from pathlib import Path

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.llm import ScriptedClient
from codeframe.notebook import AgentPanel, blockers_frame, tasks_frame, test_results_frame

from .conftest import changes

KEY = "sk-ant-api03-leaky-0123456789abcdefghij"

# A model-written test that prints what it can find (here a file standing in for another
# process's environment, e.g. /proc/<ppid>/environ) and fails, so its output goes around.
LEAKY_TEST = """\
from pathlib import Path


def test_prints_what_it_found():
    print("found:", Path({where!r}).read_text())
    assert False, "found: " + Path({where!r}).read_text()
"""


async def test_a_key_in_test_output_reaches_no_table_panel_or_prompt(
    db, project_id, project, runner, tmp_path
):
    loot = tmp_path / "environ"
    loot.write_text(f"ANTHROPIC_API_KEY={KEY}\n")
    reply = changes(("tests/test_leak.py", "create", LEAKY_TEST.format(where=str(loot))))
    reply["explanation"] = f"I used the key {KEY} to look around"
    client = ScriptedClient(default=reply)
    panel = AgentPanel(db, project_id)
    worker = BackendWorkerAgent(
        project_id,
        db,
        None,
        api_key=KEY,
        project_root=project,
        ws_manager=panel,
        client=client,
        test_runner=runner,
    )
    task_id = db.create_task(project_id, "Look around")
    result = await worker.execute_task(db.get_task(task_id))
    await panel.flush()

    assert result["status"] == "blocked"
    runs = db.get_test_results_by_task(task_id)
    assert "found: ANTHROPIC_API_KEY=<redacted>" in runs[0]["output"]  # the run was real
    stored = {
        "results": runs,
        "cases": db.get_test_cases_by_task(task_id),
        "corrections": db.get_correction_attempts_by_task(task_id),
        "blockers": db.get_blockers_by_task(task_id),
        "task": db.get_task(task_id),
        "calls": db.get_llm_calls(task_id=task_id),
    }
    assert KEY not in json.dumps(stored, default=str)
    for frame in (tasks_frame, test_results_frame, blockers_frame):
        assert KEY not in frame(db, project_id).to_csv()
    assert KEY not in panel.to_html()
    assert KEY not in json.dumps(panel.events)
    assert KEY not in json.dumps(result)
    prompts = [json.dumps(call["messages"]) for call in client.history]
    assert len(prompts) == 4  # the generation and three corrections
    assert not any(KEY in prompt for prompt in prompts)


async def test_a_key_given_in_code_stays_out_of_the_test_environment(
    db, project_id, project, runner, monkeypatch, tmp_path
):
    monkeypatch.setenv("MY_SERVICE_CONFIG", KEY)  # the same value under an innocent name
    seen = tmp_path / "seen.json"
    dump = (
        "import json, os\n\n\ndef test_env():\n"
        f"    open({str(seen)!r}, 'w').write(json.dumps(dict(os.environ)))\n"
    )
    client = ScriptedClient(default=changes(("tests/test_env.py", "create", dump)))
    worker = BackendWorkerAgent(
        project_id, db, None, api_key=KEY, project_root=project, client=client, test_runner=runner
    )
    task_id = db.create_task(project_id, "Look at the environment")
    assert (await worker.execute_task(db.get_task(task_id)))["status"] == "completed"
    environment = json.loads(Path(seen).read_text())
    assert "MY_SERVICE_CONFIG" not in environment
    assert KEY not in json.dumps(environment)
