"""What the panel's header says about a finished background run or clean-up.

Any exception text shown goes into the header, the static HTML saved in the notebook and
the log, so a key value in it is masked first.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from codeframe.notebook.html import format_elapsed
from codeframe.redaction import redact, redacted_traceback

logger = logging.getLogger(__name__)


def close_unstarted(work: object) -> None:
    """Close a coroutine we refuse to run, which would otherwise warn "never awaited"."""
    if inspect.iscoroutine(work):
        work.close()


def summary_line(result: object) -> str:
    """One line for a run's summary dict."""
    if isinstance(result, Mapping) and "total_tasks" in result:
        seconds = float(result.get("execution_time") or 0.0)
        return (
            f"finished: {result.get('completed', 0)} completed, {result.get('failed', 0)} failed, "
            f"{result.get('blocked', 0)} blocked, {result.get('cancelled', 0)} cancelled "
            f"in {format_elapsed(seconds)}"
        )
    return "finished"


def failure_line(what: str, exc: BaseException) -> str:
    """The header line for work that raised ``exc``, logged in full (redacted) once."""
    logger.error("%s failed:\n%s", what, redacted_traceback(exc))
    return redact(f"failed: {type(exc).__name__}: {exc}")


def run_outcome(task: asyncio.Task[Any]) -> tuple[str, bool]:
    """The header line for a finished run and whether it is an error."""
    if task.cancelled():
        return "stopped: running tasks were cancelled", False
    exc = task.exception()
    if exc is None:
        return summary_line(task.result()), False
    return failure_line("the background run", exc), True


def cleanup_line(removed: Sequence[Any]) -> str:
    """The header line after the finished tasks' worktrees and branches were removed."""
    tasks = sorted({str(item.task_id) for item in removed if item.task_id is not None})
    if not removed:
        return "cleaned up: nothing of finished tasks was left to remove"
    named = f" (tasks {', '.join(tasks)})" if tasks else ""
    return f"cleaned up: {len(removed)} worktrees and branches of finished tasks removed{named}"


__all__ = ["cleanup_line", "close_unstarted", "failure_line", "run_outcome", "summary_line"]
