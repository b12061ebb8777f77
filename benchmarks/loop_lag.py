"""Event-loop lag: how late a coroutine that only sleeps wakes up while work runs around it.

Anything that holds the loop — a blocking call, a long stretch of CPU, a thread holding the
GIL — shows up as a late wake-up. The target bounds the worst one at 20 ms while workers run
real pytest subprocesses.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

DEFAULT_TICK_S = 0.005


class LagMonitor:
    """Sleeps ``tick`` seconds again and again, recording each wake-up's delay."""

    def __init__(self, tick: float = DEFAULT_TICK_S) -> None:
        self.tick = tick
        self.lags: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.tick
            await asyncio.sleep(self.tick)
            self.lags.append(max(0.0, loop.time() - expected))

    def figures(self) -> dict[str, Any]:
        """Worst, p99 and median lag in ms, and how many wake-ups were over 20 ms."""
        if not self.lags:
            raise RuntimeError("the lag monitor recorded nothing; did the loop ever run it?")
        lags = sorted(self.lags)
        # "inclusive" keeps the p99 within the samples; the default extrapolates past the max.
        p99 = lags[0]
        if len(lags) > 1:
            p99 = statistics.quantiles(lags, n=100, method="inclusive")[98]
        return {
            "samples": len(lags),
            "max_ms": lags[-1] * 1e3,
            "p99_ms": p99 * 1e3,
            "median_ms": statistics.median(lags) * 1e3,
            "over_20ms": sum(1 for lag in lags if lag > 0.020),
        }


@asynccontextmanager
async def monitoring(monitor: LagMonitor) -> AsyncIterator[LagMonitor]:
    """Run ``monitor`` for the duration of the block; it is cancelled and awaited after."""
    task = asyncio.create_task(monitor.run(), name="loop-lag-monitor")
    try:
        yield monitor
    finally:
        task.cancel()
        # gather(return_exceptions=True) absorbs only the monitor's own cancellation; if we
        # are cancelled while waiting here, that cancellation still propagates.
        await asyncio.gather(task, return_exceptions=True)


__all__ = ["DEFAULT_TICK_S", "LagMonitor", "monitoring"]
