"""``codeframe demo``: the bundled demo in a terminal, offline unless ``--live``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from codeframe import enable_logging
from codeframe.cli.console import ConsoleProgress
from codeframe.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from codeframe.cli.options import positive_int
from codeframe.cli.tables import print_tables
from codeframe.errors import CodeframeError
from codeframe.llm.live import API_KEY_ENV


def add_demo_parser(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the bundled demo on a copy of its sample project",
        description=(
            "Copy the bookshelf sample project to a work folder (made a git repository) and "
            "let the lead agent and its workers run nine tasks on it, each in a worktree of "
            "its own, then print the tasks, test results, correction attempts, blockers and "
            "commits. Offline (a scripted Claude) unless --live."
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
        "--concurrency", type=positive_int, default=4, metavar="N",
        help="tasks run at once (default: 4)",
    )  # fmt: skip
    demo.add_argument("-v", "--verbose", action="store_true", help="also show log messages")
    demo.set_defaults(handler=demo_command)


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


def demo_command(args: argparse.Namespace) -> int:
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
    progress = ConsoleProgress(simulated=not args.live)
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
        committed = bool(db.commit_rows(result.project_id))
    summary = result.summary
    print(
        f"\nDemo finished in {time.monotonic() - started:.1f} s: {summary['completed']} "
        f"completed, {summary['blocked']} blocked, {summary['failed']} failed, "
        f"{summary['cancelled']} cancelled."
    )
    print(f"Work folder: {result.workdir} (the project copy and {result.db_path.name}).")
    if committed:
        print(f"Each passing task is a commit: git -C {result.project_root} log --oneline")
    print(
        "In Python: codeframe.notebook.tasks_frame(codeframe.persistence.database.Database("
        f"{str(result.db_path)!r})) and the other frames.",
        flush=True,
    )
    return EXIT_OK


__all__ = ["add_demo_parser", "demo_command"]
