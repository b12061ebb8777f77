"""``codeframe run TASKS_FILE``: a hand-written task list, run by the lead agent in a folder.

Everything the user gave is checked before anything is created: the folder, the whole task
list, the prices file, the Claude mode and its key or cassette. Then the folder's project is
found or created, the list's new tasks are added, and the lead agent runs every pending task
of the project with live progress, ending with the tasks table, the cost, and the blockers
left to answer.

Running a list again is safe: a task whose number is already in the project is kept as it is
(its status, attempts and answers stand) and only new numbers are added, so an edited list
can grow. The run then works on every pending task of the project: new ones, ones released
by an answer, and ones a stopped run left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codeframe import enable_logging
from codeframe.cli.clients import ChosenClient, choose_client
from codeframe.cli.console import ConsoleProgress, clip
from codeframe.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from codeframe.cli.location import (
    STATE_DIR,
    Location,
    add_location_options,
    locate,
    prepare_state_dir,
)
from codeframe.cli.options import dollars, positive_int
from codeframe.cli.prices_file import load_prices_file
from codeframe.cli.tables import (
    blocker_lines,
    cost_text,
    counts_text,
    print_lines,
    status_counts,
    task_lines,
)
from codeframe.cli.tasks_file import TaskSpec, load_tasks_file
from codeframe.core.models import TaskStatus
from codeframe.errors import (
    CodeframeError,
    CommandLineError,
    DetachedHeadError,
    DirtyWorkingTreeError,
)
from codeframe.llm.live import API_KEY_ENV, MODEL_ENV
from codeframe.llm.pricing import format_usd

DEFAULT_CONCURRENCY = 4

_DESCRIPTION = f"""\
Run a task list (TOML or YAML) on a project folder. The list is checked whole first; then
the folder's project is found or created in the database, tasks with new numbers are added
(a number already in the project keeps its task as it is, so running the list again never
duplicates it), and the lead agent runs every pending task of the project.

Claude: --live (needs {API_KEY_ENV}), --record CASSETTE (live, and every call is written to
CASSETTE), or --replay CASSETTE (offline, no key). With none of them the run is live when
{API_KEY_ENV} is set. The model is ${MODEL_ENV} or the default.

The database is PROJECT/{STATE_DIR}/codeframe.db unless --db says otherwise; `codeframe
status`, `blockers`, `answer`, `retry` and `cleanup` find it the same way. Exit status: 0
when every task completed, 1 when some did not, 2 when nothing was run (a usage error, a
list that does not check, uncommitted changes or a detached HEAD), 130 on Ctrl-C (running
tasks are cancelled; the next run picks them up).
"""

_EXAMPLE = """\
example tasks.toml:
  [[tasks]]
  title = "Add a multiply function to calc.py"
  worker = "backend"

  [[tasks]]
  title = "Test multiply with negative numbers"
  worker = "test"
  depends_on = [1]

fields: title (required), description, number (default: position from 1), depends_on
(task numbers), worker (backend, frontend or test), priority (0 first .. 4), budget_usd
"""


def add_run_parser(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run a TOML or YAML task list on a project folder",
        description=_DESCRIPTION,
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "tasks_file", type=Path, metavar="TASKS_FILE", help="a .toml, .yaml or .yml task list"
    )
    add_location_options(run)
    run.add_argument(
        "--concurrency", type=positive_int, default=DEFAULT_CONCURRENCY, metavar="N",
        help=f"tasks run at once (default: {DEFAULT_CONCURRENCY})",
    )  # fmt: skip
    run.add_argument(
        "--budget", type=dollars, default=None, metavar="USD",
        help="most this run may spend on Claude; once reached no new task starts",
    )  # fmt: skip
    run.add_argument(
        "--task-budget", type=dollars, default=None, metavar="USD",
        help="most each task may spend (a task's own budget_usd wins); a task that would pass "
        "it is blocked with a budget blocker you answer with a new figure",
    )  # fmt: skip
    run.add_argument(
        "--prices", type=Path, default=None, metavar="FILE",
        help="TOML/YAML prices per million tokens, added to the built-in table: "
        '["model-id"] input, output, cache_write, cache_read (a model it lacks, your own '
        "rates, or codeframe-offline to rehearse a budget with --replay)",
    )  # fmt: skip
    run.add_argument(
        "--commit-dirty", action="store_true",
        help="in a git repository, commit uncommitted changes first (else they stop the run)",
    )  # fmt: skip
    run.add_argument(
        "--python", type=Path, default=None, metavar="PATH",
        help="the interpreter that runs the project's tests (default: the one running codeframe)",
    )  # fmt: skip
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--live", action="store_true", help=f"ask Claude (needs {API_KEY_ENV})")
    mode.add_argument(
        "--record", type=Path, default=None, metavar="CASSETTE",
        help="ask Claude and write every call to CASSETTE (a new file) for --replay",
    )  # fmt: skip
    mode.add_argument(
        "--replay", type=Path, default=None, metavar="CASSETTE",
        help="offline: answer from a recorded CASSETTE (no key, no network)",
    )  # fmt: skip
    run.add_argument("-v", "--verbose", action="store_true", help="also show log messages")
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Check, set up and run; returns the exit status."""
    location = locate(args)
    specs = load_tasks_file(args.tasks_file)
    prices = None
    if args.prices is not None:
        from codeframe.llm.pricing import PriceTable

        prices = PriceTable.default().with_prices(load_prices_file(args.prices))
    if args.python is not None and not args.python.exists():
        raise CommandLineError(f"--python {args.python}: no such interpreter")
    choice = choose_client(
        live=args.live, record=args.record, replay=args.replay, project_root=location.project_dir
    )
    if args.verbose:
        enable_logging(logging.INFO)

    from codeframe.persistence.database import Database

    prepare_state_dir(location)
    try:
        db = Database(location.db_path)
    except CodeframeError as exc:
        raise CommandLineError(f"cannot use the database {location.db_path}: {exc}") from None
    with db:
        project_id = db.get_or_create_project(
            location.project_dir.name or str(location.project_dir),
            workspace_path=location.project_dir,
            description=f"Tasks run by `codeframe run` in {location.project_dir}",
        )
        added, kept = add_new_tasks(db, project_id, specs)
        _print_header(db, location, project_id, choice, args, added, kept)
        progress = ConsoleProgress(simulated=choice.simulated)
        started = time.monotonic()
        try:
            summary = asyncio.run(
                _execute(db, project_id, location, choice, args, prices, progress)
            )
        except KeyboardInterrupt:
            print_lines(["", "== Tasks ==", *task_lines(db, project_id)])
            print(
                "codeframe run: interrupted; running tasks were cancelled (the next run "
                "picks them up).",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        except DirtyWorkingTreeError as exc:  # before any task ran: the user's to settle
            paths = ", ".join(exc.paths) or "some files"
            print(
                f"codeframe run: uncommitted changes in {location.project_dir}: {paths}; each "
                "task works on a commit, so commit or stash them, or run again with "
                "--commit-dirty to commit them first. Nothing was run (the tasks were added).",
                file=sys.stderr,
            )
            return EXIT_USAGE
        except DetachedHeadError as exc:
            print(f"codeframe run: {exc}. Nothing was run (the tasks were added).", file=sys.stderr)
            return EXIT_USAGE
        except CodeframeError as exc:
            print(f"codeframe run: the run stopped: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return _report(db, project_id, location, args, summary, time.monotonic() - started)


def add_new_tasks(
    db: Any, project_id: int, specs: Sequence[TaskSpec]
) -> tuple[list[TaskSpec], list[tuple[TaskSpec, dict[str, Any]]]]:
    """Create the specs whose number the project does not have yet.

    Returns the added specs and the kept ones, each with the project's task of that number.
    A new task may depend on a kept one: the database resolves numbers within the project.
    """
    existing: dict[str, dict[str, Any]] = {}
    for task in db.get_project_tasks(project_id):
        if task.get("task_number") is not None:
            existing.setdefault(str(task["task_number"]), task)
    added = [spec for spec in specs if str(spec.number) not in existing]
    kept = [(spec, existing[str(spec.number)]) for spec in specs if str(spec.number) in existing]
    if added:
        try:
            db.create_tasks(project_id, [spec.create_spec() for spec in added])
        except CodeframeError as exc:  # e.g. a number the project holds twice
            raise CommandLineError(f"cannot add the new tasks: {exc}") from None
    return added, kept


async def _execute(
    db: Any,
    project_id: int,
    location: Location,
    choice: ChosenClient,
    args: argparse.Namespace,
    prices: Any,
    progress: ConsoleProgress,
) -> dict[str, Any]:
    from codeframe.agents.lead_agent import LeadAgent
    from codeframe.testing.test_runner import TestRunner

    client = choice.make()
    try:
        # Closing the runner shuts its warm pytest helper down, so the command exits at once.
        async with TestRunner(location.project_dir, python=args.python) as runner:
            lead = LeadAgent(
                project_id,
                db,
                api_key=choice.api_key,
                ws_manager=progress,
                client=client,
                project_root=location.project_dir,
                test_runner=runner,
                prices=prices,
                # The pool's default cap (10) would quietly lower a larger --concurrency.
                max_agents=max(10, args.concurrency),
                commit_dirty=args.commit_dirty,
            )
            return await lead.start_multi_agent_execution(
                max_concurrent=args.concurrency,
                budget_usd=args.budget,
                task_budget_usd=args.task_budget,
            )
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            await close()


def _print_header(
    db: Any,
    location: Location,
    project_id: int,
    choice: ChosenClient,
    args: argparse.Namespace,
    added: list[TaskSpec],
    kept: list[tuple[TaskSpec, dict[str, Any]]],
) -> None:
    lines = [
        f"codeframe run — {choice.description}",
        f"project {location.project_dir} (id {project_id}); database {location.db_path}",
        f"{args.tasks_file}: {len(added)} new task(s) added, {len(kept)} already in the "
        "project (kept as they are)",
    ]
    for spec, task in kept:
        if task["title"] != spec.title:
            lines.append(
                f"  note: task {spec.number} is {clip(task['title'], 50)!r} in the project; the "
                f"file now says {clip(spec.title, 50)!r}. The project's task is kept: give a "
                "new task a new number."
            )
    lines.append(f"before the run: {counts_text(status_counts(db, project_id))}")
    limits = [f"up to {args.concurrency} tasks at once"]
    if args.budget is not None:
        limits.append(f"run budget {format_usd(args.budget)}")
    if args.task_budget is not None:
        limits.append(f"task budget {format_usd(args.task_budget)}")
    lines.append("; ".join(limits))
    print_lines([*lines, ""])


def _report(
    db: Any,
    project_id: int,
    location: Location,
    args: argparse.Namespace,
    summary: dict[str, Any],
    elapsed: float,
) -> int:
    counts = status_counts(db, project_id)
    cost = cost_text(
        float(summary.get("cost_usd") or 0.0), simulated=bool(summary.get("simulated"))
    )
    lines = ["", "== Tasks ==", *task_lines(db, project_id), ""]
    lines.append(f"Run finished in {elapsed:.1f} s. {counts_text(counts)}. This run cost {cost}.")
    if summary.get("budget_reached"):
        lines.append(
            f"Budget reached: the run's budget of {format_usd(summary.get('budget_usd'))} is "
            "spent (or too little is left for another call); tasks not started stay pending. "
            "Run again with a larger --budget to go on."
        )
    failed = db.get_project_tasks(project_id, TaskStatus.FAILED)
    lines += [
        f"task #{task['id']} failed: {clip(task.get('error') or 'no error recorded', 300)}"
        for task in failed
    ]
    options = location.options()
    if failed:
        lines.append(
            f"Failed tasks stay failed: once the cause is mended, `codeframe retry{options}` "
            "puts them back to pending for the next run."
        )
    blockers = blocker_lines(db, project_id, answer_options=options)
    if blockers:
        lines += ["", "== Open blockers (answer with `codeframe answer ID TEXT`) ==", *blockers]
        # The same client: a replayed run's next run replays too (a key may not be set).
        replay = "" if args.replay is None else f" --replay {shlex.quote(str(args.replay))}"
        lines.append(
            f"Then run the list again (codeframe run {shlex.quote(str(args.tasks_file))}"
            f"{options}{replay}) to carry on."
        )
    print_lines(lines)
    done = counts[TaskStatus.COMPLETED] == sum(counts.values())
    return EXIT_OK if done else EXIT_FAILED


__all__ = ["DEFAULT_CONCURRENCY", "add_new_tasks", "add_run_parser", "run_command"]
