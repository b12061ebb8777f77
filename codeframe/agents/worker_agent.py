"""The one pipeline every worker runs: ask Claude, apply, test, correct, report.

The three worker classes only choose a system prompt, the part of the tree they may write and
which tests they run. Everything else — statuses, the test ledger, correction attempts,
blockers, broadcasts, token counts, cancellation — happens here, once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import anthropic

from codeframe.agents import prompts
from codeframe.agents.failures import describe_failure
from codeframe.core.file_changes import WriteArea, normalise_path
from codeframe.core.file_changes import apply_file_changes as apply_changes_to_tree
from codeframe.core.models import (
    ExecutionResult,
    GenerationResult,
    TaskStatus,
    TestResult,
)
from codeframe.errors import (
    ClaudeTimeoutError,
    FileChangeError,
    MissingAPIKeyError,
    ResponseFormatError,
    RunnerUnavailableError,
)
from codeframe.indexing.codebase_index import CodebaseIndex, keyword_pattern
from codeframe.llm import (
    CHANGES_TOOL,
    DEFAULT_MAX_TOKENS,
    default_model,
    parse_changes,
    reply_record,
    tool_choice_for_changes,
    usage_tokens,
)
from codeframe.redaction import redacted_traceback
from codeframe.testing.test_runner import TestRunner
from codeframe.ui import websocket_broadcasts as bc

logger = logging.getLogger(__name__)

MAX_CORRECTION_ATTEMPTS = 3
_BROADCAST_BOUND_S = 2.0  # a cancelled task still reports, but never waits long to do so
_MAX_EXCERPT_FILES = 5


@dataclass(slots=True)
class RecordedRun:
    """A test run and the ``test_results`` row it produced."""

    test_result_id: int
    result: TestResult


@dataclass(slots=True)
class _Execution:
    """What one ``execute_task`` call has done so far (a worker runs one task at a time)."""

    files_modified: list[str] = field(default_factory=list)
    explanation: str = ""
    run_lines: list[str] = field(default_factory=list)
    # What execute_task returns, kept from the moment the final status is written: a
    # cancel or a fault after that must not overwrite it.
    result: ExecutionResult | None = None

    def note_files(self, paths: Sequence[str]) -> None:
        for path in paths:
            if path not in self.files_modified:
                self.files_modified.append(path)

    def output(self) -> str:
        return "\n".join([self.explanation, *self.run_lines]).strip()


def _run_line(attempt: int, result: TestResult) -> str:
    label = "tests" if attempt == 0 else f"tests after correction {attempt}"
    return (
        f"{label}: {result.status} — {result.passed} passed, {result.failed} failed, "
        f"{result.errors} errors, {result.skipped} skipped in {result.duration:.2f}s"
    )


def _failure_summary(result: Mapping[str, Any], cases: Sequence[Mapping[str, Any]]) -> str:
    """One paragraph naming the failing tests, for the ledger and the blocker."""
    bad = [c for c in cases if c.get("outcome") in ("failed", "error")]
    head = (
        f"{result.get('status')}: {result.get('failed', 0)} failed, "
        f"{result.get('errors', 0)} errors, {result.get('passed', 0)} passed"
    )
    if not bad:
        return head
    named = "; ".join(
        f"{c['node_id']} — {(c.get('message') or c['outcome'])[:160]}" for c in bad[:5]
    )
    more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
    return f"{head}. {named}{more}"


class WorkerAgent:
    """A worker agent: turns one task into tested file changes, or a clear failure or blocker."""

    worker_type: ClassVar[str] = "backend"

    def __init__(
        self,
        project_id: int,
        db: Any,
        codebase_index: CodebaseIndex | None = None,
        api_key: str | None = None,
        project_root: Path | str = Path("."),
        ws_manager: Any = None,
        *,
        client: Any = None,
        model: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        test_runner: Any = None,
        timeout: float = 300.0,
        agent_id: str | None = None,
        max_file_bytes: int = 1_000_000,
    ) -> None:
        self.project_id = project_id
        self.db = db
        self.codebase_index = codebase_index
        self.api_key = api_key
        self.project_root = Path(project_root)
        self.ws_manager = ws_manager
        self.client = client
        self.model = default_model(model)
        self.max_tokens = max_tokens
        self.test_runner = test_runner
        self.timeout = timeout
        self.agent_id = agent_id
        self.max_file_bytes = max_file_bytes
        self._owns_client = False
        self._execution = _Execution()

    # -- what differs between workers -------------------------------------------------

    @property
    def write_area(self) -> WriteArea | None:
        """The part of the tree this worker may write; ``None`` means anywhere in the project."""
        return None

    def system_prompt(self) -> str:
        return prompts.system_prompt(self.worker_type)

    async def _run_tests(self) -> TestResult:
        """Run the tests this worker is responsible for (the backend: the whole suite)."""
        return await self._test_runner().run_tests(None)

    # -- seams -----------------------------------------------------------------------

    def _claude(self) -> Any:
        """The client, created once on first use (construction itself needs no key)."""
        if self.client is None:
            key = self.api_key or os.environ.get("ANTHROPIC_API_KEY")
            if not key:
                raise MissingAPIKeyError(
                    "no Claude client: pass client= (e.g. codeframe.llm.ScriptedClient) "
                    "or set ANTHROPIC_API_KEY"
                )
            self.client = anthropic.AsyncAnthropic(api_key=key)
            self._owns_client = True
        return self.client

    def _test_runner(self) -> Any:
        if self.test_runner is None:
            self.test_runner = TestRunner(self.project_root)
        return self.test_runner

    def _index(self) -> CodebaseIndex:
        if self.codebase_index is None:
            self.codebase_index = CodebaseIndex(self.project_root)
            self.codebase_index.build()
        return self.codebase_index

    async def aclose(self) -> None:
        """Close the API client if this worker created it (a client passed in is the caller's)."""
        if self._owns_client and self.client is not None:
            await self.client.close()
            self.client = None
            self._owns_client = False

    # -- sync steps (seed API) -------------------------------------------------------

    def fetch_next_task(self) -> dict[str, Any] | None:
        """This project's next pending task: highest priority, then workflow step, then id."""
        pending = self.db.get_project_tasks(self.project_id, status=TaskStatus.PENDING)
        if not pending:
            return None
        return min(pending, key=lambda t: (t["priority"], t["workflow_step"], t["id"]))

    def build_context(self, task: Mapping[str, Any]) -> dict[str, Any]:
        """Task, related symbols and files from the index, and the parent issue."""
        text = f"{task.get('title', '')} {task.get('description', '') or ''}"
        pattern = keyword_pattern(text)
        symbols: list[Any] = []
        if pattern:
            seen: set[tuple[Any, ...]] = set()
            for symbol in self._index().search_pattern(pattern):
                key = (symbol.name, symbol.file_path, symbol.line_number)
                if key not in seen:
                    seen.add(key)
                    symbols.append(symbol)
        files = list(dict.fromkeys(s.file_path for s in symbols))
        issue = self.db.get_issue(task["issue_id"]) if task.get("issue_id") else None
        return {
            "task": task,
            "related_symbols": symbols,
            "related_files": files,
            "issue_context": issue,
            "file_excerpts": self._excerpts(symbols),
        }

    def _excerpts(self, symbols: Sequence[Any]) -> dict[str, str]:
        """A few lines around the best symbols, so the model sees real code, not just names."""
        excerpts: dict[str, str] = {}
        for symbol in symbols:
            path = symbol.file_path
            if path in excerpts or not isinstance(path, str):
                continue
            if len(excerpts) >= _MAX_EXCERPT_FILES:
                break
            try:
                lines = (self.project_root / path).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            start = max(symbol.line_number - 3, 0)
            excerpts[path] = "\n".join(lines[start : start + 40])
        return excerpts

    def apply_file_changes(self, files: Sequence[Mapping[str, Any]]) -> list[str]:
        """Validate the whole group, then write it atomically; returns the paths as given."""
        written = apply_changes_to_tree(
            self.project_root, files, area=self.write_area, max_bytes=self.max_file_bytes
        )
        if written and self.codebase_index is not None:
            self.codebase_index.update_files(written)
        return written

    def update_task_status(self, task_id: int, status: str, output: str | None = None) -> None:
        """Write a status (and output); ``completed_at`` is set on completion."""
        fields: dict[str, Any] = {"status": TaskStatus(status).value}
        if output is not None:
            fields["output"] = output
        self.db.update_task(task_id, fields)  # the database keeps completed_at in step

    # -- Claude ----------------------------------------------------------------------

    async def generate_code(self, context: Mapping[str, Any]) -> GenerationResult:
        """One Claude call for the task's changes; raises on unusable replies and API errors."""
        task = context.get("task", {})
        return await self._ask(prompts.generation_prompt(context), task.get("id"), attempt=0)

    async def _ask(self, prompt: str, task_id: int | None, *, attempt: int) -> GenerationResult:
        """Ask for changes once, inside the timeout; record the call and its tokens."""
        system = self.system_prompt()
        messages = [{"role": "user", "content": prompt}]
        client = self._claude()
        started = time.monotonic()
        message = None
        error: BaseException | None = None
        scope = asyncio.timeout(self.timeout)
        try:
            async with scope:
                message = await client.messages.create(
                    model=self.model,
                    max_tokens=self.max_tokens,
                    system=system,
                    messages=messages,
                    tools=[CHANGES_TOOL],
                    tool_choice=tool_choice_for_changes(),
                )
            return parse_changes(message)
        except TimeoutError as exc:
            if not scope.expired():  # the client's own timeout, not ours: report it as is
                error = exc
                raise
            error = ClaudeTimeoutError(f"Claude did not answer within {self.timeout:g} s")
            raise error from exc
        except BaseException as exc:  # recorded, then re-raised unchanged (cancellation too)
            error = exc
            raise
        finally:
            if task_id is not None:
                try:
                    self._record_call(task_id, attempt, system, messages, message, started, error)
                except Exception as ledger_error:  # it must not hide the call's own outcome
                    logger.error(
                        "task %s: could not record a Claude call:\n%s",
                        task_id,
                        redacted_traceback(ledger_error, (self.api_key,)),
                    )

    def _record_call(
        self,
        task_id: int,
        attempt: int,
        system: str,
        messages: list[dict[str, Any]],
        message: Any,
        started: float,
        error: BaseException | None,
    ) -> None:
        tokens_in, tokens_out = usage_tokens(message) if message is not None else (0, 0)
        self.db.record_llm_call(
            task_id=task_id,
            agent_id=self.agent_id,
            attempt=attempt,
            model=self.model,
            request={"system": system, "messages": messages},
            reply_text=reply_record(message) if message is not None else None,
            stop_reason=getattr(message, "stop_reason", None),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            latency_s=time.monotonic() - started,
            error=None if error is None else describe_failure(error, api_key=self.api_key).message,
            count_tokens=True,
            secrets=(self.api_key,),
        )

    # -- tests -----------------------------------------------------------------------

    async def _run_and_record_tests(self, task_id: int, *, attempt: int = 0) -> RecordedRun:
        """Run this worker's tests, store the run and its cases, broadcast the outcome."""
        result = await self._run_tests()
        if result.runner_error:
            raise RunnerUnavailableError(f"the tests could not run: {result.runner_error}")
        result_id = self.db.create_test_result(
            task_id,
            result.status,
            passed=result.passed,
            failed=result.failed,
            errors=result.errors,
            skipped=result.skipped,
            duration=result.duration,
            output=result.output,
            attempt=attempt,
            cases=result.cases,
        )
        self._execution.run_lines.append(_run_line(attempt, result))
        await bc.broadcast_test_result(
            self.ws_manager,
            self.project_id,
            task_id,
            result.status,
            passed=result.passed,
            failed=result.failed,
            errors=result.errors,
            skipped=result.skipped,
            duration=result.duration,
        )
        return RecordedRun(result_id, result)

    # -- self-correction ---------------------------------------------------------------

    async def _self_correction_loop(self, task: Mapping[str, Any], test_result_id: int) -> bool:
        """Up to three attempts to make failing tests pass; True when one succeeds."""
        task_id = task["id"]
        failing_id = test_result_id
        for attempt in range(1, MAX_CORRECTION_ATTEMPTS + 1):
            await bc.broadcast_correction_attempt(
                self.ws_manager,
                self.project_id,
                task_id,
                attempt,
                MAX_CORRECTION_ATTEMPTS,
                "in_progress",
            )
            fix = await self._attempt_self_correction(task, failing_id, attempt)
            rerun = await self._run_and_record_tests(task_id, attempt=attempt)
            self.db.create_correction_attempt(
                task_id,
                attempt,
                fix["error_analysis"],
                fix["fix_description"],
                fix["code_changes"],
                test_result_id=rerun.test_result_id,
            )
            mended = not rerun.result.is_failure
            await bc.broadcast_correction_attempt(
                self.ws_manager,
                self.project_id,
                task_id,
                attempt,
                MAX_CORRECTION_ATTEMPTS,
                "success" if mended else "failed",
                error_summary=None if mended else fix["error_analysis"][:300],
            )
            if mended:
                return True
            failing_id = rerun.test_result_id
        return False

    def _failing_run(self, task_id: int, test_result_id: int) -> tuple[dict[str, Any], list]:
        run = self.db.get_test_result(test_result_id)
        if run is None or run["task_id"] != task_id:
            raise ValueError(f"test result {test_result_id} does not belong to task {task_id}")
        return run, self.db.get_test_cases(test_result_id)

    async def _attempt_self_correction(
        self, task: Mapping[str, Any], test_result_id: int, attempt: int
    ) -> dict[str, Any]:
        """Show Claude the failure and the files in play, apply its fix; API errors propagate.

        An unusable reply or an unsafe path still uses up the attempt: it is recorded with
        ``no fix applied`` so the ledger shows what happened.
        """
        task_id = task["id"]
        run, cases = self._failing_run(task_id, test_result_id)
        analysis = _failure_summary(run, cases)
        in_play = list(self._execution.files_modified)
        for case in cases:
            if case["outcome"] in ("failed", "error"):
                test_file = case["node_id"].split("::", 1)[0]
                if test_file.endswith(".py") and test_file not in in_play:
                    in_play.append(test_file)
        prompt = prompts.correction_prompt(
            task,
            attempt=attempt,
            max_attempts=MAX_CORRECTION_ATTEMPTS,
            test_status=run["status"],
            failure_output=run.get("output") or "",
            files=prompts.read_files_in_play(self.project_root, in_play),
        )
        try:
            changes = await self._ask(prompt, task_id, attempt=attempt)
            written = self.apply_file_changes(changes["files"])
        except (ResponseFormatError, FileChangeError) as exc:
            logger.info("task %s correction %d unusable: %s", task_id, attempt, exc)
            return {
                "error_analysis": analysis,
                "fix_description": f"no fix applied: {type(exc).__name__}: {exc}",
                "code_changes": [],
            }
        self._execution.note_files([normalise_path(p).as_posix() for p in written])
        await self._activity(
            "correction_applied",
            f"correction {attempt} changed {', '.join(written) or 'no files'}",
            task_id,
        )
        return {
            "error_analysis": analysis,
            "fix_description": changes.get("explanation", ""),
            "code_changes": [dict(f) for f in changes["files"]],
        }

    # -- the whole task --------------------------------------------------------------

    async def execute_task(self, task: Mapping[str, Any]) -> ExecutionResult:
        """Run one task to ``completed``, ``failed`` or ``blocked``; cancellation is re-raised."""
        task = dict(task)
        task_id = task["id"]
        self._execution = _Execution()
        try:
            return await self._execute(task)
        except asyncio.CancelledError:
            await self._record_cancelled(task_id)
            raise
        except Exception as exc:
            if self._execution.result is not None:
                # The outcome is written; a fault while reporting it must not turn a
                # completed task into a failed one (and so into a retry).
                logger.error(
                    "task %s: error after its %s status was written:\n%s",
                    task_id,
                    self._execution.result["status"],
                    redacted_traceback(exc, (self.api_key,)),
                )
                return self._execution.result
            return await self._fail(task_id, exc)

    @property
    def recorded_result(self) -> ExecutionResult | None:
        """The current task's result once its final status is written, even if the worker
        is cancelled while reporting it (the lead settles a stopped task by it)."""
        return self._execution.result

    async def _execute(self, task: dict[str, Any]) -> ExecutionResult:
        task_id = task["id"]
        self.db.update_task(
            task_id, {"status": TaskStatus.IN_PROGRESS.value, "assigned_to": self.agent_id}
        )
        await bc.broadcast_task_status(
            self.ws_manager, self.project_id, task_id, "in_progress", agent_id=self.agent_id
        )
        await self._activity(
            "task_started", f"started task #{task_id}: {task.get('title')}", task_id
        )
        context = self.build_context(task)
        context["resolved_blockers"] = [
            b for b in self.db.get_blockers_by_task(task_id) if b.get("resolved_at")
        ]
        changes = await self.generate_code(context)
        self._execution.explanation = changes.get("explanation", "")
        written = self.apply_file_changes(changes["files"])
        self._execution.note_files([normalise_path(p).as_posix() for p in written])
        await self._activity(
            "files_changed", f"changed {', '.join(written) or 'no files'}", task_id
        )
        first = await self._run_and_record_tests(task_id, attempt=0)
        if first.result.is_failure and not await self._self_correction_loop(
            task, first.test_result_id
        ):
            return await self._block(task_id)
        return await self._complete(task_id)

    async def _complete(self, task_id: int) -> ExecutionResult:
        result = self._finish(task_id, TaskStatus.COMPLETED, error=None)
        await self._final_status(task_id, TaskStatus.COMPLETED)
        return result

    async def _block(self, task_id: int) -> ExecutionResult:
        runs = self.db.get_test_results_by_task(task_id)
        last = runs[-1]
        summary = _failure_summary(last, self.db.get_test_cases(last["id"]))
        reason = f"Tests still failing after {MAX_CORRECTION_ATTEMPTS} self-correction attempts: "
        reason += summary
        question = (
            "The agent could not make the tests pass. Is the task or the test wrong, "
            "or what should the implementation do differently?"
        )
        blocker_id = self.db.create_blocker(
            task_id, severity="sync", reason=reason, question=question
        )
        error = f"Blocked after {MAX_CORRECTION_ATTEMPTS} correction attempts: {reason}"
        result = self._finish(task_id, TaskStatus.BLOCKED, error=error)
        await bc.broadcast_blocker_created(
            self.ws_manager, self.project_id, blocker_id, task_id, "sync", reason, question
        )
        await bc.broadcast_task_blocked(self.ws_manager, self.project_id, task_id, [])
        await self._final_status(task_id, TaskStatus.BLOCKED)
        return result

    async def _fail(self, task_id: int, exc: Exception) -> ExecutionResult:
        failure = describe_failure(exc, api_key=self.api_key)
        logger.warning("task %s failed: %s", task_id, failure.message)
        result = self._finish(
            task_id, TaskStatus.FAILED, error=failure.message, retryable=failure.retryable
        )
        await self._activity("task_failed", failure.message, task_id)
        await self._final_status(task_id, TaskStatus.FAILED)
        return result

    def _finish(
        self, task_id: int, status: TaskStatus, *, error: str | None, retryable: bool = False
    ) -> ExecutionResult:
        """A final status, its output and error in one write; the result is kept from here."""
        output = self._execution.output()
        self.db.update_task(task_id, {"status": status.value, "output": output, "error": error})
        result: ExecutionResult = {
            "status": status.value,
            "files_modified": list(self._execution.files_modified),
            "output": output,
            "error": error,
        }
        if status is TaskStatus.FAILED:
            result["retryable"] = retryable
        self._execution.result = result
        return result

    async def _record_cancelled(self, task_id: int) -> None:
        """Write ``cancelled`` unless the task already ended; never raise over the cancel."""
        if self._execution.result is not None:
            return  # cancelled while reporting a final status: that status stands
        try:
            self.update_task_status(task_id, TaskStatus.CANCELLED, self._execution.output())
        except Exception:
            logger.exception("task %s: could not record the cancellation", task_id)
            return
        try:
            async with asyncio.timeout(_BROADCAST_BOUND_S):
                await bc.broadcast_task_status(
                    self.ws_manager,
                    self.project_id,
                    task_id,
                    "cancelled",
                    agent_id=self.agent_id,
                )
        except TimeoutError:
            logger.warning("task %s: the cancelled broadcast timed out", task_id)

    async def _final_status(self, task_id: int, status: TaskStatus) -> None:
        row = self.db.get_task(task_id) or {}
        await bc.broadcast_task_status(
            self.ws_manager,
            self.project_id,
            task_id,
            status.value,
            agent_id=self.agent_id,
            actual_tokens=row.get("actual_tokens") or 0,
        )

    async def _activity(self, kind: str, text: str, task_id: int | None = None) -> None:
        await bc.broadcast_activity_update(
            self.ws_manager, self.project_id, kind, text, task_id=task_id, agent_id=self.agent_id
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(agent_id={self.agent_id!r}, project_id={self.project_id})"
