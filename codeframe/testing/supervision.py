"""The agent's side of a supervised pytest run: start it, hear how it ended, end it early.

Every run goes through a supervisor process (:mod:`codeframe.testing.child.reaper`) that is
a child subreaper on Linux: it holds every process the tests start, however they detach,
and kills them all when the run ends, is stopped, or when the agent dies. This module talks
to it over a socket (JSON lines) and reads the run's output from a pipe, all through the
event loop: nothing here blocks it.

A cold run spawns a fresh supervisor with codeframe's own interpreter (``-I -S``: no site
packages, ~10 ms) which then execs pytest under the project's; a warm run gets its
supervisor forked by a helper (:mod:`codeframe.testing.warm`). Both end in a
:class:`RunHandle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeframe.testing.child import REAPER_PATH
from codeframe.testing.output import OutputTail

logger = logging.getLogger(__name__)

# A stop is final, but waiting for its confirmation must not hang a cancelled run.
SETTLE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How a supervised pytest ended. Exactly one of the fields before ``survivors`` is set."""

    exit_code: int | None = None
    signal: int | None = None
    parent_signal: int | None = None  # a test killed pytest's parent (the shim)
    exec_error: str | None = None  # the interpreter could not be started
    lost: str | None = None  # the supervisor could not say, or vanished
    stopped: str | None = None  # ended early: our stop, or a signal to the supervisor
    survivors: tuple[int, ...] = ()

    @classmethod
    def from_message(cls, message: Mapping[str, Any] | None) -> RunEnd:
        """Read a ``done`` message; anything malformed is a lost run, never an exception."""
        if message is None:
            return cls(lost="the test supervisor ended without reporting")
        fields: dict[str, Any] = {}
        for name in ("exit_code", "signal", "parent_signal"):
            value = message.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                fields[name] = value
        for name in ("exec_error", "lost", "stopped"):
            value = message.get(name)
            if isinstance(value, str):
                fields[name] = value
        survivors = message.get("survivors")
        if isinstance(survivors, list):
            fields["survivors"] = tuple(pid for pid in survivors if isinstance(pid, int))
        if not fields.keys() & {"exit_code", "signal", "parent_signal", "exec_error", "stopped"}:
            fields.setdefault("lost", "the test supervisor sent an unreadable report")
        return cls(**fields)


class _Channel(asyncio.Protocol):
    """The supervisor's JSON lines, turned into two futures: ``started`` and ``done``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.started: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self.done: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            try:
                message = json.loads(line)
            except ValueError:
                message = {"event": "done", "lost": "the test supervisor sent an unreadable line"}
            if isinstance(message, dict):
                self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        if message.get("event") == "done":
            _resolve(self.started, None)
            _resolve(self.done, message)
        else:  # "started", or a warm helper's refusal (which is also the last word)
            _resolve(self.started, message)
            if message.get("event") != "started":
                _resolve(self.done, message)

    def eof_received(self) -> bool:
        return False  # close our end too

    def connection_lost(self, exc: Exception | None) -> None:
        _resolve(self.started, None)
        _resolve(self.done, None)


class _Output(asyncio.Protocol):
    """Feeds the run's output pipe to a tail; ``closed`` once every writer is gone."""

    def __init__(self, tail: OutputTail, loop: asyncio.AbstractEventLoop) -> None:
        self.tail = tail
        self.closed: asyncio.Future[None] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        self.tail.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        _resolve(self.closed, None)


class _Process(asyncio.SubprocessProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        _resolve(self.exited, None)


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


class RunHandle:
    """One supervised run: wait for its end, or stop it; then :meth:`settle` releases it."""

    def __init__(
        self,
        channel: _Channel,
        output: _Output,
        output_transport: asyncio.BaseTransport,
        process: tuple[asyncio.SubprocessTransport, _Process] | None = None,
    ) -> None:
        self._channel = channel
        self._output = output
        self._output_transport = output_transport
        self._process = process

    def attach(self, transport: asyncio.SubprocessTransport, process: _Process) -> None:
        """The supervisor process, once spawned: stopping the run may then signal it."""
        self._process = (transport, process)

    @property
    def finished(self) -> bool:
        """Whether the supervisor has reported the end (or vanished)."""
        return self._channel.done.done()

    async def first_message(self) -> dict[str, Any] | None:
        """``started`` (or a helper's refusal); None if the supervisor vanished first."""
        return await asyncio.shield(self._channel.started)

    async def wait(self) -> RunEnd:
        """Until pytest has ended and nothing it started is left."""
        return RunEnd.from_message(await asyncio.shield(self._channel.done))

    def request_stop(self) -> None:
        """Ask the supervisor to kill the run now (idempotent, never blocks)."""
        transport = self._channel.transport
        if not self._channel.done.done() and transport is not None and not transport.is_closing():
            transport.write(b"stop\n")

    async def settle(self) -> RunEnd:
        """Stop the run if it is still going, then release everything, within bounds.

        Shielded: a second cancellation while settling cannot leave pipes or a process behind.
        """
        self.request_stop()
        return await asyncio.shield(self._settle())

    async def _settle(self) -> RunEnd:
        done = self._channel.done
        await asyncio.wait({done}, timeout=SETTLE_TIMEOUT)
        end = RunEnd.from_message(done.result() if done.done() else None)
        if not done.done():
            logger.warning(
                "the test supervisor did not confirm its stop within %.0f s", SETTLE_TIMEOUT
            )
            self._kill_supervisor()
        if end.survivors:
            logger.warning("processes a test started could not be killed: %s", end.survivors)
        waits: set[asyncio.Future[None]] = {self._output.closed}
        if self._process is not None:
            waits.add(self._process[1].exited)
        _, pending = await asyncio.wait(waits, timeout=SETTLE_TIMEOUT)
        if self._output.closed in pending:
            logger.warning("a test run's output pipe is still held open by a survivor")
        if self._process is not None and self._process[1].exited in pending:
            self._kill_supervisor()
        self.close()
        return end

    def _kill_supervisor(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process[0].kill()

    def close(self) -> None:
        """Release the transports (after :meth:`settle`, or on a failed start)."""
        if self._channel.transport is not None:
            self._channel.transport.close()
        self._output_transport.close()
        if self._process is not None:
            self._process[0].close()


async def open_run(tail: OutputTail) -> tuple[RunHandle, socket.socket, int]:
    """A run's channel and output pipe, our ends attached to the running loop.

    Returns the handle and the ends the run's supervisor gets: a socket and the pipe's write
    end, which the caller hands over and then closes.
    """
    ours, theirs = socket.socketpair()
    out_r, out_w = os.pipe()
    try:
        channel, output, output_transport = await _connect(ours, out_r, tail)
    except BaseException:
        for end in (ours, theirs):
            end.close()
        os.close(out_w)
        raise
    return RunHandle(channel, output, output_transport), theirs, out_w


async def _connect(
    ours: socket.socket, out_r: int, tail: OutputTail
) -> tuple[_Channel, _Output, asyncio.BaseTransport]:
    """Attach the agent's end of a run's channel and output pipe to the running loop."""
    loop = asyncio.get_running_loop()
    output = _Output(tail, loop)
    pipe = os.fdopen(out_r, "rb", buffering=0)
    try:
        output_transport, _ = await loop.connect_read_pipe(lambda: output, pipe)
    except BaseException:
        pipe.close()
        raise
    try:
        channel = _Channel(loop)
        await loop.connect_accepted_socket(lambda: channel, ours)
    except BaseException:
        output_transport.close()
        raise
    return channel, output, output_transport


# One spawn per loop at a time: each spawn holds the loop for a moment, and several workers
# reaching their tests together would otherwise add those moments up in one loop turn.
_spawn_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def spawn_lock() -> asyncio.Lock:
    return _spawn_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


async def start_cold(
    command: list[str], cwd: Path, env: dict[str, str], tail: OutputTail
) -> RunHandle:
    """Spawn a fresh supervisor that execs ``command`` (the pytest process) under it.

    No ``preexec_fn``: the spawn stays a cheap vfork of the agent (a notebook kernel can be
    large); everything the children need is set up by the small supervisor instead.
    """
    loop = asyncio.get_running_loop()
    handle, theirs, out_w = await open_run(tail)
    argv = [
        sys.executable, "-I", "-S", str(REAPER_PATH), str(theirs.fileno()), "--", *command,
    ]  # fmt: skip
    try:
        try:
            async with spawn_lock():
                transport, process = await loop.subprocess_exec(
                    lambda: _Process(loop),
                    *argv,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out_w,
                    stderr=out_w,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,
                )
        finally:
            # Only the supervisor holds these now: its end closes the channel and the pipe.
            # Closed whatever happened, a cancel while waiting for the lock included, or
            # our own ends would keep the channel and the pipe open and settle() would wait.
            theirs.close()
            os.close(out_w)
        handle.attach(transport, process)
        await asyncio.sleep(0)  # let the loop serve others before the next spawn
    except BaseException:
        await handle.settle()
        raise
    return handle


__all__ = ["SETTLE_TIMEOUT", "RunEnd", "RunHandle", "open_run", "spawn_lock", "start_cold"]
