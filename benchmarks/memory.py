"""Memory per in-flight task: hold every Claude call until all C are waiting, then measure.

A fixed latency only makes it *likely* that all tasks overlap; a gate makes it certain and
lets the reading be taken at the one moment when exactly C tasks are in flight. The gate
sits in the client, so each task has done everything that precedes its Claude call (status
writes, events, context, prompt) and holds all it keeps while waiting for the answer.
"""

from __future__ import annotations

import asyncio
import threading
import tracemalloc
from collections.abc import Callable
from typing import Any

from benchmarks.profiling import short_path
from benchmarks.workload import current_rss

_TOP_SITES = 6


class MemoryProbe:
    """RSS (and, with ``trace``, the Python heap via tracemalloc) at start and at the gate."""

    def __init__(self, *, trace: bool) -> None:
        self.trace = trace
        self.rss_before = self.rss_full = 0
        self.heap_before = self.heap_full = 0
        self.sites: list[tuple[str, int]] = []
        self.taken = False
        self._owns_tracing = False

    def start(self) -> None:
        if self.trace:
            # Someone (``-X tracemalloc``) may trace already; then leave their tracing be.
            self._owns_tracing = not tracemalloc.is_tracing()
            if self._owns_tracing:
                tracemalloc.start()
            self.heap_before = tracemalloc.get_traced_memory()[0]
        self.rss_before = current_rss()

    def take(self) -> None:
        """Read everything now: every task is in flight."""
        self.rss_full = current_rss()
        if self.trace:
            self.heap_full = tracemalloc.get_traced_memory()[0]
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            self.sites = [
                (stat.traceback[0].filename, stat.size)
                for stat in snapshot.statistics("filename")[:_TOP_SITES]
            ]
        self.taken = True

    def stop(self) -> None:
        if self._owns_tracing:
            tracemalloc.stop()
            self._owns_tracing = False

    def figures(self, in_flight: int) -> dict[str, Any]:
        if not self.taken:
            raise RuntimeError("the gate never filled, so nothing was measured")
        figures: dict[str, Any] = {
            "in_flight": in_flight,
            "rss_growth_bytes": self.rss_full - self.rss_before,
            "rss_per_task_bytes": (self.rss_full - self.rss_before) / in_flight,
        }
        if self.trace:
            figures["heap_per_task_bytes"] = (self.heap_full - self.heap_before) / in_flight
            figures["top_sites"] = [
                {"file": short_path(name), "per_task_bytes": size / in_flight}
                for name, size in self.sites
            ]
        return figures


class AsyncGate:
    """Holds each caller until ``size`` have arrived; the last one runs ``on_full`` first."""

    def __init__(self, size: int, on_full: Callable[[], None], timeout: float = 60.0) -> None:
        self.size = size
        self.on_full = on_full
        self.timeout = timeout
        self.arrived = 0
        self._open = asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived == self.size:
            self.on_full()
            self._open.set()
        try:
            async with asyncio.timeout(self.timeout):
                await self._open.wait()
        except TimeoutError:
            raise RuntimeError(
                f"only {self.arrived} of {self.size} calls were ever in flight at once"
            ) from None


class GatedClient:
    """A client whose ``messages.create`` passes the gate, then asks the wrapped client."""

    def __init__(self, inner: Any, gate: AsyncGate) -> None:
        self.inner = inner
        self.gate = gate
        self.messages = self

    async def create(self, **kwargs: Any) -> Any:
        await self.gate.wait()
        return await self.inner.messages.create(**kwargs)

    async def close(self) -> None:
        await self.inner.close()


class ThreadGate:
    """The thread twin of :class:`AsyncGate`, for the thread-pool baseline's blocking client."""

    def __init__(self, size: int, on_full: Callable[[], None], timeout: float = 60.0) -> None:
        self.size = size
        self.on_full = on_full
        self.timeout = timeout
        self.arrived = 0
        self._lock = threading.Lock()
        self._open = threading.Event()

    def wait(self) -> None:
        with self._lock:
            self.arrived += 1
            full = self.arrived == self.size
        if full:
            self.on_full()
            self._open.set()
        elif not self._open.wait(self.timeout):
            raise RuntimeError(
                f"only {self.arrived} of {self.size} calls were ever in flight at once"
            )


__all__ = ["AsyncGate", "GatedClient", "MemoryProbe", "ThreadGate"]
