"""The worker pipeline end to end: real files, real pytest runs, a scripted Claude."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from anthropic.types import Message

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.agents.frontend_worker_agent import FrontendWorkerAgent
from codeframe.agents.prompts import generation_prompt
from codeframe.agents.test_worker_agent import TestWorkerAgent
from codeframe.core.models import TaskStatus
from codeframe.llm import ScriptedClient, make_text_message
from codeframe.persistence.database import Database

from .conftest import (
    MULTIPLY_BUGGY,
    MULTIPLY_OK,
    MULTIPLY_TESTS,
    changes,
    tree,
)

MULTIPLY_TASK = "Add a multiply function"


def backend(db, project_id, project, client, runner, recorder=None, **kw):
    return BackendWorkerAgent(
        project_id,
        db,
        None,
        project_root=project,
        ws_manager=recorder,
        client=client,
        test_runner=runner,
        agent_id="backend-1",
        **kw,
    )


def new_task(db: Database, project_id: int, title: str = MULTIPLY_TASK) -> dict:
    task_id = db.create_task(project_id, title, "calc.multiply(a, b) returns the product")
    return db.get_task(task_id)


async def test_passes_first_time(db, project_id, project, runner, recorder):
    client = ScriptedClient(
        [
            (
                MULTIPLY_TASK,
                changes(
                    ("calc.py", "modify", MULTIPLY_OK),
                    ("tests/test_multiply.py", "create", MULTIPLY_TESTS),
                    explanation="added multiply",
                ),
            )
        ]
    )
    task = new_task(db, project_id)
    worker = backend(db, project_id, project, client, runner, recorder)

    result = await worker.execute_task(task)

    assert result["status"] == "completed", result
    assert result["error"] is None
    assert result["files_modified"] == ["calc.py", "tests/test_multiply.py"]
    assert result["output"].startswith("added multiply")
    assert "tests: passed — 3 passed" in result["output"]
    row = db.get_task(task["id"])
    assert row["status"] == TaskStatus.COMPLETED
    assert row["completed_at"]
    assert row["actual_tokens"] == 200  # the scripted usage, 120 in + 80 out
    runs = db.get_test_results_by_task(task["id"])
    assert [(r["status"], r["attempt"], r["passed"]) for r in runs] == [("passed", 0, 3)]
    assert db.get_correction_attempts_by_task(task["id"]) == []
    assert "def multiply" in (project / "calc.py").read_text()
    assert len(client.history) == 1
    calls = db.get_llm_calls(task_id=task["id"])
    assert [(c["attempt"], c["input_tokens"], c["output_tokens"]) for c in calls] == [(0, 120, 80)]


async def test_fails_then_corrects_itself(db, project_id, project, runner, recorder):
    client = ScriptedClient(
        [
            (
                MULTIPLY_TASK,
                [
                    changes(
                        ("calc.py", "modify", MULTIPLY_BUGGY),
                        ("tests/test_multiply.py", "create", MULTIPLY_TESTS),
                    ),
                    changes(("calc.py", "modify", MULTIPLY_OK), explanation="use * not +"),
                ],
            )
        ]
    )
    task = new_task(db, project_id)
    result = await backend(db, project_id, project, client, runner, recorder).execute_task(task)

    assert result["status"] == "completed", result
    runs = db.get_test_results_by_task(task["id"])
    assert [(r["status"], r["attempt"]) for r in runs] == [("failed", 0), ("passed", 1)]
    attempts = db.get_correction_attempts_by_task(task["id"])
    assert len(attempts) == 1
    assert attempts[0]["attempt_number"] == 1
    assert attempts[0]["test_result_id"] == runs[1]["id"]  # the run after the fix
    assert attempts[0]["fix_description"] == "use * not +"
    assert attempts[0]["code_changes"][0]["path"] == "calc.py"
    assert "test_multiply" in attempts[0]["error_analysis"]
    # The ledger answers "which test failed on which attempt".
    failed_first = {
        c["node_id"] for c in db.get_test_cases(runs[0]["id"]) if c["outcome"] == "failed"
    }
    assert failed_first == {
        "tests/test_multiply.py::test_multiply",
        "tests/test_multiply.py::test_multiply_by_zero",
    }
    assert all(c["outcome"] == "passed" for c in db.get_test_cases(runs[1]["id"]))
    # The correction prompt carried the attempt, the failing output and the file contents.
    prompt = client.history[1]["messages"][0]["content"]
    assert "Self-correction attempt 1 of 3" in prompt
    assert "assert 7 == 12" in prompt
    assert "return a + b" in prompt
    assert db.get_task(task["id"])["actual_tokens"] == 400
    assert result["files_modified"] == ["calc.py", "tests/test_multiply.py"]


async def test_three_failures_file_a_blocker(db, project_id, project, runner, recorder):
    buggy = changes(
        ("calc.py", "modify", MULTIPLY_BUGGY), ("tests/test_multiply.py", "create", MULTIPLY_TESTS)
    )
    still_buggy = changes(("calc.py", "modify", MULTIPLY_BUGGY + "\n# tried again\n"))
    client = ScriptedClient([(MULTIPLY_TASK, [buggy, still_buggy])])
    task = new_task(db, project_id)

    result = await backend(db, project_id, project, client, runner, recorder).execute_task(task)

    assert result["status"] == "blocked"
    assert "3 correction attempts" in result["error"]
    row = db.get_task(task["id"])
    assert row["status"] == TaskStatus.BLOCKED
    runs = db.get_test_results_by_task(task["id"])
    assert [r["attempt"] for r in runs] == [0, 1, 2, 3]
    assert {r["status"] for r in runs} == {"failed"}
    attempts = db.get_correction_attempts_by_task(task["id"])
    assert [a["attempt_number"] for a in attempts] == [1, 2, 3]
    assert [a["test_result_id"] for a in attempts] == [r["id"] for r in runs[1:]]
    blockers = db.get_blockers(project_id)
    assert len(blockers) == 1
    assert blockers[0]["task_id"] == task["id"]
    assert blockers[0]["severity"] == "sync"
    assert "3 self-correction attempts" in blockers[0]["reason"]
    assert blockers[0]["reason"] in result["error"]
    assert len(client.history) == 4
    types = recorder.types()
    assert types.index("blocker_created") < types.index("task_blocked")
    assert recorder.messages[-1]["status"] == "blocked"


@pytest.mark.parametrize(
    "reply_text",
    [
        'Here you go:\n```json\n{"files": [{"path": "notes.txt", "action": "create", '
        '"content": "hi"}], "explanation": "fenced"}\n```\nThanks!',
        'Sure. {"files": [{"path": "notes.txt", "action": "create", "content": "hi"}],'
        ' "explanation": "prose around"} Let me know.',
        '{"files": [{"path": "notes.txt", "action": "create", "content": "hi"}], '
        '"explanation": "plain"}',
    ],
)
async def test_text_replies_in_any_wrapping_are_accepted(
    db, project_id, project, runner, reply_text
):
    client = ScriptedClient([("notes", reply_text)])
    task = new_task(db, project_id, "Write notes")
    result = await backend(db, project_id, project, client, runner).execute_task(task)
    assert result["status"] == "completed", result
    assert (project / "notes.txt").read_text() == "hi"


def _truncated() -> Message:
    message = make_text_message('{"files": [{"path": "a.py", "act', model="m")
    return message.model_copy(update={"stop_reason": "max_tokens"})


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        ("I cannot help with that.", "JSON"),
        ('{"files": [{"path": "a.py", "action": "rename", "content": "x"}]}', "action"),
        ('{"explanation": "no files key"}', "files"),
        ('{"files": [{"path": "a.py", "action": "create", "content": 42}]}', "content"),
        (_truncated(), "max_tokens"),
    ],
)
async def test_unusable_replies_fail_clearly_and_write_nothing(
    db, project_id, project, runner, reply, named
):
    before = tree(project)
    client = ScriptedClient([("Break", reply)])
    task = new_task(db, project_id, "Break things")
    result = await backend(db, project_id, project, client, runner).execute_task(task)

    assert result["status"] == "failed"
    assert result["error"].startswith("ResponseFormatError: ")
    assert named in result["error"]
    assert result["retryable"] is True
    assert tree(project) == before
    assert db.get_task(task["id"])["status"] == TaskStatus.FAILED
    assert db.get_task(task["id"])["error"] == result["error"]
    assert db.get_test_results_by_task(task["id"]) == []


@pytest.mark.parametrize(
    ("bad_path", "named"),
    [
        ("../escape.py", "path traversal"),
        ("/tmp/abs.py", "absolute path"),
        (".git/config", ".git/"),
        ("a/../../x", "path traversal"),
    ],
)
async def test_path_attacks_are_rejected_atomically(
    db, project_id, project, runner, bad_path, named
):
    outside = project.parent / "escape.py"
    before = tree(project)
    client = ScriptedClient(
        [
            (
                "Attack",
                changes(
                    ("good.py", "create", "x = 1\n"),
                    (bad_path, "create", "owned = True\n"),
                ),
            )
        ]
    )
    task = new_task(db, project_id, "Attack the tree")
    result = await backend(db, project_id, project, client, runner).execute_task(task)

    assert result["status"] == "failed"
    assert result["error"].startswith("UnsafePathError: ")
    assert named in result["error"]
    assert result["files_modified"] == []
    assert tree(project) == before
    assert not outside.exists()
    if bad_path.startswith("/"):
        assert not Path(bad_path).exists()


async def test_frontend_worker_writes_only_its_folder(db, project_id, project, runner):
    client = ScriptedClient(
        [
            (
                "Button component",
                changes(
                    ("frontend/Button.tsx", "create", "export function Button() { return null }\n")
                ),
            ),
            ("Sneaky", changes(("calc.py", "modify", "broken = True\n"))),
        ]
    )
    worker = FrontendWorkerAgent(
        project_id, db, None, project_root=project, client=client, test_runner=runner
    )
    button = new_task(db, project_id, "Button component")
    ok = await worker.execute_task(button)
    assert ok["status"] == "completed", ok
    assert (project / "frontend" / "Button.tsx").exists()
    runs = db.get_test_results_by_task(button["id"])
    assert [r["status"] for r in runs] == ["no_tests"]  # no tests/frontend folder

    before = tree(project)
    refused = await worker.execute_task(new_task(db, project_id, "Sneaky change"))
    assert refused["status"] == "failed"
    assert "frontend" in refused["error"]
    assert tree(project) == before


async def test_frontend_worker_runs_frontend_tests(db, project_id, project, runner):
    (project / "tests" / "frontend").mkdir()
    (project / "tests" / "frontend" / "test_markup.py").write_text(
        "from pathlib import Path\n\n"
        "def test_button_exists():\n"
        "    assert Path('frontend/Button.html').read_text().startswith('<button')\n"
    )
    client = ScriptedClient(
        [("Button", changes(("frontend/Button.html", "create", "<button>OK</button>\n")))]
    )
    worker = FrontendWorkerAgent(
        project_id,
        db,
        None,
        project_root=project,
        client=client,
        test_runner=runner,
        frontend_dir="frontend",
    )
    task = new_task(db, project_id, "Button markup")
    result = await worker.execute_task(task)
    assert result["status"] == "completed", result
    runs = db.get_test_results_by_task(task["id"])
    assert [(r["status"], r["passed"]) for r in runs] == [("passed", 1)]  # only tests/frontend


async def test_test_worker_writes_only_tests_and_runs_what_it_wrote(
    db, project_id, project, runner
):
    # A failing test elsewhere proves that only the written file runs.
    (project / "tests" / "test_broken.py").write_text("def test_broken():\n    assert False\n")
    client = ScriptedClient(
        [
            (
                "Cover add",
                changes(
                    (
                        "tests/test_add_more.py",
                        "create",
                        "from calc import add\n\ndef test_neg():\n    assert add(-1, 1) == 0\n",
                    )
                ),
            ),
            ("Touch code", changes(("calc.py", "modify", "x = 1\n"))),
        ]
    )
    worker = TestWorkerAgent(
        project_id, db, None, project_root=project, client=client, test_runner=runner
    )
    task = new_task(db, project_id, "Cover add with tests")
    result = await worker.execute_task(task)
    assert result["status"] == "completed", result
    runs = db.get_test_results_by_task(task["id"])
    assert [(r["status"], r["passed"]) for r in runs] == [("passed", 1)]
    cases = db.get_test_cases(runs[0]["id"])
    assert [c["node_id"] for c in cases] == ["tests/test_add_more.py::test_neg"]

    before = tree(project)
    refused = await worker.execute_task(new_task(db, project_id, "Touch code"))
    assert refused["status"] == "failed"
    assert tree(project) == before


async def test_no_tests_is_not_a_failure(db, project_id, tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    from codeframe.testing.test_runner import TestRunner

    client = ScriptedClient([("Readme", changes(("README.md", "create", "# hi\n")))])
    worker = BackendWorkerAgent(
        project_id,
        db,
        None,
        project_root=root,
        client=client,
        test_runner=TestRunner(root, plugin_autoload=False),
    )
    task = new_task(db, project_id, "Readme")
    result = await worker.execute_task(task)
    assert result["status"] == "completed"
    assert [r["status"] for r in db.get_test_results_by_task(task["id"])] == ["no_tests"]
    assert db.get_correction_attempts_by_task(task["id"]) == []


async def test_broadcasts_follow_the_pipeline(db, project_id, project, runner, recorder):
    client = ScriptedClient(
        [
            (
                MULTIPLY_TASK,
                [
                    changes(
                        ("calc.py", "modify", MULTIPLY_BUGGY),
                        ("tests/test_multiply.py", "create", MULTIPLY_TESTS),
                    ),
                    changes(("calc.py", "modify", MULTIPLY_OK)),
                ],
            )
        ]
    )
    task = new_task(db, project_id)
    await backend(db, project_id, project, client, runner, recorder).execute_task(task)

    seen = [
        (m["type"], m.get("status")) for m in recorder.messages if m["type"] != "activity_update"
    ]
    assert seen == [
        ("task_status_changed", "in_progress"),
        ("test_result", "failed"),
        ("correction_attempt", "in_progress"),
        ("test_result", "passed"),
        ("correction_attempt", "success"),
        ("task_status_changed", "completed"),
    ]
    final = recorder.messages[-1]
    assert final["actual_tokens"] == 400
    assert final["agent_id"] == "backend-1"
    assert all(m["project_id"] == project_id for m in recorder.messages)


async def test_cancel_during_claude_call(db, project_id, project, runner, recorder):
    client = ScriptedClient(
        [(MULTIPLY_TASK, changes(("calc.py", "modify", MULTIPLY_OK)))], latency=30
    )
    task = new_task(db, project_id)
    before = tree(project)
    worker = backend(db, project_id, project, client, runner, recorder)
    running = asyncio.create_task(worker.execute_task(task))
    await asyncio.sleep(0.2)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert db.get_task(task["id"])["status"] == TaskStatus.CANCELLED
    assert recorder.messages[-1]["status"] == "cancelled"
    assert tree(project) == before
    calls = db.get_llm_calls(task_id=task["id"])
    assert len(calls) == 1 and "CancelledError" in calls[0]["error"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_cancel_during_test_run_kills_pytest(db, project_id, project, runner, tmp_path):
    pid_file = tmp_path / "pytest.pid"
    slow_test = (
        "import os, time\n\n"
        "def test_slow():\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(60)\n"
    )
    client = ScriptedClient([("Slow", changes(("tests/test_slow.py", "create", slow_test)))])
    task = new_task(db, project_id, "Slow test")
    worker = backend(db, project_id, project, client, runner)
    running = asyncio.create_task(worker.execute_task(task))
    async with asyncio.timeout(30):
        while not pid_file.exists() or not pid_file.read_text():
            await asyncio.sleep(0.05)
    pytest_pid = int(pid_file.read_text())
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    async with asyncio.timeout(5):
        while _alive(pytest_pid):
            await asyncio.sleep(0.02)
    assert db.get_task(task["id"])["status"] == TaskStatus.CANCELLED
    assert db.get_test_results_by_task(task["id"]) == []


async def test_loop_stays_responsive_while_tests_run(db, project_id, project, runner):
    busy_test = (
        "import time\n\n"
        "def test_busy():\n"
        "    end = time.perf_counter() + 1.5\n"
        "    while time.perf_counter() < end:\n"
        "        sum(range(1000))\n"
    )
    client = ScriptedClient([("Busy", changes(("tests/test_busy.py", "create", busy_test)))])
    task = new_task(db, project_id, "Busy work")
    worker = backend(db, project_id, project, client, runner)
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last - 0.01)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        result = await worker.execute_task(task)
    finally:
        ticking.cancel()
    assert result["status"] == "completed"
    assert len(gaps) > 50  # the loop kept ticking for the whole run
    assert max(gaps) < 0.25  # generous: the point is that nothing blocks for the run's length


async def test_runner_that_cannot_start_fails_without_corrections(db, project_id, project):
    from codeframe.core.models import TestResult

    class BrokenRunner:
        async def run_tests(self, test_paths=None):
            return TestResult("error", runner_error="pytest is not installed for /usr/bin/python")

    client = ScriptedClient([("Any", changes(("x.py", "create", "x = 1\n")))])
    worker = BackendWorkerAgent(
        project_id, db, None, project_root=project, client=client, test_runner=BrokenRunner()
    )
    task = new_task(db, project_id, "Any change")
    result = await worker.execute_task(task)
    assert result["status"] == "failed"
    assert result["retryable"] is False
    assert "pytest is not installed" in result["error"]
    assert len(client.history) == 1
    assert db.get_correction_attempts_by_task(task["id"]) == []


async def test_script_miss_is_not_retryable(db, project_id, project, runner):
    client = ScriptedClient([("zzz-never-in-a-prompt", "{}")])
    worker = backend(db, project_id, project, client, runner)
    result = await worker.execute_task(new_task(db, project_id, "Unscripted"))
    assert result["status"] == "failed"
    assert result["error"].startswith("ScriptMissError")
    assert result["retryable"] is False


async def test_worker_without_client_or_key_fails_readably(
    db, project_id, project, runner, monkeypatch
):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    worker = BackendWorkerAgent(project_id, db, None, project_root=project, test_runner=runner)
    result = await worker.execute_task(new_task(db, project_id))
    assert result["status"] == "failed"
    assert result["retryable"] is False
    assert "ANTHROPIC_API_KEY" in result["error"]


async def test_claude_timeout_fails_the_task(db, project_id, project, runner):
    client = ScriptedClient(
        [(MULTIPLY_TASK, changes(("calc.py", "modify", MULTIPLY_OK)))], latency=5
    )
    worker = backend(db, project_id, project, client, runner, timeout=0.2)
    result = await worker.execute_task(new_task(db, project_id))
    assert result["status"] == "failed"
    assert "did not answer within 0.2 s" in result["error"]
    assert result["retryable"] is True


async def test_fetch_next_task_orders_by_priority_step_and_id(db, project_id, project):
    low = db.create_task(project_id, "low", priority=3)
    first = db.create_task(project_id, "first", priority=1, workflow_step=2)
    earlier_step = db.create_task(project_id, "earlier step", priority=1, workflow_step=1)
    worker = BackendWorkerAgent(project_id, db, None, project_root=project)
    assert worker.fetch_next_task()["id"] == earlier_step
    db.update_task(earlier_step, {"status": "completed"})
    assert worker.fetch_next_task()["id"] == first
    db.update_task(first, {"status": "completed"})
    assert worker.fetch_next_task()["id"] == low
    db.update_task(low, {"status": "completed"})
    assert worker.fetch_next_task() is None


async def test_context_comes_from_the_index_and_issue(db, project_id, project):
    issue_id = db.create_issue(
        project_id=project_id, issue_number="1.0", title="Maths", description="basic arithmetic"
    )
    (project / "shapes.py").write_text("def circle_area(r):\n    return 3.14 * r * r\n")
    task_id = db.create_task(project_id, "Circle area should use math.pi", issue_id=issue_id)
    worker = BackendWorkerAgent(project_id, db, None, project_root=project)
    context = worker.build_context(db.get_task(task_id))
    assert [s.name for s in context["related_symbols"]][:1] == ["circle_area"]
    assert context["related_files"][0] == "shapes.py"
    assert context["issue_context"]["title"] == "Maths"
    assert "def circle_area" in context["file_excerpts"]["shapes.py"]
    prompt = generation_prompt(context)
    assert "Parent issue 1.0: Maths" in prompt
    assert "def circle_area(r)" in prompt


async def test_a_key_passed_in_code_never_reaches_the_call_ledger(db, project_id, project, runner):
    key = "sk-ant-in-code-0123456789abcdef"
    # A reply that quotes the key, e.g. a model echoing a prompt that contained it.
    reply = changes(("x.py", "create", "x = 1\n"), explanation=f"configured {key}")
    client = ScriptedClient([("Any change", reply)])
    worker = backend(db, project_id, project, client, runner, api_key=key)
    task = new_task(db, project_id, "Any change")
    task["description"] = f"use the key {key}"

    await worker.execute_task(task)

    (call,) = db.get_llm_calls(task_id=task["id"])
    assert key not in repr(call)
    assert "<redacted>" in call["reply_text"]
