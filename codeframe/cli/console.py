"""Live progress in a terminal: one readable line per interesting event.

:class:`ConsoleProgress` is a broadcast target, like the notebook panel: it consumes the same
typed events (:mod:`codeframe.ui.events`) and prints instead of drawing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from codeframe.llm.pricing import format_usd
from codeframe.redaction import redact
from codeframe.ui.events import (
    ActivityUpdate,
    BlockerCreated,
    CorrectionAttemptUpdate,
    ProgressUpdate,
    TaskAssigned,
    TaskBlocked,
    TaskStatusChanged,
    TaskUnblocked,
    TestResultReported,
    event_from_message,
)

_TITLE_CHARS = 44
_REASON_CHARS = 200


def clip(text: object, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ConsoleProgress:
    """A broadcast target that prints one readable line per interesting event.

    Lines start with the seconds since the printer was made; ``clock`` is injectable so
    tests can pin them. ``simulated`` says the run's model calls are offline, so token
    counts are labelled simulated rather than priced.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        simulated: bool = False,
    ) -> None:
        self.stream = stream
        self.simulated = simulated
        self._clock = clock
        self._started = clock()
        self._titles: dict[int, str] = {}
        self._last_progress: tuple[Any, Any] | None = None
        self.lines = 0

    async def broadcast(self, message: Mapping[str, Any]) -> None:
        line = self.describe(message)
        if line is None:
            return
        elapsed = self._clock() - self._started
        # Reasons and titles can quote test output; a key in it must not reach the terminal.
        print(f"[{elapsed:6.1f}s] {redact(line)}", file=self.stream or sys.stdout, flush=True)
        self.lines += 1

    def _task(self, task_id: int | None, title: str | None = None) -> str:
        if task_id is not None and title:
            self._titles[task_id] = str(title)
        known = self._titles.get(task_id) if task_id is not None else None
        return f"#{task_id} {clip(known, _TITLE_CHARS)}" if known else f"#{task_id}"

    def describe(self, message: Mapping[str, Any]) -> str | None:
        """The line for one event, or ``None`` for events not worth a line."""
        try:
            event = event_from_message(message)
        except (KeyError, TypeError):
            return None  # not one of ours, or not whole: nothing worth a line
        match event:
            case (
                TaskAssigned(task_id=task_id, task_title=title)
                | TaskBlocked(task_id=task_id, task_title=title)
            ):
                self._task(task_id, title)  # only learn the title; the status line follows
                return None
            case TaskStatusChanged():
                return self._status_line(event)
            case TestResultReported(task_id=task_id):
                return (
                    f"{self._task(task_id)}: tests {event.status} — {event.passed} passed, "
                    f"{event.failed} failed, {event.errors} errors ({event.duration:.2f} s)"
                )
            case CorrectionAttemptUpdate():
                return self._correction_line(event)
            case BlockerCreated(task_id=task_id):
                return (
                    f"{self._task(task_id)}: blocker {event.blocker_id} ({event.severity}) — "
                    f"{clip(event.reason, _REASON_CHARS)}"
                )
            case TaskUnblocked(task_id=task_id, task_title=title, unblocked_by=upstream):
                why = (
                    "its blocker was answered"
                    if upstream is None
                    else f"task #{upstream} completed"
                )
                return f"{self._task(task_id, title)}: pending again ({why})"
            case ProgressUpdate(completed=done, total=total):
                if (done, total) == self._last_progress:
                    return None  # the lead agent re-announces the final count; once is enough
                self._last_progress = (done, total)
                percentage = message.get("percentage", 0)
                return f"progress {done}/{total} tasks done ({percentage}%)"
            case ActivityUpdate(activity_type="task_retry", message=text):
                return str(text)
        return None

    def _status_line(self, event: TaskStatusChanged) -> str | None:
        status = event.status
        task = self._task(event.task_id, event.task_title)
        if status == "in_progress":
            return f"{task}: started by {event.agent_id or 'a worker'}"
        if status == "completed":
            return f"{task}: completed ({self._spend(event)})"
        if status in ("blocked", "failed", "cancelled"):
            return f"{task}: {str(status).upper()}"
        return None

    def _spend(self, event: TaskStatusChanged) -> str:
        tokens = f"{event.actual_tokens or 0:,}"
        if self.simulated:
            return f"{tokens} simulated tokens"
        if event.cost_usd is None:
            return f"{tokens} tokens"
        return f"{tokens} tokens, {format_usd(event.cost_usd)}"

    def _correction_line(self, event: CorrectionAttemptUpdate) -> str:
        task = self._task(event.task_id)
        n, of = event.attempt_number, event.max_attempts
        if event.status == "in_progress":
            return f"{task}: self-correction attempt {n}/{of} — asking for a fix"
        if event.status == "success":
            return f"{task}: self-correction attempt {n}/{of} made the tests pass"
        return f"{task}: self-correction attempt {n}/{of} did not fix the tests"


__all__ = ["ConsoleProgress", "clip"]
