"""AgentPanel through its public API: as a worker's and the lead's target, floods, Stop."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import pytest

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.models import FINAL_STATUSES, TestResult
from codeframe.errors import CodeframeError
from codeframe.llm import ScriptedClient
from codeframe.notebook import html as views
from codeframe.notebook.panel import AgentPanel
from codeframe.persistence.database import Database
from codeframe.testing.fixed_runner import FixedResultRunner

WAIT_S = 15.0  # generous bounds: they only say "this does not hang"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SequenceRunner:
    """Answers each run with the next result; the last one repeats."""

    def __init__(self, statuses: Sequence[str]) -> None:
        self.statuses = list(statuses)

    async def run_tests(self, test_paths: Sequence[str] | None = None) -> TestResult:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return TestResult(
            status,
            passed=int(status == "passed"),
            failed=int(status != "passed"),
            output=f"1 {status}",
        )


def no_change(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"files": [], "explanation": "nothing to change"}


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition()`` holds (bounded, so a bug fails, not hangs)."""
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.005)


def widget_text(root: widgets.Widget) -> str:
    """Every string value in the widget tree, to see what the panel shows."""
    parts, stack = [], [root]
    while stack:
        node = stack.pop()
        stack.extend(getattr(node, "children", ()))
        value = getattr(node, "value", None)
        if isinstance(value, str):
            parts.append(value)
    return "\n".join(parts)


def find(root: widgets.Widget, kind: type) -> Any:
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, kind):
            return node
        stack.extend(getattr(node, "children", ()))
    raise AssertionError(f"no {kind.__name__} in the panel")


def assert_matches_database(snap: dict[str, Any], db: Database, project_id: int) -> None:
    rows = db.get_project_tasks(project_id)
    assert {i: t["status"] for i, t in snap["tasks"].items()} == {
        r["id"]: r["status"] for r in rows
    }
    assert {i: t["title"] for i, t in snap["tasks"].items()} == {r["id"]: r["title"] for r in rows}
    assert snap["tokens"] == sum(r["actual_tokens"] or 0 for r in rows)
    assert snap["progress"]["total"] == len(rows)
    assert snap["progress"]["done"] == sum(r["status"] in FINAL_STATUSES for r in rows)
    for row in rows:
        runs = db.get_test_results_by_task(row["id"])
        task = snap["tasks"][row["id"]]
        assert task["last_test_status"] == (runs[-1]["status"] if runs else None)
        assert task["attempts"] == db.count_correction_attempts(row["id"])
    blockers = sorted(db.get_blockers(project_id), key=lambda b: b["id"])
    assert snap["blockers"] == [
        {"task_id": b["task_id"], "reason": b["reason"], "question": b["question"]}
        for b in blockers
    ]
    json.dumps(snap)


# -- as a broadcast target --------------------------------------------------------------


async def test_panel_as_a_workers_target_matches_the_database(db, project_id, project):
    corrected = db.create_task(project_id, "Add multiply", "multiply(a, b)")
    stuck = db.create_task(project_id, "Parse dates", "parse ISO dates")
    panel = AgentPanel(db, project_id, mode="offline")
    before = panel.snapshot()
    assert before["tasks"][corrected]["status"] == "pending"  # the task list shows at once
    assert before["progress"] == {**before["progress"], "done": 0, "total": 2}

    client = ScriptedClient(default=no_change)
    # Add multiply: fails, then passes after one correction. Parse dates: never passes.
    runner = SequenceRunner(["failed", "passed", "failed"])
    worker = BackendWorkerAgent(
        project_id,
        db,
        None,
        project_root=project,
        ws_manager=panel,
        client=client,
        test_runner=runner,
        agent_id="backend-1",
    )
    first = await worker.execute_task(db.get_task(corrected))
    second = await worker.execute_task(db.get_task(stuck))
    assert (first["status"], second["status"]) == ("completed", "blocked")

    from_events = panel.snapshot()
    assert_matches_database(from_events, db, project_id)
    assert from_events["tasks"][corrected]["attempts"] == 1
    assert from_events["tasks"][stuck]["attempts"] == 3
    assert from_events["tokens"] == 200 * 6  # two calls for one task, four for the other
    assert from_events["events"] == len(panel.events) > 0
    await panel.flush()
    after = panel.snapshot()
    assert_matches_database(after, db, project_id)
    assert after["tasks"] == from_events["tasks"]
    shown = widget_text(panel.widget)
    assert "Parse dates" in shown
    assert "Tests still failing after 3 self-correction attempts" in shown


async def test_panel_as_the_lead_agents_target_matches_the_database(db, project_id):
    ids = db.create_tasks(project_id, [
        {"title": "Create schema", "task_number": "1"},
        {"title": "Add API endpoint", "task_number": "2", "depends_on": ["1"]},
        {"title": "Broken service", "task_number": "3"},
        {"title": "Wire broken service", "task_number": "4", "depends_on": ["3"]},
    ])  # fmt: skip
    client = ScriptedClient(
        [("Broken service", RuntimeError("connection reset"))], default=no_change
    )
    panel = AgentPanel(db, project_id)
    lead = LeadAgent(
        project_id,
        db,
        ws_manager=panel,
        client=client,
        test_runner=FixedResultRunner(TestResult("passed", passed=1)),
    )
    summary = await lead.start_multi_agent_execution(max_retries=1, max_concurrent=2)
    assert (summary["completed"], summary["failed"], summary["blocked"]) == (2, 1, 1)

    snap = panel.snapshot()
    assert_matches_database(snap, db, project_id)
    assert snap["progress"]["done"] == 4
    assert snap["tasks"][ids[3]]["status"] == "blocked"
    assert snap["agents"] and all(a["status"] == "retired" for a in snap["agents"].values())
    # Four executions: two tasks once, the broken one twice (one retry).
    assert sum(a["tasks_completed"] for a in snap["agents"].values()) == 4
    await panel.flush()
    assert_matches_database(panel.snapshot(), db, project_id)


# -- redraws ----------------------------------------------------------------------------


def flood_messages(n: int, project_id: int = 1) -> list[dict[str, Any]]:
    """A realistic mix of events over 50 tasks and 5 agents."""
    stamp = "2025-01-01T12:00:00.000000Z"
    out: list[dict[str, Any]] = []
    for i in range(n):
        task_id, agent_id = i % 50 + 1, f"backend-{i % 5 + 1}"
        base = {"project_id": project_id, "timestamp": stamp}
        kind = i % 4
        if kind == 0:
            out.append(
                {
                    **base,
                    "type": "task_status_changed",
                    "task_id": task_id,
                    "status": "in_progress",
                    "agent_id": agent_id,
                }
            )
        elif kind == 1:
            out.append(
                {
                    **base,
                    "type": "activity_update",
                    "activity_type": "note",
                    "message": f"event {i}",
                    "task_id": task_id,
                    "agent_id": agent_id,
                }
            )
        elif kind == 2:
            out.append(
                {
                    **base,
                    "type": "test_result",
                    "task_id": task_id,
                    "status": "passed",
                    "passed": 1,
                    "failed": 0,
                    "errors": 0,
                    "skipped": 0,
                    "duration": 0.1,
                }
            )
        else:
            out.append(
                {
                    **base,
                    "type": "agent_status_changed",
                    "agent_id": agent_id,
                    "status": "busy",
                    "current_task": {"id": task_id, "title": "T"},
                }
            )
    return out


async def test_a_flood_of_events_is_coalesced_into_few_redraws():
    clock = FakeClock()
    # A short interval, so a throttle that trusted the loop's clock would redraw many times.
    panel = AgentPanel(clock=clock, redraw_interval=0.01)
    messages = flood_messages(10_000)
    start, redraws_before = clock.now, panel.redraws
    for message in messages:
        clock.now += 1e-7  # 1 ms of panel time for the whole flood
        await panel.broadcast(message)
        await asyncio.sleep(0)  # let any timer fire, as a real run would
    await panel.flush()
    elapsed = clock.now - start
    redraws = panel.redraws - redraws_before
    # The real loop ran far longer than 1 ms, but the panel's own clock decides.
    assert 1 <= redraws <= elapsed / panel.redraw_interval + 2
    snap = panel.snapshot()
    assert snap["events"] == len(panel.events) == 10_000
    assert len(snap["activity"]) == 200
    assert snap["activity"][-2].endswith("event 9997")
    assert snap["activity"][-1].endswith("task #49 tests passed: 1 passed, 0 failed, 0 errors")
    assert "event 9997" in widget_text(panel.widget)


async def test_a_redraw_follows_the_last_event_within_the_interval():
    clock = FakeClock()
    panel = AgentPanel(clock=clock, redraw_interval=0.1)
    clock.now += 1.0
    await panel.broadcast({"type": "activity_update", "project_id": 1, "message": "first"})
    await until(lambda: "first" in widget_text(panel.widget))
    clock.now += 0.01
    await panel.broadcast({"type": "activity_update", "project_id": 1, "message": "second"})
    await asyncio.sleep(0.02)
    assert "second" not in widget_text(panel.widget)  # too soon after the last redraw
    clock.now += 0.2
    await until(lambda: "second" in widget_text(panel.widget))  # no flush needed


async def test_a_render_error_is_logged_once_and_never_raised(monkeypatch, caplog):
    panel = AgentPanel(redraw_interval=0.1)

    def broken(snapshot: dict[str, Any]) -> str:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(views, "task_board", broken)
    with caplog.at_level(logging.ERROR, logger="codeframe.notebook.panel"):
        await panel.broadcast(
            {"type": "task_status_changed", "project_id": 1, "task_id": 1, "status": "in_progress"}
        )
        await panel.flush()
        await panel.flush()
        await panel.broadcast({"type": "not an event"})  # malformed: no fields at all
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "renderer exploded" in errors[0].getMessage()
    assert panel.snapshot()["tasks"][1]["status"] == "in_progress"
    monkeypatch.undo()
    await panel.flush()
    assert "in_progress" in widget_text(panel.widget)


async def test_a_malformed_event_is_logged_and_the_sender_goes_on(caplog):
    panel = AgentPanel()
    with caplog.at_level(logging.ERROR, logger="codeframe.notebook.panel"):
        await panel.broadcast({"type": "task_status_changed", "project_id": 1})  # no task_id
    assert "could not read an event" in caplog.text
    assert len(panel.events) == 1


# -- the static form ----------------------------------------------------------------------


async def test_static_html_escapes_titles_and_activity(db, project_id):
    task_id = db.create_task(project_id, "<script>alert('task')</script>")
    panel = AgentPanel(db, project_id, title="<script>alert('title')</script>")
    await panel.broadcast(
        {
            "type": "activity_update",
            "project_id": project_id,
            "message": "<img src=x onerror=alert(1)>",
        }
    )
    page = panel.to_html()
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#x27;task&#x27;)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in page
    assert f"#{task_id}" in page
    assert "0/1 tasks done" in page
    assert "<script>" not in widget_text(panel.widget)


async def test_mime_bundle_has_the_live_widget_and_html():
    panel = AgentPanel(project_id=3, mode="live")
    bundle = panel._repr_mimebundle_()
    assert bundle["text/html"] == panel.to_html()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id
    assert "live" in bundle["text/html"]


# -- background runs and Stop ---------------------------------------------------------------


async def test_the_stop_button_cancels_a_background_run(db, project_id):
    ids = [db.create_task(project_id, f"Service {n}") for n in range(3)]
    slow = ScriptedClient(default=no_change, latency=30)
    panel = AgentPanel(db, project_id)
    lead = LeadAgent(project_id, db, ws_manager=panel, client=slow, test_runner=FixedResultRunner())
    assert panel.stop_button.disabled
    run = panel.start(lead.start_multi_agent_execution(max_concurrent=2))
    assert panel.running and panel.snapshot()["running"]
    await until(lambda: panel.snapshot()["progress"]["by_status"]["in_progress"] == 2)
    await panel.flush()
    assert not panel.stop_button.disabled

    panel.stop_button.click()
    done, _ = await asyncio.wait({run}, timeout=WAIT_S)
    assert run in done and run.cancelled()
    assert [db.get_task(i)["status"] for i in ids] == ["cancelled", "cancelled", "pending"]
    snap = panel.snapshot()
    assert snap["running"] is False and not panel.running
    assert_matches_database(snap, db, project_id)
    assert "stopped" in panel.to_html()
    assert panel.stop_button.disabled


async def test_stop_returns_after_clean_up_and_a_second_start_is_refused(db, project_id):
    ids = [db.create_task(project_id, f"Service {n}") for n in range(3)]
    panel = AgentPanel(db, project_id)
    slow = LeadAgent(
        project_id,
        db,
        ws_manager=panel,
        test_runner=FixedResultRunner(),
        client=ScriptedClient(default=no_change, latency=30),
    )
    run = panel.start(slow.start_multi_agent_execution(max_concurrent=2))
    with pytest.raises(CodeframeError, match="already in progress"):
        panel.start(slow.start_multi_agent_execution())  # closed, never "never awaited"
    await until(lambda: panel.snapshot()["progress"]["by_status"]["in_progress"] == 2)

    await panel.stop()
    assert run.cancelled()
    assert [db.get_task(i)["status"] for i in ids] == ["cancelled", "cancelled", "pending"]
    assert panel.snapshot()["running"] is False
    await panel.stop()  # nothing running: a no-op

    fast = LeadAgent(
        project_id,
        db,
        ws_manager=panel,
        test_runner=FixedResultRunner(),
        client=ScriptedClient(default=no_change),
    )
    summary = await panel.start(fast.start_multi_agent_execution())  # Stop, then resume
    assert summary["completed"] == 3
    snap = panel.snapshot()
    assert snap["progress"]["done"] == snap["progress"]["total"] == 3
    assert "finished: 3 completed" in panel.to_html()
    assert find(panel.widget, widgets.IntProgress).bar_style == "success"


async def test_a_failed_background_run_shows_red_and_is_logged(caplog):
    panel = AgentPanel()

    async def bad_run() -> None:
        await asyncio.sleep(0)
        raise ValueError("the plan is wrong")

    with caplog.at_level(logging.ERROR, logger="codeframe.notebook.panel"):
        run = panel.start(bad_run())
        await asyncio.wait({run}, timeout=WAIT_S)
    assert isinstance(run.exception(), ValueError)
    assert "failed: ValueError: the plan is wrong" in panel.to_html()
    assert find(panel.widget, widgets.IntProgress).bar_style == "danger"
    assert "the plan is wrong" in caplog.text
    assert panel.snapshot()["running"] is False


async def test_a_failed_runs_key_is_masked_in_the_header_html_and_log(caplog, monkeypatch):
    key = "sk-ant-panel-0123456789abcdef"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    panel = AgentPanel()

    async def bad_run() -> None:
        await asyncio.sleep(0)
        raise RuntimeError(f"401 for {key}")

    with caplog.at_level(logging.ERROR, logger="codeframe.notebook.panel"):
        run = panel.start(bad_run())
        await asyncio.wait({run}, timeout=WAIT_S)
    assert "failed: RuntimeError: 401 for &lt;redacted&gt;" in panel.to_html()
    assert key not in panel.to_html() and key not in widget_text(panel.widget)
    assert key not in caplog.text
    assert "Traceback" in caplog.text and "bad_run" in caplog.text


async def test_an_odd_run_result_still_ends_the_run_on_the_panel():
    panel = AgentPanel()

    async def odd_run() -> dict:
        return {"total_tasks": 1, "execution_time": "not a number"}

    run = panel.start(odd_run())
    await asyncio.wait({run}, timeout=WAIT_S)
    assert panel.snapshot()["running"] is False
    assert "finished" in panel.to_html()


async def test_stop_from_another_event_loop_is_refused_clearly():
    panel = AgentPanel()
    run = panel.start(asyncio.sleep(30))
    try:
        # e.g. a helper thread with its own loop: it cannot cancel this loop's task.
        with pytest.raises(CodeframeError, match="loop the run was started on"):
            await asyncio.to_thread(asyncio.run, panel.stop())
        assert not run.done()
    finally:
        await panel.stop()
    assert run.cancelled()


def test_start_needs_a_running_loop():
    panel = AgentPanel()

    async def work() -> None:
        return None

    with pytest.raises(CodeframeError, match="running event loop"):
        panel.start(work())
    assert not panel.running


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="redraw_interval"):
        AgentPanel(redraw_interval=0)


def test_redraws_go_on_when_each_run_has_its_own_event_loop():
    # A script calls run_sync (asyncio.run) once per run: each run gets a fresh loop.
    panel = AgentPanel(redraw_interval=0.01)

    async def send(text: str, wait: bool) -> None:
        await panel.broadcast({"type": "activity_update", "project_id": 1, "message": text})
        if wait:
            await until(lambda: text in widget_text(panel.widget))

    asyncio.run(send("first run", wait=False))  # its loop closes with a redraw pending
    asyncio.run(send("second run", wait=True))
