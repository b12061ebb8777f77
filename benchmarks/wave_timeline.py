"""Where an efficiency run's wall time goes beyond the ideal ⌈N/C⌉·L, call by call.

The efficiency workload (N one-file tasks, C workers, a model that answers after L seconds,
tests off), with every model call's start and end recorded. The wall time splits into

* the **lead-in**: from the start of the run to its first model call;
* the ideal ⌈N/C⌉·L, plus each wave's **drift**: how much later than L after the previous
  wave's first call the next wave's first call starts;
* the **spread** of the last wave: its calls start one after another as the loop gets to
  them, about C·c apart in all (c: one task's CPU), and the run waits for the last;
* the **tail**: from the last call's end to the end of the run;
* and what is **other**: mostly the last call's own time beyond L (its reply is built).

::

    .venv/bin/python -m benchmarks.wave_timeline [-n 500] [-c 50] [--latency 0.2]
        [--tmp-dir /dev/shm] [--runs 3]

Run it from the repository root so it imports this checkout's ``codeframe``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.scenarios import run_codeframe
from benchmarks.workload import ideal_wall, note_reply, workspace
from codeframe.llm import ScriptedClient
from codeframe.testing.fixed_runner import FixedResultRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder


@dataclass(slots=True)
class _TimedMessages:
    inner: Any
    calls: list[tuple[float, float]] = field(default_factory=list)

    async def create(self, **kwargs: Any) -> Any:
        started = time.perf_counter()
        reply = await self.inner.create(**kwargs)
        self.calls.append((started, time.perf_counter()))
        return reply


class TimedClient:
    """A :class:`ScriptedClient` whose calls are timed (priced as offline, like it)."""

    offline = True

    def __init__(self, latency: float) -> None:
        self.scripted = ScriptedClient(default=note_reply, latency=latency)
        self.messages = _TimedMessages(self.scripted.messages)

    async def close(self) -> None:
        await self.scripted.close()


def decompose(
    calls: Sequence[tuple[float, float]], began: float, ended: float, c: int, latency: float
) -> dict[str, Any]:
    """The parts of one run's wall time (seconds), from its calls' (start, end) times."""
    starts = sorted(start for start, _ in calls)
    waves = [starts[i : i + c] for i in range(0, len(starts), c)]
    drift = [later[0] - earlier[0] - latency for earlier, later in itertools.pairwise(waves)]
    return {
        "wall_s": ended - began,
        "lead_in_s": starts[0] - began,
        "drift_s": drift,
        "spreads_s": [wave[-1] - wave[0] for wave in waves],
        "tail_s": ended - max(end for _, end in calls),
    }


def measure(n: int, c: int, latency: float, tmp_dir: str | None) -> dict[str, Any]:
    with workspace(n, tmp_dir) as ws:
        client = TimedClient(latency)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        began = time.perf_counter()
        asyncio.run(run_codeframe(ws, c, client, FixedResultRunner(), BroadcastRecorder()))
        ended = time.perf_counter()
        after = resource.getrusage(resource.RUSAGE_SELF)
    parts = decompose(client.messages.calls, began, ended, c, latency)
    parts["cpu_per_task_s"] = (
        after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    ) / n
    parts["efficiency"] = ideal_wall(n, c, latency) / parts["wall_s"]
    return parts


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="tasks (default 500)")
    parser.add_argument("-c", type=int, default=50, help="concurrent workers (default 50)")
    parser.add_argument("--latency", type=float, default=0.2, help="model latency, s")
    parser.add_argument("--tmp-dir", help="where the project and database are made")
    parser.add_argument("--runs", type=int, default=3, help="runs, one after another")
    args = parser.parse_args(argv)
    ideal = ideal_wall(args.n, args.c, args.latency)
    print(f"ideal {_ms(ideal)} ms · load {os.getloadavg()[0]:.2f}")
    for _ in range(args.runs):
        p = measure(args.n, args.c, args.latency, args.tmp_dir)
        spreads = p["spreads_s"]
        accounted = p["lead_in_s"] + sum(p["drift_s"]) + spreads[-1] + p["tail_s"]
        print(
            f"efficiency {p['efficiency']:.3f}: wall {_ms(p['wall_s'])} ms = ideal "
            f"+ lead-in {_ms(p['lead_in_s'])} + drift {_ms(sum(p['drift_s']))} "
            f"(median {_ms(statistics.median(p['drift_s']))} per wave) "
            f"+ last wave's spread {_ms(spreads[-1])} + tail {_ms(p['tail_s'])} "
            f"+ other {_ms(p['wall_s'] - ideal - accounted)}; "
            f"CPU per task {p['cpu_per_task_s'] * 1e3:.2f} ms "
            f"(C·c = {_ms(args.c * p['cpu_per_task_s'])} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
