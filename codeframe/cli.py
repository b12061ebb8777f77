"""The ``codeframe`` command line: ``codeframe demo`` runs the bundled demo in a terminal.

This is the one module that prints: its output is the product. Progress comes from the
same events the notebook panel consumes, through :class:`ConsoleProgress`, a broadcast
target that turns each interesting event into one line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from codeframe import __version__, enable_logging
from codeframe.errors import CodeframeError
from codeframe.llm.live import API_KEY_ENV
from codeframe.ui.events import (
    ActivityUpdate,
    BlockerCreated,
    CorrectionAttemptUpdate,
    ProgressUpdate,
    TaskAssigned,
    TaskBlocked,
    TaskStatusChanged,
    TestResultReported,
    event_from_message,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_TITLE_CHARS = 44
_REASON_CHARS = 200

# What the end-of-run tables show in a terminal (heading, frame, columns, widest cell);
# the frames hold every column.
TABLES: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    (
        "Tasks",
        "tasks_frame",
        ("task_id", "title", "status", "assigned_to", "depends_on", "attempts",
         "last_test_status", "actual_tokens"),
        60,
    ),
    (
        "Test results",
        "test_results_frame",
        ("test_result_id", "task_id", "task_title", "attempt", "status", "passed", "failed",
         "errors", "total", "duration_s"),
        60,
    ),
    (
        "Correction attempts",
        "correction_attempts_frame",
        ("attempt_id", "task_id", "task_title", "attempt_number", "test_status", "files",
         "fix_description"),
        60,
    ),
    (
        "Blockers",
        "blockers_frame",
        ("blocker_id", "task_id", "severity", "reason"),
        160,
    ),
)  # fmt: skip


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ConsoleProgress:
    """A broadcast target that prints one readable line per interesting event.

    Lines start with the seconds since the printer was made; ``clock`` is injectable so
    tests can pin them.
    """

    def __init__(
        self, stream: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
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
        print(f"[{elapsed:6.1f}s] {line}", file=self.stream or sys.stdout, flush=True)
        self.lines += 1

    def _task(self, task_id: int | None, title: str | None = None) -> str:
        if task_id is not None and title:
            self._titles[task_id] = str(title)
        known = self._titles.get(task_id) if task_id is not None else None
        return f"#{task_id} {_clip(known, _TITLE_CHARS)}" if known else f"#{task_id}"

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
                    f"{self._task(task_id)}: blocker ({event.severity}) — "
                    f"{_clip(event.reason, _REASON_CHARS)}"
                )
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
            return f"{task}: completed ({event.actual_tokens or 0:,} tokens)"
        if status in ("blocked", "failed", "cancelled"):
            return f"{task}: {str(status).upper()}"
        return None

    def _correction_line(self, event: CorrectionAttemptUpdate) -> str:
        task = self._task(event.task_id)
        n, of = event.attempt_number, event.max_attempts
        if event.status == "in_progress":
            return f"{task}: self-correction attempt {n}/{of} — asking for a fix"
        if event.status == "success":
            return f"{task}: self-correction attempt {n}/{of} made the tests pass"
        return f"{task}: self-correction attempt {n}/{of} did not fix the tests"


# -- the demo command ----------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codeframe",
        description="Asynchronous LLM coding agents that live in Jupyter.",
    )
    parser.add_argument("--version", action="version", version=f"codeframe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run the bundled demo on a copy of its sample project",
        description=(
            "Copy the bookshelf sample project to a work folder and let the lead agent and "
            "its workers run nine tasks on it, then print the tasks, test results, "
            "correction attempts and blockers. Offline (a scripted Claude) unless --live."
        ),
    )
    demo.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="work folder (default: ./codeframe-demo); a previous demo folder is reused",
    )
    demo.add_argument(
        "--live",
        action="store_true",
        help=f"ask Claude instead of the scripted replies (needs {API_KEY_ENV})",
    )
    demo.add_argument(
        "--concurrency", type=_positive_int, default=4, metavar="N",
        help="tasks run at once (default: 4)",
    )  # fmt: skip
    demo.add_argument("-v", "--verbose", action="store_true", help="also show log messages")
    return parser


# The command's heavier imports (pandas, the agents) wait until a command needs them, so
# `codeframe --help` answers at once.


def _print_plan(workdir: Path, live: bool, concurrency: int) -> None:
    from codeframe.demo.tasks import DEMO_TASKS

    mode = "live (Claude)" if live else "offline (scripted Claude, no network)"
    print(f"codeframe demo — {mode}; work folder {workdir}; up to {concurrency} tasks at once")
    for task in DEMO_TASKS:
        after = f" (after {', '.join(task.depends_on)})" if task.depends_on else ""
        print(f"  {task.number}. [{task.worker}] {task.title}{after}")
    print(flush=True)


def _for_terminal(frame: Any, width: int) -> Any:
    """Text cells clipped to ``width`` and aligned left (as prose reads), headers with them."""
    shown = frame.copy()
    renames = {}
    for name in frame.columns:
        if frame[name].dtype.kind in "iufcmM" or str(frame[name].dtype) == "category":
            continue
        missing = frame[name].isna().tolist()
        cells = [
            "" if gap else _clip(value, width)
            for value, gap in zip(frame[name].tolist(), missing, strict=True)
        ]
        pad = max([len(str(name)), *map(len, cells)])
        shown[name] = [cell.ljust(pad) for cell in cells]
        renames[name] = str(name).ljust(pad)
    return shown.rename(columns=renames)


def print_tables(db: Any, project_id: int, stream: TextIO | None = None) -> None:
    """The four tables of a run, as pandas text, for a terminal."""
    from codeframe.notebook import frames

    out = stream or sys.stdout
    for heading, function, columns, width in TABLES:
        frame = getattr(frames, function)(db, project_id)[list(columns)]
        print(f"\n== {heading} ==", file=out)
        if frame.empty:
            print("(none)", file=out)
            continue
        shown = _for_terminal(frame, width)
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.2f}"), file=out)
    out.flush()


def _demo(args: argparse.Namespace) -> int:
    from codeframe.demo.runner import DEFAULT_WORKDIR, DemoWorkdirError, check_workdir, run_demo
    from codeframe.persistence.database import Database

    if args.live and not os.environ.get(API_KEY_ENV, "").strip():
        print(
            f"codeframe demo: --live needs the {API_KEY_ENV} environment variable (your "
            "Claude API key); without --live the demo runs offline.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.verbose:
        enable_logging(logging.INFO)
    try:
        workdir = check_workdir(args.workdir or DEFAULT_WORKDIR)
    except DemoWorkdirError as exc:
        print(f"codeframe demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _print_plan(workdir, args.live, args.concurrency)
    progress = ConsoleProgress()
    started = time.monotonic()
    try:
        result = asyncio.run(
            run_demo(workdir, live=args.live, ws_manager=progress, max_concurrent=args.concurrency)
        )
    except DemoWorkdirError as exc:
        print(f"codeframe demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CodeframeError as exc:
        print(f"codeframe demo: the run stopped: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("codeframe demo: interrupted; running tasks were cancelled.", file=sys.stderr)
        return EXIT_INTERRUPTED
    with Database(result.db_path) as db:
        print_tables(db, result.project_id)
    summary = result.summary
    print(
        f"\nDemo finished in {time.monotonic() - started:.1f} s: {summary['completed']} "
        f"completed, {summary['blocked']} blocked, {summary['failed']} failed, "
        f"{summary['cancelled']} cancelled."
    )
    print(f"Work folder: {result.workdir} (the project copy and {result.db_path.name}).")
    print(
        "In Python: codeframe.notebook.tasks_frame(codeframe.persistence.database.Database("
        f"{str(result.db_path)!r})) and the other frames.",
        flush=True,
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``codeframe`` console script and ``python -m codeframe``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


__all__ = ["TABLES", "ConsoleProgress", "build_parser", "main", "print_tables"]
