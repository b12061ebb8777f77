"""``codeframe status`` and ``codeframe blockers``: what a project's runs have left behind.

Both only read: a folder with no database yet shows an empty project, and nothing is created.
"""

from __future__ import annotations

import argparse
from typing import Any

from codeframe.cli.exits import EXIT_OK
from codeframe.cli.location import (
    STATE_DIR,
    Location,
    add_location_options,
    locate,
    open_project,
)
from codeframe.cli.tables import (
    blocker_lines,
    cost_text,
    counts_text,
    print_lines,
    status_counts,
    task_lines,
)

_WHERE = (
    f"The project is the folder given by --project (default: the current folder); its "
    f"database is PROJECT/{STATE_DIR}/codeframe.db unless --db names another."
)


def add_status_parsers(commands: Any) -> None:
    status = commands.add_parser(
        "status",
        help="the tasks of a project, what they cost and how many blockers are open",
        description=f"Show a project's tasks table and its totals. {_WHERE}",
    )
    add_location_options(status)
    status.set_defaults(handler=status_command)
    blockers = commands.add_parser(
        "blockers",
        help="the open blockers of a project, with their ids for `codeframe answer`",
        description=f"List a project's open blockers: id, task, type, reason, question. {_WHERE}",
    )
    add_location_options(blockers)
    blockers.set_defaults(handler=blockers_command)


def status_command(args: argparse.Namespace) -> int:
    location = locate(args)
    opened = open_project(location)
    if opened is None:
        _print_nothing_yet(location)
        return EXIT_OK
    db, project = opened
    with db:
        project_id = int(project["id"])
        tasks = len(db.get_project_tasks(project_id))
        open_blockers = len(db.get_blockers(project_id))
        cost = sum(float(row["cost_usd"] or 0.0) for row in db.task_rows(project_id))
        runs = db.get_runs(project_id)
        lines = [
            f"project {location.project_dir} (id {project_id}); database {location.db_path}",
            "",
            *task_lines(db, project_id),
            "",
            f"{counts_text(status_counts(db, project_id))}. "
            f"Cost so far: {cost_text(cost, simulated=_all_simulated(runs))}. "
            f"{_blockers_text(open_blockers, location)}",
        ]
        lines += [
            f"A run started at {run['started_at']} by process {run['pid']} has not ended."
            for run in runs
            if run["ended_at"] is None
        ]
        if tasks == 0:
            lines.append(_start_hint(location))
        print_lines(lines)
    return EXIT_OK


def blockers_command(args: argparse.Namespace) -> int:
    location = locate(args)
    opened = open_project(location)
    if opened is None:
        print_lines([f"No open blockers: {location.project_dir} has no tasks yet."])
        return EXIT_OK
    db, project = opened
    with db:
        lines = blocker_lines(db, int(project["id"]), answer_options=location.options())
    if not lines:
        print_lines([f"No open blockers in {location.project_dir}."])
        return EXIT_OK
    print_lines([*lines, "", "Answer one with `codeframe answer ID TEXT`."])
    return EXIT_OK


def _print_nothing_yet(location: Location) -> None:
    print_lines(
        [
            f"project {location.project_dir}: no tasks yet (database {location.db_path})",
            "",
            "(no tasks)",
            "",
            f"0 tasks. Cost so far: {cost_text(0.0, simulated=False)}. 0 open blockers.",
            _start_hint(location),
        ]
    )


def _start_hint(location: Location) -> str:
    return f"Start with: codeframe run TASKS_FILE{location.options()}"


def _blockers_text(count: int, location: Location) -> str:
    if count == 0:
        return "0 open blockers."
    noun = "blocker" if count == 1 else "blockers"
    return f"{count} open {noun}: `codeframe blockers{location.options()}` lists them."


def _all_simulated(runs: list[dict[str, Any]]) -> bool:
    """Whether every finished run's calls were offline, so its costs are simulated."""
    summaries = [run["summary"] for run in runs if isinstance(run.get("summary"), dict)]
    return bool(summaries) and all(summary.get("simulated") for summary in summaries)


__all__ = ["add_status_parsers", "blockers_command", "status_command"]
