"""``codeframe retry [ID ...]``: put failed tasks back to pending for the next run.

A task fails for good when its failure is not worth retrying on its own (a replay miss, a
rejected key, a request Claude refused) or when the run's retries are used up. Once the
cause is mended, this puts it back; tasks blocked on it are released when it completes.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from codeframe.cli.exits import EXIT_OK
from codeframe.cli.location import (
    STATE_DIR,
    add_location_options,
    locate,
    open_project,
)
from codeframe.cli.options import positive_int
from codeframe.cli.tables import print_lines
from codeframe.errors import (
    CommandLineError,
    InvalidInputError,
    NotFoundError,
    RunInProgressError,
)


def add_retry_parser(commands: Any) -> None:
    retry = commands.add_parser(
        "retry",
        help="put failed tasks back to pending; the next `codeframe run` retries them",
        description=(
            "Put the failed tasks with these IDs (all failed tasks when none is given) back to "
            "pending; the next `codeframe run` runs them again, and tasks blocked on them are "
            "released once they complete. The project is --project (default: the current "
            f"folder); its database is PROJECT/{STATE_DIR}/codeframe.db unless --db names "
            "another."
        ),
    )
    retry.add_argument(
        "task_ids",
        nargs="*",
        type=positive_int,
        metavar="ID",
        help="task ids (default: all failed)",
    )
    add_location_options(retry)
    retry.set_defaults(handler=retry_command)


def retry_command(args: argparse.Namespace) -> int:
    location = locate(args)
    opened = open_project(location)
    if opened is None:  # as `cleanup` and `status` say it: nothing to do
        print_lines([f"No failed task: {location.project_dir} has no tasks yet."])
        return EXIT_OK
    db, project = opened
    with db:
        from codeframe.agents.lead_agent import LeadAgent

        lead = LeadAgent(int(project["id"]), db, project_root=location.project_dir)
        try:
            retried = asyncio.run(lead.retry_failed(args.task_ids or None))
        # No such task; not failed; a live run.
        except (NotFoundError, InvalidInputError, RunInProgressError) as exc:
            raise CommandLineError(str(exc)) from None
    if not retried:
        print_lines(["No failed task: nothing to retry."])
        return EXIT_OK
    listed = ", ".join(f"#{task_id}" for task_id in retried)
    print_lines(
        [
            f"Pending again: {listed}. The next `codeframe run TASKS_FILE{location.options()}` "
            "runs them."
        ]
    )
    return EXIT_OK


__all__ = ["add_retry_parser", "retry_command"]
