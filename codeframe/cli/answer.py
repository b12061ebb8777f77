"""``codeframe answer ID TEXT``: answer a blocker as a human, as the notebook panel does.

The answer goes through :meth:`LeadAgent.answer_blocker`: the blocker is resolved and, if it
was its task's last, the task is ``pending`` again, for the next ``codeframe run``. A budget
blocker's answer is the task's new budget and must hold a dollar figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from codeframe.cli.exits import EXIT_OK
from codeframe.cli.location import (
    STATE_DIR,
    Location,
    add_location_options,
    find_project,
    locate,
    open_existing,
)
from codeframe.cli.options import positive_int
from codeframe.cli.tables import print_lines
from codeframe.core.models import BlockerType, TaskStatus
from codeframe.errors import CommandLineError, InvalidInputError
from codeframe.llm.pricing import format_usd


def add_answer_parser(commands: Any) -> None:
    answer = commands.add_parser(
        "answer",
        help="answer an open blocker; its task runs again in the next `codeframe run`",
        description=(
            "Answer blocker ID (see `codeframe blockers`). When it was its task's last open "
            "blocker the task is pending again and the next `codeframe run` runs it. A budget "
            "blocker is answered with the task's new budget in dollars (e.g. 2.50). The "
            "project is --project (default: the current folder); its database is "
            f"PROJECT/{STATE_DIR}/codeframe.db unless --db names another."
        ),
    )
    answer.add_argument("blocker_id", type=positive_int, metavar="ID", help="the blocker's id")
    answer.add_argument(
        "text", nargs="+", metavar="TEXT",
        help="the answer; several words need no quotes",
    )  # fmt: skip
    add_location_options(answer)
    answer.set_defaults(handler=answer_command)


def answer_command(args: argparse.Namespace) -> int:
    location = locate(args)
    text = " ".join(args.text).strip()
    if not text:
        raise CommandLineError("an answer needs some text")
    blocker_id: int = args.blocker_id
    db = open_existing(location)
    if db is None:
        raise CommandLineError(
            f"no blocker {blocker_id}: {location.project_dir} has no codeframe database yet "
            f"({location.db_path})"
        )
    with db:
        project_id = _project_of_blocker(db, blocker_id, location)
        from codeframe.agents.lead_agent import LeadAgent

        lead = LeadAgent(project_id, db, project_root=location.project_dir)
        try:
            answered = asyncio.run(lead.answer_blocker(blocker_id, text))
        except InvalidInputError as exc:  # a budget answer without a figure
            raise CommandLineError(str(exc)) from None
        if answered is None:
            blocker = db.get_blocker(blocker_id) or {}
            print_lines(
                [
                    f"Blocker {blocker_id} was already answered (by {blocker.get('resolved_by')}"
                    f" at {blocker.get('resolved_at')}: {blocker.get('resolution')!r}); nothing "
                    "changed."
                ]
            )
            return EXIT_OK
        task = db.get_task(answered.task_id) or {}
        lines = [
            f"Answered blocker {blocker_id} of task #{answered.task_id} {answered.task_title!r}."
        ]
        if answered.blocker_type == BlockerType.BUDGET:
            lines.append(f"Its budget is now {format_usd(task.get('budget_usd'))}.")
        lines.append(_what_next(db, answered, task, location))
        lines += _live_run_note(db, project_id)
        print_lines(lines)
    return EXIT_OK


def _project_of_blocker(db: Any, blocker_id: int, location: Location) -> int:
    """The id of the folder's project, which must hold the blocker."""
    blocker = db.get_blocker(blocker_id)
    task = db.get_task(blocker["task_id"]) if blocker is not None else None
    if task is None:
        raise CommandLineError(f"no blocker {blocker_id} in {location.db_path}")
    project = find_project(db, location.project_dir)
    if project is None or int(project["id"]) != int(task["project_id"]):
        owner = db.get_project(task["project_id"]) or {}
        raise CommandLineError(
            f"blocker {blocker_id} belongs to the project in {owner.get('workspace_path')}, "
            f"not to {location.project_dir}; pass --project with that folder"
        )
    return int(project["id"])


def _what_next(db: Any, answered: Any, task: dict[str, Any], location: Location) -> str:
    task_id = answered.task_id
    if answered.released:
        return (
            f"Task #{task_id} is pending again: the next `codeframe run TASKS_FILE"
            f"{location.options()}` runs it."
        )
    still_open = [b["id"] for b in db.get_blockers_by_task(task_id) if b["resolved_at"] is None]
    if still_open:
        ids = ", ".join(map(str, still_open))
        return f"Task #{task_id} is still blocked: it has other open blockers ({ids})."
    status = task.get("status")
    if status == TaskStatus.BLOCKED:
        return f"Task #{task_id} is still blocked."
    return f"Task #{task_id} is {status}; the answer is recorded."


def _live_run_note(db: Any, project_id: int) -> list[str]:
    """A run in another process will not see the answer; only the next run does."""
    return [
        f"Note: a run of this project (process {run['pid']}) has not ended; it will not pick "
        "the task up, the next `codeframe run` will."
        for run in db.get_runs(project_id)
        if run["ended_at"] is None and run["pid"] != os.getpid()
    ]


__all__ = ["add_answer_parser", "answer_command"]
