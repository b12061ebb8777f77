"""The seed design's own performance claims, measured: agent creation and broadcast latency.

    .venv/bin/python -m benchmarks.seed_claims

* **Agent creation** (seed: "< 100 ms"): ``LeadAgent(...)`` construction, then per agent
  ``AgentPoolManager.create_agent`` (the worker object) and ``await pool.acquire`` (creation,
  reservation and the ``agent_created`` event). Workers get their Claude client on first
  use; what building a live ``anthropic.AsyncAnthropic`` costs is measured on its own (a
  placeholder key, no network), since the seed made one per agent.
* **Broadcast latency** (seed: "should decrease" with asyncio): the time from an agent's
  broadcast call to the target receiving the message. codeframe's agents await the target's
  coroutine on the loop (:class:`~codeframe.ui.websocket_broadcasts.Emitter`); the seed's
  pool threads hand it to the loop with ``asyncio.run_coroutine_threadsafe(...).result()``
  (:class:`benchmarks.thread_baseline.LoopBridge`). C senders broadcast at once, as C busy
  agents do, each yielding (a coroutine) or doing nothing (a thread) between sends.
"""

from __future__ import annotations

import asyncio
import contextvars
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.thread_baseline import LoopBridge
from benchmarks.workload import workspace
from codeframe.agents.lead_agent import LeadAgent
from codeframe.llm import ScriptedClient
from codeframe.llm.live import live_client
from codeframe.testing.fixed_runner import FixedResultRunner
from codeframe.ui.events import TaskStatusChanged
from codeframe.ui.websocket_broadcasts import BroadcastRecorder, Emitter, Message, deliver

Figures = dict[str, Any]

# Not a key: building a client reads no network, so any text of a key's shape will do.
_PLACEHOLDER_KEY = "sk-ant-benchmark-placeholder-not-a-key"

# When the message being delivered was sent: set by the sender, read by the target.
_SENT_AT: contextvars.ContextVar[float] = contextvars.ContextVar("sent_at")


def _percentiles(samples: list[float]) -> Figures:
    ordered = sorted(samples)
    return {
        "median_us": statistics.median(ordered) * 1e6,
        "p99_us": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
        "samples": len(ordered),
    }


# -- agent creation --------------------------------------------------------------------


def agent_creation(agents: int, rounds: int, tmp_dir: str | None) -> Figures:
    """Median µs of ``LeadAgent(...)``, ``create_agent`` and ``acquire``; live client build."""
    with workspace(0, tmp_dir) as ws:
        leads, creates, acquires = [], [], []

        def lead() -> LeadAgent:
            started = time.perf_counter()
            made = LeadAgent(
                ws.project_id,
                ws.db,
                ws_manager=BroadcastRecorder(),
                client=ScriptedClient(default={"files": [], "explanation": ""}),
                project_root=ws.root,
                max_agents=agents,
                test_runner=FixedResultRunner(),
            )
            leads.append(time.perf_counter() - started)
            return made

        async def acquire_all(pool: Any) -> None:
            for _ in range(agents):
                started = time.perf_counter()
                await pool.acquire("backend")
                acquires.append(time.perf_counter() - started)

        for _ in range(rounds):
            pool = lead().agent_pool_manager
            for _ in range(agents):
                started = time.perf_counter()
                pool.create_agent("backend")
                creates.append(time.perf_counter() - started)
            asyncio.run(acquire_all(lead().agent_pool_manager))
        return {
            "lead_agent_us": statistics.median(leads) * 1e6,
            "create_agent_us": statistics.median(creates) * 1e6,
            "acquire_us": statistics.median(acquires) * 1e6,
            "live_client_us": _live_client_us(rounds),
            "agents": agents,
            "rounds": rounds,
        }


def _live_client_us(count: int) -> float:
    """Median µs to build a live ``AsyncAnthropic`` (closed again; nothing is sent)."""

    async def build_all() -> list[float]:
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            client = live_client(_PLACEHOLDER_KEY)
            samples.append(time.perf_counter() - started)
            await client.close()
        return samples

    return statistics.median(asyncio.run(build_all())) * 1e6


# -- broadcast latency -----------------------------------------------------------------


class StampingTarget:
    """A broadcast target that records how long each message took to reach it."""

    broadcast_timeout = None  # appending to a list never waits, as BroadcastRecorder's

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.received = 0

    async def broadcast(self, message: Message) -> None:
        self.latencies.append(time.perf_counter() - _SENT_AT.get())
        self.received += 1


def _event(sender: int, n: int) -> TaskStatusChanged:
    return TaskStatusChanged(1, n, "in_progress", f"backend-{sender}", 50, task_title="a task")


async def broadcast_async(senders: int, per_sender: int) -> Figures:
    """codeframe's design: C coroutines, each awaiting its emitter for every event."""
    target = StampingTarget()
    emitter = Emitter(target, 1)

    async def agent(sender: int) -> None:
        for n in range(per_sender):
            event = _event(sender, n)
            _SENT_AT.set(time.perf_counter())
            await emitter(event)
            await asyncio.sleep(0)  # the agent's other work between two events

    await asyncio.gather(*(agent(s) for s in range(senders)))
    return {**_percentiles(target.latencies), "senders": senders}


async def broadcast_threads(senders: int, per_sender: int) -> Figures:
    """The seed's design: C pool threads, each handing every event to the loop and waiting."""
    target = StampingTarget()
    bridge = LoopBridge(asyncio.get_running_loop(), target)

    async def stamped(manager: Any, sent_at: float, event: TaskStatusChanged) -> None:
        _SENT_AT.set(sent_at)  # in the task the loop runs this in
        await deliver(manager, event)

    def agent(sender: int) -> None:
        for n in range(per_sender):
            event = _event(sender, n)
            bridge.send(stamped, time.perf_counter(), event)

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=senders, thread_name_prefix="seed-sender") as pool:
        await asyncio.gather(*(loop.run_in_executor(pool, agent, s) for s in range(senders)))
    assert target.received == senders * per_sender
    return {**_percentiles(target.latencies), "senders": senders}


def broadcast_latency(design: str, senders: int, per_sender: int) -> Figures:
    run = broadcast_async if design == "async" else broadcast_threads
    return asyncio.run(run(senders, per_sender))


def main() -> None:
    """A quick look at both claims; ``make bench`` runs them as scenarios."""
    with tempfile.TemporaryDirectory() as folder:
        print(agent_creation(50, 3, folder))
    for design in ("async", "thread"):
        print(design, broadcast_latency(design, 50, 200))


if __name__ == "__main__":
    main()
