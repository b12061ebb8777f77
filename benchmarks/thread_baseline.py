"""The design codeframe replaced, rebuilt only to be measured beside it.

The seed ran synchronous workers in a thread pool (``loop.run_in_executor``): a blocking
Claude call, blocking pytest, and broadcasts pushed back to the event loop through
``asyncio.run_coroutine_threadsafe(...).result()``. This module does the same per-task steps
as :class:`codeframe.agents.worker_agent.WorkerAgent` on its happy path — the same database
writes, prompt, reply parsing, one-file write, index refresh and events — so the benchmark
compares the two designs, not two amounts of work. It is not part of the library.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from anthropic.types import Message

from codeframe.agents import prompts
from codeframe.agents.dependency_resolver import DependencyResolver
from codeframe.agents.simple_assignment import SimpleAgentAssigner
from codeframe.core.file_changes import apply_file_changes
from codeframe.core.models import TaskStatus, TestResult, TestStatus, utc_now
from codeframe.indexing.codebase_index import CodebaseIndex, keyword_pattern
from codeframe.llm import (
    CHANGES_TOOL,
    DEFAULT_MAX_TOKENS,
    default_model,
    make_tool_message,
    message_text,
    parse_changes,
    tool_choice_for_changes,
    usage_tokens,
)
from codeframe.persistence.database import Database
from codeframe.persistence.store import BUSY_TIMEOUT_MS
from codeframe.testing.environment import build_child_env
from codeframe.testing.junit import JUnitFormatError, parse_junit_xml
from codeframe.ui import websocket_broadcasts as bc

logger = logging.getLogger(__name__)

_BRIDGE_TIMEOUT_S = 10.0  # a worker thread never waits longer than this for the loop
_STATUS_BY_EXIT = {0: TestStatus.PASSED, 1: TestStatus.FAILED, 5: TestStatus.NO_TESTS}

_P = ParamSpec("_P")
_T = TypeVar("_T")


class ThreadSharedDatabase(Database):
    """A ``Database`` that the seed's worker threads can share, one method call at a time.

    codeframe uses its database from the event loop's thread only, so the library opens the
    connection for that thread and takes no lock. The seed design shared one database among
    its pool threads; this subclass rebuilds that — a connection any thread may use, and a
    lock held for each whole public method call so a method's transaction stays whole.
    """

    def __init__(self, db_path: str | Path, **options: Any) -> None:
        self._call_lock = threading.RLock()
        super().__init__(db_path, **options)

    def _connect(self, target: str) -> sqlite3.Connection:
        return sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)


def _locked(method: Callable[_P, _T]) -> Callable[_P, _T]:
    @functools.wraps(method)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with args[0]._call_lock:  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return call


for _name, _method in inspect.getmembers(Database, inspect.isfunction):
    if not _name.startswith("_"):
        setattr(ThreadSharedDatabase, _name, _locked(_method))


class SyncScriptedClient:
    """A blocking offline Claude: sleeps ``latency`` in the calling thread, then answers.

    ``reply(kwargs)`` returns a files-contract dict, as ``ScriptedClient``'s callable default
    does; ``before_reply`` (if given) runs first in the worker thread — the memory benchmark
    uses it to hold every call until all are in flight.
    """

    def __init__(
        self,
        reply: Callable[[dict[str, Any]], Mapping[str, Any]],
        latency: float = 0.0,
        usage: tuple[int, int] = (120, 80),
        before_reply: Callable[[], None] | None = None,
    ) -> None:
        self.reply = reply
        self.latency = latency
        self.usage = usage
        self.before_reply = before_reply
        self.history: list[dict[str, Any]] = []
        self.messages = self

    def create(self, **kwargs: Any) -> Message:
        self.history.append(kwargs)  # list.append is atomic under the GIL
        if self.before_reply is not None:
            self.before_reply()
        if self.latency:
            time.sleep(self.latency)
        tool = kwargs["tool_choice"]["name"]
        return make_tool_message(tool, self.reply(kwargs), model=kwargs["model"], usage=self.usage)


class InstantRunner:
    """Tests off: every run is ``no_tests`` at once (the sync twin of ``FixedResultRunner``)."""

    def run_tests(self) -> TestResult:
        return TestResult(TestStatus.NO_TESTS.value, output="tests are off")


class SubprocessRunner:
    """Blocking pytest in a child process, as the seed ran it from a worker thread."""

    def __init__(self, root: Path, timeout: float = 120.0) -> None:
        self.root = root
        self.timeout = timeout

    def run_tests(self) -> TestResult:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="codeframe-seed-pytest-") as report_dir:
            report = Path(report_dir) / "report.xml"
            argv = [
                sys.executable, "-m", "pytest", "-q", "-o", "junit_family=xunit1",
                f"--junitxml={report}", "-p", "no:cacheprovider",
            ]  # fmt: skip
            done = subprocess.run(
                argv,
                cwd=self.root,
                env=build_child_env(os.environ, plugin_autoload=False),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=self.timeout,
                check=False,
            )
            output = done.stdout.decode(errors="replace")
            try:
                parsed = parse_junit_xml(report.read_bytes())
            except (OSError, JUnitFormatError) as exc:
                return TestResult(TestStatus.ERROR.value, output=output, runner_error=str(exc))
        return TestResult(
            _STATUS_BY_EXIT.get(done.returncode, TestStatus.ERROR).value,
            passed=parsed.passed,
            failed=parsed.failed,
            errors=parsed.errors,
            skipped=parsed.skipped,
            duration=time.monotonic() - started,
            output=output,
            cases=parsed.cases,
        )


class LoopBridge:
    """Sends a broadcast from a worker thread by running it on the loop and waiting for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, manager: Any) -> None:
        self.loop = loop
        self.manager = manager

    def send(self, broadcast: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if self.manager is None:
            return
        future = asyncio.run_coroutine_threadsafe(
            broadcast(self.manager, *args, **kwargs), self.loop
        )
        future.result(timeout=_BRIDGE_TIMEOUT_S)


class SyncWorker:
    """One seed-style worker: runs a task start to finish in whatever thread calls it."""

    def __init__(
        self,
        agent_id: str,
        project_id: int,
        db: Any,
        root: Path,
        *,
        client: Any,
        runner: Any,
        bridge: LoopBridge,
        index: CodebaseIndex,
        tree_lock: threading.Lock,
    ) -> None:
        self.agent_id = agent_id
        self.project_id = project_id
        self.db = db
        self.root = root
        self.client = client
        self.runner = runner
        self.bridge = bridge
        self.index = index
        # The tree and its index are shared and not thread-safe (two threads creating the
        # same new folder collide), so threads take turns; on one loop nothing need.
        self.tree_lock = tree_lock
        self.model = default_model(None)
        self.tasks_completed = 0

    def execute_task(self, task: dict[str, Any]) -> str:
        """Run one task; returns its final status. Errors become ``failed``, as in the seed."""
        task_id = task["id"]
        try:
            self._execute(task)
        except Exception as exc:
            logger.exception("seed worker %s: task %s failed", self.agent_id, task_id)
            self.db.update_task(task_id, {"status": TaskStatus.FAILED.value, "error": str(exc)})
            return TaskStatus.FAILED.value
        return TaskStatus.COMPLETED.value

    def _execute(self, task: dict[str, Any]) -> None:
        task_id, pid, send = task["id"], self.project_id, self.bridge.send
        self.db.update_task(
            task_id, {"status": TaskStatus.IN_PROGRESS.value, "assigned_to": self.agent_id}
        )
        send(bc.broadcast_task_status, pid, task_id, "in_progress", agent_id=self.agent_id)
        send(
            bc.broadcast_activity_update,
            pid,
            "task_started",
            f"started task #{task_id}: {task.get('title')}",
            task_id=task_id,
            agent_id=self.agent_id,
        )
        context = self._context(task)
        message = self._ask(task_id, prompts.generation_prompt(context))
        changes = parse_changes(message)
        with self.tree_lock:
            written = apply_file_changes(self.root, changes["files"])
            self.index.update_files(written)
        send(
            bc.broadcast_activity_update,
            pid,
            "files_changed",
            f"changed {', '.join(written) or 'no files'}",
            task_id=task_id,
            agent_id=self.agent_id,
        )
        result = self.runner.run_tests()
        self.db.create_test_result(
            task_id, result.status, passed=result.passed, failed=result.failed,
            errors=result.errors, skipped=result.skipped, duration=result.duration,
            output=result.output, attempt=0, cases=result.cases,
        )  # fmt: skip
        send(
            bc.broadcast_test_result,
            pid,
            task_id,
            result.status,
            passed=result.passed,
            failed=result.failed,
            errors=result.errors,
            skipped=result.skipped,
            duration=result.duration,
        )
        output = "\n".join([changes.get("explanation", ""), f"tests: {result.status}"])
        self.db.update_task(
            task_id,
            {
                "status": TaskStatus.COMPLETED.value,
                "output": output,
                "error": None,
                "completed_at": utc_now(),
            },
        )
        row = self.db.get_task(task_id) or {}
        send(
            bc.broadcast_task_status,
            pid,
            task_id,
            "completed",
            agent_id=self.agent_id,
            actual_tokens=row.get("actual_tokens") or 0,
        )

    def _context(self, task: dict[str, Any]) -> dict[str, Any]:
        pattern = keyword_pattern(f"{task.get('title', '')} {task.get('description') or ''}")
        with self.tree_lock:
            symbols = self.index.search_pattern(pattern) if pattern else []
        issue = self.db.get_issue(task["issue_id"]) if task.get("issue_id") else None
        return {
            "task": task,
            "related_symbols": symbols,
            "related_files": list(dict.fromkeys(s.file_path for s in symbols)),
            "issue_context": issue,
            "file_excerpts": {},
            "resolved_blockers": [
                b for b in self.db.get_blockers_by_task(task["id"]) if b.get("resolved_at")
            ],
        }

    def _ask(self, task_id: int, prompt: str) -> Message:
        system = prompts.system_prompt("backend")
        messages = [{"role": "user", "content": prompt}]
        started = time.monotonic()
        message = self.client.messages.create(
            model=self.model, max_tokens=DEFAULT_MAX_TOKENS, system=system, messages=messages,
            tools=[CHANGES_TOOL], tool_choice=tool_choice_for_changes(),
        )  # fmt: skip
        tokens_in, tokens_out = usage_tokens(message)
        self.db.add_task_tokens(task_id, tokens_in + tokens_out)
        self.db.record_llm_call(
            task_id=task_id, agent_id=self.agent_id, attempt=0, model=self.model,
            request={"system": system, "messages": messages},
            reply_text=message_text(message), stop_reason=message.stop_reason,
            input_tokens=tokens_in, output_tokens=tokens_out,
            latency_s=time.monotonic() - started, error=None,
        )  # fmt: skip
        return message


class _SeedLead:
    """The coordinating side of the seed design, on the loop: assign, hand off, collect."""

    def __init__(
        self,
        db: Any,
        project_id: int,
        root: Path,
        *,
        client: Any,
        runner: Any,
        ws_manager: Any,
        pool: ThreadPoolExecutor,
        max_workers: int,
        run_id: int,
    ) -> None:
        self.db = db
        self.project_id = project_id
        self.ws = ws_manager
        self.pool = pool
        self.max_workers = max_workers
        self.run_id = run_id
        self.counts: collections.Counter[str] = collections.Counter()
        self.workers: list[SyncWorker] = []
        self.idle: list[SyncWorker] = []
        self.running: dict[asyncio.Future[str], tuple[int, SyncWorker]] = {}
        self.assigner = SimpleAgentAssigner()
        self.resolver = DependencyResolver()
        db.recover_interrupted(project_id)
        self.tasks = {t["id"]: t for t in db.get_project_tasks(project_id)}
        self.resolver.build_dependency_graph(self.tasks.values())
        index = CodebaseIndex(root)
        index.build()
        self.root = root
        self.worker_options: dict[str, Any] = {
            "client": client,
            "runner": runner,
            "bridge": LoopBridge(asyncio.get_running_loop(), ws_manager),
            "index": index,
            "tree_lock": threading.Lock(),
        }

    def new_worker(self, agent_id: str) -> SyncWorker:
        return SyncWorker(agent_id, self.project_id, self.db, self.root, **self.worker_options)

    async def run(self) -> None:
        tasks = self.tasks
        pending = [
            t for t in self.resolver.get_ready_tasks() if tasks[t]["status"] == TaskStatus.PENDING
        ]
        pending.sort(key=lambda t: (tasks[t]["priority"], tasks[t]["workflow_step"], t))
        ready = collections.deque(pending)
        while ready or self.running:
            while ready and len(self.running) < self.max_workers:
                await self._start(tasks[ready.popleft()])
            done, _ = await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                ready.extend(await self._finish(future))
        for worker in self.workers:
            await bc.broadcast_agent_retired(
                self.ws, self.project_id, worker.agent_id, worker.tasks_completed
            )

    async def _start(self, task: dict[str, Any]) -> None:
        """The lead's per-task writes and events, then the task handed to a pool thread."""
        task_id, pid = task["id"], self.project_id
        self.assigner.assign_agent_type(task)
        if not self.idle:
            worker = self.new_worker(f"backend-{len(self.workers) + 1}")
            self.workers.append(worker)
            self.idle.append(worker)
            await bc.broadcast_agent_created(self.ws, pid, worker.agent_id, "backend")
        worker = self.idle.pop()
        self.db.get_blockers_by_task(task_id)  # the lead checks for resolved blockers; so do we
        task["execution_count"] = (task.get("execution_count") or 0) + 1
        self.db.update_task(
            task_id,
            {"status": TaskStatus.ASSIGNED.value, "assigned_to": worker.agent_id,
             "execution_count": task["execution_count"]},
        )  # fmt: skip
        self.db.record_assignment(task_id, worker.agent_id, run_id=self.run_id)
        await bc.broadcast_task_assigned(
            self.ws, pid, task_id, worker.agent_id, task_title=task["title"]
        )
        await bc.broadcast_agent_status(
            self.ws, pid, worker.agent_id, "busy", current_task_id=task_id,
            current_task_title=task["title"],
        )  # fmt: skip
        future = asyncio.get_running_loop().run_in_executor(self.pool, worker.execute_task, task)
        self.running[future] = (task_id, worker)

    async def _finish(self, future: asyncio.Future[str]) -> list[int]:
        """Free the worker, count the task, announce progress; returns newly ready ids."""
        task_id, worker = self.running.pop(future)
        status = future.result()
        self.counts[status] += 1
        worker.tasks_completed += 1
        self.idle.append(worker)
        await bc.broadcast_agent_status(self.ws, self.project_id, worker.agent_id, "idle")
        unblocked = []
        if status == TaskStatus.COMPLETED:
            unblocked = self.resolver.unblock_dependent_tasks(task_id)
        await bc.broadcast_progress_update(
            self.ws, self.project_id, sum(self.counts.values()), len(self.tasks)
        )
        return unblocked


async def run_threaded(
    db: Any,
    project_id: int,
    root: Path,
    *,
    client: Any,
    runner: Any,
    ws_manager: Any = None,
    max_workers: int = 5,
    timeout: float = 600.0,  # noqa: ASYNC109 — mirrors LeadAgent's run deadline
) -> dict[str, int]:
    """Run every pending task with ``max_workers`` sync workers in a thread pool.

    The coordinating side stays on the loop, as in the seed: it assigns tasks, writes the
    same rows and events as ``LeadAgent`` and hands each task to ``run_in_executor``.
    Returns the count of tasks by final status. ``db`` is shared with the pool's threads
    through a :class:`ThreadSharedDatabase` on the same file (opened here unless given).
    """
    if isinstance(db, ThreadSharedDatabase):
        return await _run_threaded(db, project_id, root, client=client, runner=runner,
                                   ws_manager=ws_manager, max_workers=max_workers,
                                   timeout=timeout)  # fmt: skip
    if str(db.db_path) == ":memory:":
        raise ValueError("the thread baseline shares a file database; got ':memory:'")
    with ThreadSharedDatabase(db.db_path) as shared:
        return await _run_threaded(shared, project_id, root, client=client, runner=runner,
                                   ws_manager=ws_manager, max_workers=max_workers,
                                   timeout=timeout)  # fmt: skip


async def _run_threaded(
    db: ThreadSharedDatabase,
    project_id: int,
    root: Path,
    *,
    client: Any,
    runner: Any,
    ws_manager: Any,
    max_workers: int,
    timeout: float,  # noqa: ASYNC109
) -> dict[str, int]:
    run_id = db.start_run(project_id)
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="seed-worker")
    counts: collections.Counter[str] = collections.Counter()
    clean = False
    try:
        lead = _SeedLead(
            db, project_id, root, client=client, runner=runner, ws_manager=ws_manager,
            pool=pool, max_workers=max_workers, run_id=run_id,
        )  # fmt: skip
        counts = lead.counts
        async with asyncio.timeout(timeout):
            await lead.run()
        clean = True
    finally:
        # After an error, threads may still sleep in a call: do not block the loop on them.
        pool.shutdown(wait=clean, cancel_futures=True)
        db.finish_run(run_id, dict(counts))
    return dict(counts)


__all__ = [
    "InstantRunner",
    "LoopBridge",
    "SubprocessRunner",
    "SyncScriptedClient",
    "SyncWorker",
    "ThreadSharedDatabase",
    "run_threaded",
]
