"""Faults at a chosen step of a run: the k-th event, model call, test run or database call.

An :class:`Injector` counts the steps of each *site* as they happen and, at the planned
one, acts: cancels the run's task (as the Stop button and ``task.cancel()`` do), raises
``KeyboardInterrupt`` right there (as Python's default SIGINT handler does in a kernel),
or asks the panel to stop. Wrappers around the run's four seams feed it:
:class:`CountingTarget` (broadcasts), :class:`FaultyClient` (``messages.create``),
:class:`FaultyRunner` (``run_tests``) and :class:`FaultyStore` (every database method).

A dry run with no plan counts each site's steps; a sweep then plans one fault per step.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from codeframe.core.models import TestResult

SITES = ("event", "call", "tests", "db")

#: What a fault may do at each site. "during" cancels once the step is under way (a model
#: call waiting, pytest running); "after" interrupts once the step has completed.
ACTIONS: dict[str, tuple[str, ...]] = {
    "event": ("cancel", "interrupt", "stop"),
    "call": ("cancel", "cancel-during", "interrupt", "interrupt-after"),
    "tests": ("cancel", "cancel-during", "interrupt", "interrupt-after"),
    "db": ("cancel", "interrupt", "interrupt-after"),
}


@dataclass(frozen=True)
class Fault:
    site: str
    step: int  # 1-based: the step-th call at that site
    action: str
    delay: float = 0.0  # for "cancel-during": how long after the step starts

    def __str__(self) -> str:
        extra = f" +{self.delay * 1000:.0f}ms" if self.action == "cancel-during" else ""
        return f"{self.site} {self.step} {self.action}{extra}"

    @property
    def cancels(self) -> bool:
        return self.action.startswith(("cancel", "stop"))


class Injector:
    """Counts steps per site; at the planned one, does what the fault says."""

    def __init__(self, fault: Fault | None = None) -> None:
        self.fault = fault
        self.counts: Counter[str] = Counter()
        self.fired = False
        self.run_task: asyncio.Task[Any] | None = None
        self.stop: Callable[[], Any] | None = None  # the panel's stop, when there is one
        self.stopper: asyncio.Future[Any] | None = None
        self.landed = False  # whether a cancel found the run still running
        self.names: list[str] = []  # what each db step was, for the case's description

    def _due(self, site: str) -> bool:
        fault = self.fault
        return (
            fault is not None
            and not self.fired
            and fault.site == site
            and self.counts[site] == fault.step
        )

    def before(self, site: str, what: str = "") -> str | None:
        """Count a step; act now if the fault is due before it. Returns a deferred action."""
        self.counts[site] += 1
        if site == "db":
            self.names.append(what)
        if not self._due(site):
            return None
        assert self.fault is not None
        self.fired = True
        action = self.fault.action
        if action == "interrupt":
            raise KeyboardInterrupt(f"injected at {self.fault}")
        if action == "cancel":
            self._cancel()
            return None
        if action == "stop":
            if self.stop is None:
                self._cancel()  # no panel in this case: a stop is a cancel
            else:
                self.landed = self.run_task is not None and not self.run_task.done()
                self.stopper = asyncio.ensure_future(self.stop())
            return None
        return action  # "cancel-during" and "interrupt-after" act around the step

    def _cancel(self) -> None:
        if self.run_task is not None:
            self.landed = not self.run_task.done()
            self.run_task.cancel()

    def cancel_later(self, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self._cancel)

    def after(self, deferred: str | None) -> None:
        """Called once the step ended, however it ended: an interrupt due now is raised."""
        if deferred == "interrupt-after":
            raise KeyboardInterrupt(f"injected after {self.fault}")

    def label(self) -> str:
        """The fault, with the database method it hit."""
        fault = self.fault
        if fault is None:
            return "no fault"
        if fault.site == "db" and fault.step <= len(self.names):
            return f"db {fault.step} ({self.names[fault.step - 1]}) {fault.action}"
        return str(fault)


class CountingTarget:
    """A broadcast target that counts events for the injector and passes them on."""

    broadcast_timeout = None  # it never waits

    def __init__(self, injector: Injector, targets: Sequence[Any]) -> None:
        self.injector = injector
        self.targets = list(targets)

    async def broadcast(self, message: dict[str, Any]) -> None:
        deferred = self.injector.before("event")
        try:
            for target in self.targets:
                await target.broadcast(message)
        finally:
            self.injector.after(deferred)


class _Messages:
    def __init__(self, client: FaultyClient) -> None:
        self._client = client

    async def create(self, **kwargs: Any) -> Any:
        return await self._client._create(kwargs)


class FaultyClient:
    """A model client (any ``messages.create``) with the injector at each call."""

    offline = True  # it wraps offline clients only: its calls cost nothing

    def __init__(self, inner: Any, injector: Injector) -> None:
        self.inner = inner
        self.injector = injector
        self.messages = _Messages(self)

    async def _create(self, kwargs: dict[str, Any]) -> Any:
        deferred = self.injector.before("call")
        if deferred == "cancel-during":
            self.injector.cancel_later(self.injector.fault.delay if self.injector.fault else 0)
            await asyncio.sleep(0.05)  # a call in flight: the cancel lands while it waits
        try:
            return await self.inner.messages.create(**kwargs)
        finally:
            # Due now, an interrupt lands however the call ended (it replaces an error).
            self.injector.after(deferred)

    async def close(self) -> None:
        """Nothing of ours to release (the inner client is the caller's)."""


class FaultyRunner:
    """A test runner with the injector at each run."""

    def __init__(self, inner: Any, injector: Injector) -> None:
        self.inner = inner
        self.injector = injector

    async def run_tests(self, test_paths: Sequence[str] | None = None) -> TestResult:
        deferred = self.injector.before("tests")
        if deferred == "cancel-during":
            self.injector.cancel_later(self.injector.fault.delay if self.injector.fault else 0)
        try:
            result: TestResult = await self.inner.run_tests(test_paths)
        finally:
            self.injector.after(deferred)
        return result


class FaultyStore:
    """The database, with the injector at every public method call.

    The calls are synchronous, so a cancel planned here lands at the run's next await, and
    an interrupt lands inside the step, before the call or once it has committed.
    """

    def __init__(self, db: Any, injector: Injector) -> None:
        self._db = db
        self._injector = injector

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._db, name)
        if name.startswith("_") or not callable(value):
            return value
        injector = self._injector

        def call(*args: Any, **kwargs: Any) -> Any:
            deferred = injector.before("db", name)
            try:
                return value(*args, **kwargs)
            finally:
                injector.after(deferred)

        return call


class InterruptingStore:
    """The database, raising ``KeyboardInterrupt`` at the first call of ``method`` that
    ``when(*args)`` accepts: before the call, or (``after``) once it has committed."""

    def __init__(
        self,
        db: Any,
        method: str,
        *,
        after: bool,
        when: Callable[..., bool] = lambda *args: True,
    ) -> None:
        self._db = db
        self._method = method
        self._after = after
        self._when = when
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._db, name)
        if name != self._method:
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            due = not self.fired and self._when(*args)
            if due and not self._after:
                self.fired = True
                raise KeyboardInterrupt(f"injected before {name}")
            result = value(*args, **kwargs)
            if due:
                self.fired = True
                raise KeyboardInterrupt(f"injected after {name}")
            return result

        return call
