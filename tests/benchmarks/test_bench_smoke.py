"""The benchmarks at toy sizes: every scenario runs, counts what it claims, and the report is
written. No figure here is judged against a time — the real run is ``make bench``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks import run
from benchmarks.loop_lag import LagMonitor, monitoring
from benchmarks.memory import AsyncGate, ThreadGate
from benchmarks.report import MAIN_HEADER, render, table_rows
from benchmarks.scenarios import main as scenarios_main
from benchmarks.scenarios import run_codeframe, run_scenario, run_seed
from benchmarks.thread_baseline import InstantRunner, SyncScriptedClient
from benchmarks.workload import note_reply, workspace
from codeframe.llm import ScriptedClient
from codeframe.testing.fixed_runner import FixedResultRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder

SMOKE = run.SMOKE


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One in-process pass over every scenario at SMOKE sizes, shared by the tests below."""
    plan = dataclasses.replace(SMOKE, tmp_dir=str(tmp_path_factory.mktemp("bench")))
    return run.measure(plan, execute=run_scenario)


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _done_rows(ws: Any) -> dict[str, Any]:
    """What a run left in its database, per kind of row."""
    tasks = ws.db.get_project_tasks(ws.project_id)
    return {
        "statuses": Counter(t["status"] for t in tasks),
        "llm_calls": len(ws.db.get_llm_calls(project_id=ws.project_id)),
        "test_runs": sum(len(ws.db.get_test_results_by_task(t["id"])) for t in tasks),
        "ids": sorted(t["id"] for t in tasks),
    }


async def test_both_designs_do_the_same_work(tmp_path: Path) -> None:
    threads: set[str] = set()

    def threaded_reply(kwargs: dict[str, Any]) -> dict[str, Any]:
        threads.add(threading.current_thread().name)
        return note_reply(kwargs)

    runs = {}
    with workspace(12, str(tmp_path)) as ws_async, workspace(12, str(tmp_path)) as ws_seed:
        async_rec, seed_rec = BroadcastRecorder(), BroadcastRecorder()
        async_figures = await run_codeframe(
            ws_async, 4, ScriptedClient(default=note_reply), FixedResultRunner(), async_rec
        )
        seed_figures = await run_seed(
            ws_seed, 4, SyncScriptedClient(threaded_reply, latency=0.01), InstantRunner(),
            seed_rec,
        )  # fmt: skip
        for name, ws in (("async", ws_async), ("seed", ws_seed)):
            runs[name] = (_done_rows(ws), _files(ws.root))

    assert async_figures["completed"] == seed_figures["completed"] == 12
    assert Counter(async_rec.types()) == Counter(seed_rec.types())
    assert async_figures["events"] == seed_figures["events"]
    (async_rows, async_files), (seed_rows, seed_files) = runs["async"], runs["seed"]
    assert async_rows == seed_rows
    assert async_rows["statuses"] == {"completed": 12}
    assert async_rows["llm_calls"] == async_rows["test_runs"] == 12
    assert async_files == seed_files == {f"notes/task_{i}.txt" for i in async_rows["ids"]}
    # The baseline really ran its workers in pool threads, not on the loop.
    assert threads and all(name.startswith("seed-worker") for name in threads)


def test_timed_scenarios_complete_every_task_in_both_designs(smoke: dict[str, Any]) -> None:
    assert smoke["ideal_s"] == pytest.approx(4 * SMOKE.latency)  # ⌈20/5⌉ waves
    sections = [("efficiency", SMOKE.n_eff), ("overhead", SMOKE.n_overhead)]
    if "efficiency_tmpfs" in smoke:
        sections.append(("efficiency_tmpfs", SMOKE.n_eff))
    for section, n in sections:
        for design in ("async", "thread"):
            (figures,) = smoke[section][design]
            assert figures["tasks"] == figures["completed"] == n
            assert figures["wall_s"] > 0 and figures["cpu_s"] > 0
            assert figures["peak_rss_bytes"] > 10 * 2**20  # an interpreter with codeframe loaded
            assert figures["events"]["task_assigned"] == n
            assert figures["events"]["agent_created"] == SMOKE.c_eff
            assert figures["test_statuses"] == {"no_tests": n}


def test_memory_is_read_with_every_task_in_flight(smoke: dict[str, Any]) -> None:
    for design in ("async", "thread"):
        rss, heap = smoke["memory"][design]["rss"], smoke["memory"][design]["heap"]
        assert rss["in_flight"] == heap["in_flight"] == SMOKE.c_memory
        assert "heap_per_task_bytes" not in rss
        # Each waiting task holds at least its worker, task row, prompt and events.
        assert 1024 < heap["heap_per_task_bytes"] < 2**20
        assert heap["top_sites"]
    async_files = [site["file"] for site in smoke["memory"]["async"]["heap"]["top_sites"]]
    assert any(name.startswith("codeframe/") for name in async_files)


def test_lag_runs_drive_real_pytest(smoke: dict[str, Any]) -> None:
    for design in ("async", "thread"):
        (figures,) = smoke["lag"][design]
        assert figures["completed"] == SMOKE.n_lag
        assert figures["test_statuses"] == {"passed": SMOKE.n_lag}
        assert figures["samples"] > 0
        assert 0 <= figures["median_ms"] <= figures["p99_ms"] <= figures["max_ms"]


def test_profile_ranks_costs_per_task(smoke: dict[str, Any]) -> None:
    profile = smoke["profile"]
    assert profile["profiled_cpu_per_task_us"] > 0
    costs = [row["self_us"] for row in profile["self"]]
    assert costs and costs == sorted(costs, reverse=True)
    ours = profile["codeframe_cumulative"]
    assert ours and all(row["name"].startswith("codeframe/") for row in ours)
    assert any("execute_task" in row["name"] for row in ours)


def test_seed_claims_are_measured(smoke: dict[str, Any]) -> None:
    for run_figures in smoke["agent_creation"]:
        assert run_figures["agents"] == SMOKE.agents
        for key in ("lead_agent_us", "create_agent_us", "acquire_us", "live_client_us"):
            assert run_figures[key] > 0, key
    for design in ("async", "thread"):
        (figures,) = smoke["broadcast"][design]
        # Every event of every sender reached the target, and was timed.
        assert figures["samples"] == SMOKE.senders * SMOKE.per_sender
        assert 0 < figures["median_us"] <= figures["p99_us"]
        assert figures["load_1min"] >= 0


def test_report_has_every_figure_and_how_to_reproduce(smoke: dict[str, Any]) -> None:
    facts = {"date": "2025-01-01 00:00 UTC", "CPU": "test CPU", "cores": "2"}
    text = render(smoke, facts)
    assert text.startswith("# Performance\n")
    assert "| " + " | ".join(MAIN_HEADER) + " |" in text
    rows = table_rows(smoke)
    assert len(rows) == 17 + ("efficiency_tmpfs" in smoke) + 2 * ("efficiency_worktree" in smoke)
    for row in rows:
        assert "| " + " | ".join(row) + " |" in text
    worktree = [row[1] for row in rows if row[0].startswith("↳ efficiency with worktree")]
    assert [row[1] for row in rows if row[1]] == [
        "≥ 0.95",
        *worktree,
        "≤ 0.3 ms",
        "≤ 100 KB",
        "≤ 100 KB",
        "≤ 20 ms",
        "< 100 ms",
        "asyncio < threads",
    ]
    assert all(row[5] in ("met", "**missed**") for row in rows if row[1])
    assert [w.startswith("within 0.05 of shared") for w in worktree] == (
        [True] if "efficiency_worktree" in smoke else []
    )
    assert "2025-01-01 00:00 UTC" in text and "CPU: test CPU" in text
    assert "## Where a task's CPU goes" in text and "Self time by area" in text
    assert "## Load during the runs" in text
    assert "## What a task's time is made of" in text
    assert "`make bench`" in text


def _replay(smoke: dict[str, Any], calls: list[str]) -> run.Executor:
    """An executor that answers from the smoke run instead of running anything."""

    def execute(name: str, params: dict[str, Any]) -> dict[str, Any]:
        calls.append(name)
        if name == "profile":
            return smoke["profile"]
        if name == "agent_creation":
            return smoke["agent_creation"][0]
        if name == "async_worktree_run":
            return smoke["efficiency_worktree"]["async"][0]
        if name == "storage_split":
            on_tmpfs = params.get("tmp_dir") == smoke.get("tmpfs_dir")
            return smoke["storage_split"]["tmpfs" if on_tmpfs else "tmp_dir"][0]
        design, kind = name.split("_", 1)
        if kind == "broadcast":
            return smoke["broadcast"][design][0]
        if kind == "memory":
            return smoke["memory"][design]["heap" if params["trace"] else "rss"]
        section = "lag" if kind == "lag" else ("efficiency" if params["latency"] else "overhead")
        return smoke[section][design][0]

    return execute


def test_main_writes_the_report_where_asked(smoke: dict[str, Any], tmp_path: Path) -> None:
    calls: list[str] = []
    out = tmp_path / "docs" / "performance.md"
    argv = ["--smoke", "--out", str(out), "--tmp-dir", str(tmp_path)]
    assert run.main(argv, execute=_replay(smoke, calls)) == 0

    text = out.read_text(encoding="utf-8")
    assert "| Concurrency efficiency" in text and "project and database in:" in text
    places = 1 + ("efficiency_tmpfs" in smoke)  # the project's folder (, tmpfs)
    runs = 1 + places  # efficiency in each place, overhead
    assert Counter(calls) == {
        "async_run": runs, "thread_run": runs, "async_memory": 2, "thread_memory": 2,
        "async_lag": 1, "thread_lag": 1, "async_broadcast": 1, "thread_broadcast": 1,
        "agent_creation": 1, "profile": 1, "async_worktree_run": 1, "storage_split": places,
    }  # fmt: skip


def test_smoke_without_out_leaves_the_real_report_alone(
    smoke: dict[str, Any], tmp_path: Path
) -> None:
    before = run.DEFAULT_OUT.read_bytes() if run.DEFAULT_OUT.exists() else None
    assert run.main(["--smoke", "--tmp-dir", str(tmp_path)], execute=_replay(smoke, [])) == 0
    after = run.DEFAULT_OUT.read_bytes() if run.DEFAULT_OUT.exists() else None
    assert after == before


@pytest.mark.parametrize("skip", [False, True])
def test_the_profile_runs_unless_told_not_to(
    smoke: dict[str, Any], tmp_path: Path, skip: bool
) -> None:
    calls: list[str] = []
    out = tmp_path / "performance.md"
    argv = ["--smoke", "--out", str(out), *(["--no-profile"] if skip else [])]
    assert run.main(argv, execute=_replay(smoke, calls)) == 0
    assert ("profile" in calls) is not skip
    assert ("## Where a task's CPU goes" in out.read_text(encoding="utf-8")) is not skip


def test_scenario_cli_prints_figures_as_json(tmp_path: Path) -> None:
    params = {"n": 3, "c": 2, "latency": 0.0, "tmp_dir": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scenarios", "async_run", json.dumps(params)],
        cwd=run.REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["completed"] == 3
    assert figures["peak_rss_bytes"] > 0


def test_scenario_cli_rejects_bad_arguments() -> None:
    assert scenarios_main(["async_run"]) == 2
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        run_scenario("nope", {})


async def test_lag_monitor_sees_a_blocked_loop() -> None:
    async with monitoring(LagMonitor(tick=0.005)) as monitor:
        await asyncio.sleep(0.02)
        time.sleep(0.06)  # holds the loop: the monitor's wake-up is at least ~55 ms late
        await asyncio.sleep(0.02)
    figures = monitor.figures()
    assert figures["max_ms"] >= 50
    assert figures["over_20ms"] >= 1


async def test_async_gate_says_how_many_calls_arrived() -> None:
    full: list[bool] = []
    gate = AsyncGate(3, lambda: full.append(True), timeout=0.05)
    with pytest.raises(RuntimeError, match="only 1 of 3 calls"):
        await gate.wait()
    assert full == []


def test_thread_gate_opens_when_all_arrive_and_measures_once() -> None:
    full: list[bool] = []
    gate = ThreadGate(3, lambda: full.append(True), timeout=10)
    workers = [threading.Thread(target=gate.wait) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert not any(worker.is_alive() for worker in workers)
    assert full == [True]

    lonely = ThreadGate(2, lambda: full.append(True), timeout=0.05)
    with pytest.raises(RuntimeError, match="only 1 of 2 calls"):
        lonely.wait()
