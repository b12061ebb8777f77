"""A helper process that forks one agent per request: runs in a process of their own.

Started once per test (``python -m tests.faults.zygote``), it imports codeframe once and
then, for each JSON request on stdin, forks a child that awaits the coroutine function the
request names (``"call": "module:function"``, given the request). Forking saves the ~2 s
an interpreter takes to import codeframe, so a trial costs what its run costs. The zygote
itself never runs an event loop or a test, so each child starts clean, with the zygote's
environment (which the test chose).

:func:`run_scenario` is the SIGKILL trials' agent: a scenario's project with a real
:class:`TestRunner`, one line per broadcast event on stdout, read by the test that kills it.

Lines written (each with a single ``os.write``, so lines from the zygote and its child never
interleave mid-line): ``{"pid": N}`` once forked, ``event <n> <type>[:<activity or
status>]`` per event (:func:`run_scenario`), ``finished`` when a child's coroutine returns,
``{"exit": <wait status>}`` once it ended. A request with ``kill_itself_after`` (an event's
``type[:detail]``) makes the child SIGKILL itself right after that event: a kill at an
exact step, where the test's own kill lands a moment later.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from codeframe.agents.lead_agent import LeadAgent
from codeframe.llm import ScriptedClient
from codeframe.persistence.database import Database
from codeframe.testing.test_runner import TestRunner
from tests.faults.scenario import Replies, Scenario

REPO = Path(__file__).resolve().parents[2]
LINE_TIMEOUT = 60.0


class Zygote:
    """The test's side of a zygote: send a request, read what the child says, kill it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, stderr: Path, env: dict[str, str]) -> Zygote:
        """Start one, with ``env`` as its (and its children's) environment."""
        with open(stderr, "ab") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.faults.zygote",
                cwd=REPO,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
        return cls(process)

    async def line(self) -> str:
        assert self.process.stdout is not None
        async with asyncio.timeout(LINE_TIMEOUT):
            raw = await self.process.stdout.readline()
        if not raw:
            raise AssertionError("the zygote ended unexpectedly (see its stderr file)")
        return raw.decode().strip()

    async def run(
        self, request: dict[str, Any], kill_at: int | None, delay: float
    ) -> dict[str, Any]:
        """Fork an agent run; SIGKILL it after event ``kill_at`` (+ ``delay``). How it ended."""
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(request) + "\n").encode())
        await self.process.stdin.drain()
        pid, events, killed_after, finished = None, 0, None, False
        kinds: list[str] = []
        while True:
            line = await self.line()
            if line.startswith('{"pid"'):
                pid = json.loads(line)["pid"]
            elif line.startswith("event "):
                events = int(line.split()[1])
                kinds.append(line.split()[2])
                if kill_at is not None and events == kill_at and killed_after is None:
                    killed_after = line.split()[2]
                    if delay:
                        await asyncio.sleep(delay)
                    assert pid is not None, "an event before the zygote named its child"
                    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                        os.kill(pid, signal.SIGKILL)
            elif line == "finished":
                finished = True
            elif line.startswith('{"exit"'):
                status = json.loads(line)["exit"]
                return {
                    "pid": pid,
                    "events": events,
                    "killed": os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
                    "killed_after": killed_after,
                    "finished": finished,
                    "status": status,
                    "kinds": kinds,
                }

    async def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            async with asyncio.timeout(10):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())


class LineTarget:
    """A broadcast target that writes each event's number and type to stdout."""

    broadcast_timeout = None

    def __init__(self, kill_after: str | None = None) -> None:
        self.count = 0
        self.kill_after = kill_after

    async def broadcast(self, message: dict[str, Any]) -> None:
        self.count += 1
        kind = message["type"]
        detail = message.get("activity_type") or message.get("status") or ""
        kind = f"{kind}:{detail}" if detail else kind
        _say(f"event {self.count} {kind}")
        if kind == self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # at this exact step, for a repeatable kill


async def run_scenario(request: dict[str, Any]) -> None:
    """Run a scenario's project (``request["scenario"]``) with real pytest."""
    scenario = Scenario.from_spec(request["scenario"])
    root = Path(request["root"])
    with Database(request["db"]) as db:
        lead = LeadAgent(
            request["project_id"],
            db,
            ws_manager=LineTarget(request.get("kill_itself_after")),
            client=ScriptedClient(default=Replies(scenario), latency=request["latency"]),
            test_runner=TestRunner(root, timeout=60, plugin_autoload=False, warm=scenario.warm),
            project_root=root,
        )
        await lead.start_multi_agent_execution(
            max_retries=scenario.max_retries, max_concurrent=request["max_concurrent"]
        )


def _child(
    work: Callable[[dict[str, Any]], Coroutine[Any, Any, None]], request: dict[str, Any]
) -> None:
    code = 1
    try:
        if request.get("stderr"):
            with open(request["stderr"], "ab") as log:
                os.dup2(log.fileno(), 2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        asyncio.run(work(request))
        _say("finished")
        code = 0
    except BaseException as exc:  # reported on stderr; the exit code says it failed
        print(f"agent run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        os._exit(code)  # never return into the zygote's loop


def _function(name: str) -> Callable[[dict[str, Any]], Coroutine[Any, Any, None]]:
    module, _, attribute = name.partition(":")
    work: Callable[[dict[str, Any]], Coroutine[Any, Any, None]] = getattr(
        importlib.import_module(module), attribute
    )
    return work


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        work = _function(request.get("call", "tests.faults.zygote:run_scenario"))
        pid = os.fork()
        if pid == 0:
            _child(work, request)
        _say(json.dumps({"pid": pid}))
        _, status = os.waitpid(pid, 0)
        _say(json.dumps({"exit": status}))


if __name__ == "__main__":
    main()
