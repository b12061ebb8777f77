"""``codeframe cleanup``: remove the worktrees and branches kept for finished tasks.

A blocked or failed task keeps its git worktree and branch for inspection; once a human has
looked (or the task completed later), this removes them, as the panel's **Clean up** button
does. Nothing of a task that is still to run is touched, and a live run is never disturbed.
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
from codeframe.cli.tables import print_lines
from codeframe.errors import CommandLineError, RunInProgressError


def add_cleanup_parser(commands: Any) -> None:
    cleanup = commands.add_parser(
        "cleanup",
        help="remove the git worktrees and branches kept for finished tasks",
        description=(
            "Remove the worktrees (under PROJECT/.codeframe/worktrees) and the codeframe/task-N "
            "branches kept for tasks that are completed, blocked or failed (a cancelled task's "
            "are kept: the next run reuses them). Refused "
            "while a run of the project is live. The project is --project (default: the "
            f"current folder); its database is PROJECT/{STATE_DIR}/codeframe.db unless --db "
            "names another."
        ),
    )
    add_location_options(cleanup)
    cleanup.set_defaults(handler=cleanup_command)


def cleanup_command(args: argparse.Namespace) -> int:
    location = locate(args)
    opened = open_project(location)
    if opened is None:
        print_lines([f"Nothing to clean up: {location.project_dir} has no tasks yet."])
        return EXIT_OK
    db, project = opened
    with db:
        from codeframe.agents.lead_agent import LeadAgent

        lead = LeadAgent(int(project["id"]), db, project_root=location.project_dir)
        try:
            removed = asyncio.run(lead.cleanup_workspaces())
        except RunInProgressError as exc:
            raise CommandLineError(f"not now: {exc}") from None
    if not removed:
        print_lines([f"Nothing to clean up in {location.project_dir}."])
        return EXIT_OK
    lines = [
        f"Removed {_what(item)} of task #{item.task_id}."
        if item.task_id is not None
        else f"Removed the idle worktree {item.path}."
        for item in removed
    ]
    print_lines(lines)
    return EXIT_OK


def _what(item: Any) -> str:
    parts = []
    if item.path is not None:
        parts.append(f"worktree {item.path}")
    if item.branch is not None:
        parts.append(f"branch {item.branch}")
    return " and ".join(parts) or "what was left"


__all__ = ["add_cleanup_parser", "cleanup_command"]
