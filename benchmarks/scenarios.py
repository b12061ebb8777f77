"""Each benchmark scenario, runnable alone in a fresh interpreter so its figures are clean.

    python -m benchmarks.scenarios <name> '<json params>'

prints one JSON object of figures on stdout. ``benchmarks.run`` starts one such process per
scenario and repetition, so peak RSS belongs to that scenario alone and no scenario warms
another's caches. Scenario names: async_run, async_worktree_run, thread_run, async_memory,
thread_memory, async_lag, thread_lag, async_broadcast, thread_broadcast, agent_creation,
profile, storage_split (see each function for its params).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from benchmarks.loop_lag import DEFAULT_TICK_S, LagMonitor, monitoring
from benchmarks.memory import AsyncGate, GatedClient, MemoryProbe, ThreadGate
from benchmarks.profiling import top_costs
from benchmarks.seed_claims import agent_creation as measure_agent_creation
from benchmarks.seed_claims import broadcast_latency
from benchmarks.storage_split import timing_storage
from benchmarks.thread_baseline import (
    InstantRunner,
    SubprocessRunner,
    SyncScriptedClient,
    run_threaded,
)
from benchmarks.workload import Workspace, note_reply, peak_rss, workspace
from codeframe.agents.isolation import Isolation
from codeframe.agents.lead_agent import LeadAgent
from codeframe.llm import ScriptedClient
from codeframe.testing.fixed_runner import FixedResultRunner
from codeframe.testing.test_runner import TestRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder

Params = Mapping[str, Any]
Figures = dict[str, Any]

RUN_DEADLINE_S = 600.0  # generous: a run that needs it is broken, not slow
_PYTEST_TIMEOUT_S = 120.0


# -- one run of each design ----------------------------------------------------------


async def run_codeframe(
    ws: Workspace,
    concurrency: int,
    client: Any,
    runner: Any,
    recorder: BroadcastRecorder,
    *,
    isolation: Isolation = "shared",
) -> Figures:
    """codeframe's design: ``LeadAgent`` with ``max_agents = C`` on this event loop."""
    lead = LeadAgent(
        ws.project_id,
        ws.db,
        ws_manager=recorder,
        client=client,
        project_root=ws.root,
        max_agents=concurrency,
        test_runner=runner,
        isolation=isolation,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    children = _children_cpu()
    summary = await lead.start_multi_agent_execution(
        max_retries=0, max_concurrent=concurrency, timeout=RUN_DEADLINE_S
    )
    figures = _run_figures(ws, wall, cpu, summary["completed"], recorder)
    figures["children_cpu_s"] = _children_cpu() - children  # git, in worktree mode
    return figures


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run_seed(
    ws: Workspace, concurrency: int, client: Any, runner: Any, recorder: BroadcastRecorder
) -> Figures:
    """The seed's design: sync workers in a ``ThreadPoolExecutor(max_workers=C)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    counts = await run_threaded(
        ws.db,
        ws.project_id,
        ws.root,
        client=client,
        runner=runner,
        ws_manager=recorder,
        max_workers=concurrency,
        timeout=RUN_DEADLINE_S,
    )
    return _run_figures(ws, wall, cpu, counts.get("completed", 0), recorder)


def _run_figures(
    ws: Workspace, wall: float, cpu: float, completed: int, recorder: BroadcastRecorder
) -> Figures:
    # Read before anything else runs, so the figures cover the run alone.
    wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    if completed != ws.n_tasks:
        raise RuntimeError(f"only {completed} of {ws.n_tasks} tasks completed")
    return {
        "tasks": ws.n_tasks,
        "completed": completed,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "settle_gc_s": ws.settle_gc_s,
        "events": dict(Counter(recorder.types())),
        "test_statuses": dict(Counter(m["status"] for m in recorder.of_type("test_result"))),
    }


# -- scenarios -----------------------------------------------------------------------


def async_run(p: Params) -> Figures:
    """params: n, c, latency (s), tmp_dir — offline client, tests off, a recorder attached."""
    with workspace(p["n"], p.get("tmp_dir")) as ws:
        client = ScriptedClient(default=note_reply, latency=p["latency"])
        return asyncio.run(
            run_codeframe(ws, p["c"], client, FixedResultRunner(), BroadcastRecorder())
        )


def async_worktree_run(p: Params) -> Figures:
    """:func:`async_run` with the project a git repository and each task in a worktree."""
    with workspace(p["n"], p.get("tmp_dir"), git=True) as ws:
        client = ScriptedClient(default=note_reply, latency=p["latency"])
        figures = asyncio.run(
            run_codeframe(
                ws, p["c"], client, FixedResultRunner(), BroadcastRecorder(), isolation="worktree"
            )
        )
        commits = figures["events"].get("commit_created", 0)
        if commits != ws.n_tasks:
            raise RuntimeError(f"{commits} commits, not {ws.n_tasks}")
        return figures


def thread_run(p: Params) -> Figures:
    """The same workload as :func:`async_run` through the thread-pool design."""
    with workspace(p["n"], p.get("tmp_dir")) as ws:
        client = SyncScriptedClient(note_reply, latency=p["latency"])
        return asyncio.run(run_seed(ws, p["c"], client, InstantRunner(), BroadcastRecorder()))


def async_memory(p: Params) -> Figures:
    """params: c, trace (bool), tmp_dir — N = C tasks, all held in flight at once."""
    size = p["c"]
    probe = MemoryProbe(trace=p["trace"])
    with workspace(size, p.get("tmp_dir")) as ws:
        gate = AsyncGate(size, probe.take)
        client = GatedClient(ScriptedClient(default=note_reply), gate)
        probe.start()
        try:
            asyncio.run(run_codeframe(ws, size, client, FixedResultRunner(), BroadcastRecorder()))
        finally:
            probe.stop()
    return probe.figures(size)


def thread_memory(p: Params) -> Figures:
    """The same as :func:`async_memory` with C pool threads each blocked in its call."""
    size = p["c"]
    probe = MemoryProbe(trace=p["trace"])
    with workspace(size, p.get("tmp_dir")) as ws:
        gate = ThreadGate(size, probe.take)
        client = SyncScriptedClient(note_reply, before_reply=gate.wait)
        probe.start()
        try:
            asyncio.run(run_seed(ws, size, client, InstantRunner(), BroadcastRecorder()))
        finally:
            probe.stop()
    return probe.figures(size)


async def _with_monitor(tick: float, run: Callable[[], Any]) -> Figures:
    async with monitoring(LagMonitor(tick)) as monitor:
        figures = await run()
    return {**figures, **monitor.figures()}


def async_lag(p: Params) -> Figures:
    """params: n, c, tick (s), tmp_dir — a one-test project whose suite really runs per task."""
    tick = p.get("tick", DEFAULT_TICK_S)
    with workspace(p["n"], p.get("tmp_dir"), real_tests=True) as ws:
        runner = TestRunner(ws.root, timeout=_PYTEST_TIMEOUT_S, plugin_autoload=False)
        client = ScriptedClient(default=note_reply)
        return asyncio.run(_with_monitor(
            tick, lambda: run_codeframe(ws, p["c"], client, runner, BroadcastRecorder())
        ))  # fmt: skip


def thread_lag(p: Params) -> Figures:
    """The same as :func:`async_lag` with blocking pytest runs in the pool's threads."""
    tick = p.get("tick", DEFAULT_TICK_S)
    with workspace(p["n"], p.get("tmp_dir"), real_tests=True) as ws:
        runner = SubprocessRunner(ws.root, timeout=_PYTEST_TIMEOUT_S)
        client = SyncScriptedClient(note_reply)
        return asyncio.run(_with_monitor(
            tick, lambda: run_seed(ws, p["c"], client, runner, BroadcastRecorder())
        ))  # fmt: skip


def async_broadcast(p: Params) -> Figures:
    """params: senders, per_sender — codeframe's awaited broadcasts, all agents sending."""
    return broadcast_latency("async", p["senders"], p["per_sender"])


def thread_broadcast(p: Params) -> Figures:
    """The same through the seed's ``run_coroutine_threadsafe(...).result()`` from threads."""
    return broadcast_latency("thread", p["senders"], p["per_sender"])


def agent_creation(p: Params) -> Figures:
    """params: agents, rounds, tmp_dir — LeadAgent, create_agent, acquire, a live client."""
    return measure_agent_creation(p["agents"], p["rounds"], p.get("tmp_dir"))


def profile(p: Params) -> Figures:
    """params: n, c, tmp_dir — :func:`async_run` at zero latency under cProfile."""
    n = p["n"]
    profiler = cProfile.Profile()
    with workspace(n, p.get("tmp_dir")) as ws:
        client = ScriptedClient(default=note_reply)
        profiler.enable()
        try:
            figures = asyncio.run(
                run_codeframe(ws, p["c"], client, FixedResultRunner(), BroadcastRecorder())
            )
        finally:
            profiler.disable()
    return {"profiled_cpu_per_task_us": figures["cpu_s"] / n * 1e6, **top_costs(profiler, n)}


def _cpu_times() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def storage_split(p: Params) -> Figures:
    """params: n, c, tmp_dir — :func:`async_run` at zero latency with SQLite's calls and each
    file's creation timed (:mod:`benchmarks.storage_split`), and user and kernel CPU."""
    n = p["n"]
    with workspace(n, p.get("tmp_dir")) as ws:
        client = ScriptedClient(default=note_reply)
        user, system = _cpu_times()
        with timing_storage() as spent:
            figures = asyncio.run(
                run_codeframe(ws, p["c"], client, FixedResultRunner(), BroadcastRecorder())
            )
        user_after, system_after = _cpu_times()
    # Every task's file but the first is created by create_alone: the first task's folder
    # does not exist yet, so that one is a journaled group (counted in the rest).
    if spent.files_created < n - 1:
        raise RuntimeError(
            f"only {spent.files_created} of {n} files were created where they are timed"
        )
    figures.update(user_s=user_after - user, system_s=system_after - system)
    figures.update(spent.figures())
    return figures


SCENARIOS: dict[str, Callable[[Params], Figures]] = {
    "async_run": async_run,
    "async_worktree_run": async_worktree_run,
    "thread_run": thread_run,
    "async_memory": async_memory,
    "thread_memory": thread_memory,
    "async_lag": async_lag,
    "thread_lag": thread_lag,
    "async_broadcast": async_broadcast,
    "thread_broadcast": thread_broadcast,
    "agent_creation": agent_creation,
    "profile": profile,
    "storage_split": storage_split,
}


def _io_pressure() -> float | None:
    """Linux's share of the last 10 s some task waited for I/O (%), ``None`` elsewhere."""
    try:
        with open("/proc/pressure/io", encoding="ascii") as pressure:
            first = pressure.readline().split()
    except OSError:
        return None
    return float(first[1].split("=")[1]) if len(first) > 1 else None


def run_scenario(name: str, params: Params) -> Figures:
    """Run one scenario in this process; its figures plus this process's peak RSS."""
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise ValueError(f"unknown scenario {name!r}; expected one of: {known}") from None
    figures = scenario(params)
    figures["peak_rss_bytes"] = peak_rss()
    # The machine's load as the scenario ended: figures are read against it.
    figures["load_1min"] = os.getloadavg()[0]
    figures["io_pressure_pct"] = _io_pressure()
    return figures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m benchmarks.scenarios <name> '<json params>'\n")
        return 2
    figures = run_scenario(args[0], json.loads(args[1]))
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
