"""Warm test runs: pre-started helpers that fork a fresh pytest for every run.

A helper (:mod:`codeframe.testing.child.forkserver`) is started per interpreter, project
root, child environment and plugin choice, imports pytest and those plugins once, and then
forks a supervised run per request, which saves pytest's start-up (about a second with
every plugin of a full environment) on every run after the first. It never reuses a pytest
session: each run is a fresh fork that runs pytest exactly as a cold run's process does.

Helpers are shared by every runner in this process with the same key, and bounded: at most
:data:`MAX_HELPERS` live at once (the least recently used idle one makes room), and each
exits by itself after :data:`IDLE_SECONDS` without a run, when its runners close it
(``TestRunner.aclose``), or when this process exits or dies (it watches us through a pidfd
and its control socket). When a helper refuses a run (the project's pytest configuration,
its conftest files or the installed packages changed, or its warm-up failed), dies, or is
busy, the run goes cold and a fresh helper is started after it for the next run.

The helper is started with plain ``subprocess.Popen`` rather than through the event loop,
because it outlives any one run (and any one loop): the spawn is the same vfork asyncio
would do, and nothing here waits on the helper except through the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeframe.testing.child import ENTRY_PATH, FORKSERVER_PATH, REAPER_PATH
from codeframe.testing.output import OutputTail
from codeframe.testing.supervision import RunHandle, open_run

logger = logging.getLogger(__name__)

WARM_SUPPORTED = sys.platform.startswith("linux") and hasattr(socket, "send_fds")
MAX_HELPERS = 4
IDLE_SECONDS = 300.0
# After a helper's warm-up failed, runs with that key stay cold this long before a retry.
_RETRY_AFTER = 60.0
_EXIT_TIMEOUT = 5.0

# Runs the fork server by path: nothing is added to the helper's sys.path or sys.modules.
_LOADER = (
    "import sys; path = sys.argv[1]; namespace = {'__name__': '__codeframe_forkserver__'}; "
    "exec(compile(open(path, 'rb').read(), path, 'exec'), namespace); "
    "namespace['main'](sys.argv[1:])"
)


@dataclass(frozen=True, slots=True)
class HelperKey:
    """What a helper's warm state depends on: runs with another key need another helper."""

    python: str
    root: str
    env: tuple[tuple[str, str], ...]
    preload: tuple[str, ...]

    @classmethod
    def of(
        cls, python: str, root: Path, env: Mapping[str, str], preload: tuple[str, ...]
    ) -> HelperKey:
        return cls(python, str(root.resolve()), tuple(sorted(env.items())), preload)


class Helper:
    """One helper process and the agent's end of its control socket."""

    def __init__(self, key: HelperKey, process: subprocess.Popen[bytes], control: socket.socket):
        self.key = key
        self.process = process
        self.control = control
        self.in_flight = 0
        self.served = 0
        self.last_used = time.monotonic()
        self.users: weakref.WeakSet[Any] = weakref.WeakSet()
        self.retired = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return not self.retired and self.process.poll() is None

    def retire(self) -> None:
        """Close our end: the helper finishes the runs it has, then exits."""
        if not self.retired:
            self.retired = True
            self.control.close()

    def send(self, request: dict[str, Any], fds: list[int]) -> bool:
        """Hand the helper a run; False if it cannot take it now (dead, or not reading)."""
        try:
            socket.send_fds(self.control, [json.dumps(request).encode()], fds)
        except OSError as exc:
            logger.debug("warm helper %d cannot take a run: %s", self.pid, exc)
            return False
        self.last_used = time.monotonic()
        return True


class HelperPool:
    """The live helpers of this process, at most ``limit`` of them."""

    def __init__(self) -> None:
        self._helpers: dict[HelperKey, Helper] = {}
        self._retired: list[Helper] = []  # kept until reaped: a Popen must not be dropped alive
        self._failed: dict[HelperKey, float] = {}
        self._lock = threading.Lock()  # loops in several threads may share the pool

    def helper_for(
        self, key: HelperKey, env: Mapping[str, str], owner: object
    ) -> tuple[Helper | None, str]:
        """The live helper for ``key``, started if needed; or None and why the run goes cold.

        A helper found dead is not replaced at once: that run goes cold (its replacement
        would have to warm up first) and the caller starts one after it.
        """
        with self._lock:
            helper = self._helpers.get(key)
            if helper is not None and not helper.alive:
                self._retire(helper)
                return None, f"warm helper {helper.pid} has died"
            self._prune()
            if helper is None:
                if time.monotonic() < self._failed.get(key, 0.0):
                    return None, "a warm helper failed recently for this interpreter and project"
                if not self._make_room():
                    return None, f"all {MAX_HELPERS} warm helpers are busy"
                helper = _spawn(key, env)
                if helper is None:
                    self._failed[key] = time.monotonic() + _RETRY_AFTER
                    return None, "a warm helper cannot be started"
                self._helpers[key] = helper
            helper.users.add(owner)
            return helper, ""

    def retire(self, helper: Helper, *, failed: bool = False) -> None:
        with self._lock:
            self._retire(helper)
            if failed:
                self._failed[helper.key] = time.monotonic() + _RETRY_AFTER

    async def release(self, owner: object) -> None:
        """``owner`` is done with its helpers: close the ones nobody else uses, and wait."""
        closing = []
        with self._lock:
            for helper in list(self._helpers.values()):
                helper.users.discard(owner)
                if not helper.users:
                    self._retire(helper)
                    if helper.in_flight == 0:
                        closing.append(helper)
        for helper in closing:
            await wait_exit(helper.process)
        with self._lock:
            self._prune()

    def pids_for(self, owner: object) -> list[int]:
        """The pids of the live helpers ``owner`` uses."""
        with self._lock:
            self._prune()
            return sorted(helper.pid for helper in self._helpers.values() if owner in helper.users)

    def live_pids(self) -> list[int]:
        """The pids of helpers not yet known to have exited (for tests and benchmarks)."""
        with self._lock:
            self._prune()
            helpers = [*self._helpers.values(), *self._retired]
            return sorted(helper.pid for helper in helpers if helper.process.poll() is None)

    def _retire(self, helper: Helper) -> None:
        helper.retire()
        if self._helpers.get(helper.key) is helper:
            del self._helpers[helper.key]
        if helper not in self._retired:
            self._retired.append(helper)

    def _prune(self) -> None:
        for helper in list(self._helpers.values()):
            if not helper.alive:
                self._retire(helper)
        self._retired = [helper for helper in self._retired if helper.process.poll() is None]

    def _make_room(self) -> bool:
        """Retire the least recently used idle helper if the pool is full."""
        if len(self._helpers) < MAX_HELPERS:
            return True
        idle = [helper for helper in self._helpers.values() if helper.in_flight == 0]
        if not idle:
            return False
        self._retire(min(idle, key=lambda helper: helper.last_used))
        return True


def _spawn(key: HelperKey, env: Mapping[str, str]) -> Helper | None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    argv = [
        key.python, "-c", _LOADER, str(FORKSERVER_PATH), str(REAPER_PATH), str(ENTRY_PATH),
        str(theirs.fileno()), repr(IDLE_SECONDS), json.dumps(list(key.preload)),
    ]  # fmt: skip
    try:
        process = subprocess.Popen(
            argv,
            cwd=key.root,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
        )
    except OSError as exc:
        logger.debug("cannot start a warm helper with %s: %s", key.python, exc)
        ours.close()
        return None
    finally:
        theirs.close()
    ours.setblocking(False)
    logger.debug("started warm helper %d for %s", process.pid, key.root)
    return Helper(key, process, ours)


async def wait_exit(process: subprocess.Popen[bytes], within: float = _EXIT_TIMEOUT) -> bool:
    """Wait (through the loop, via a pidfd) for ``process`` to exit; kill it past ``within``."""
    if process.poll() is not None:
        return True
    loop = asyncio.get_running_loop()
    try:
        pidfd = os.pidfd_open(process.pid)
    except OSError:  # already reaped by someone, or no pidfds: nothing to wait through
        return process.poll() is not None
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        await asyncio.wait({exited}, timeout=within)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    if process.poll() is None:
        logger.warning("warm helper %d did not exit within %.0f s: killing it", process.pid, within)
        process.kill()
    return process.poll() is not None


async def start_warm(
    helper: Helper, request: dict[str, Any], tail: OutputTail
) -> tuple[RunHandle | None, str]:
    """Hand a run to ``helper``: its handle once started, or None and why it went cold."""
    handle, theirs, out_w = await open_run(tail)
    try:
        sent = helper.send(request, [out_w, theirs.fileno()])
    finally:
        # Only the helper holds these now: its end closes the channel and the pipe.
        theirs.close()
        os.close(out_w)
    if not sent:
        await handle.settle()
        return None, "the helper is gone or not reading"
    try:
        first = await handle.first_message()
    except BaseException:
        await handle.settle()
        raise
    if first is not None and first.get("event") == "started":
        return handle, ""
    await handle.settle()
    if first is None:
        return None, "the helper ended without answering"
    return None, f"{first.get('event')}: {first.get('reason')}"


POOL = HelperPool()

__all__ = [
    "IDLE_SECONDS",
    "MAX_HELPERS",
    "POOL",
    "WARM_SUPPORTED",
    "Helper",
    "HelperKey",
    "HelperPool",
    "start_warm",
    "wait_exit",
]
