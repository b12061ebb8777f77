"""What the commands print about a project: the tasks table, its totals and its open blockers.

``print_tables`` renders the five pandas frames (the demo's end-of-run view); the rest is
plain text from the read models, so ``status`` and ``blockers`` answer without importing
pandas.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from codeframe.cli.console import clip
from codeframe.core.models import BlockerType, TaskStatus
from codeframe.llm.pricing import format_usd
from codeframe.redaction import redact

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
    (
        "Commits",
        "commits_frame",
        ("task_id", "task_title", "sha", "files", "insertions", "deletions"),
        60,
    ),
)  # fmt: skip

_TITLE_CHARS = 48
_REASON_CHARS = 300
# Statuses in the order a summary names them.
_STATUS_ORDER = tuple(TaskStatus)


def _for_terminal(frame: Any, width: int) -> Any:
    """Text cells clipped to ``width`` and aligned left (as prose reads), headers with them."""
    shown = frame.copy()
    renames = {}
    for name in frame.columns:
        if frame[name].dtype.kind in "iufcmM" or str(frame[name].dtype) == "category":
            continue
        missing = frame[name].isna().tolist()
        cells = [
            "" if gap else clip(value, width)
            for value, gap in zip(frame[name].tolist(), missing, strict=True)
        ]
        pad = max([len(str(name)), *map(len, cells)])
        shown[name] = [cell.ljust(pad) for cell in cells]
        renames[name] = str(name).ljust(pad)
    return shown.rename(columns=renames)


def print_tables(db: Any, project_id: int, stream: TextIO | None = None) -> None:
    """The tables of a run (tasks, test results, corrections, blockers, commits), as pandas
    text for a terminal."""
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


# -- plain text ----------------------------------------------------------------------------


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()
) -> list[str]:
    """Lines of a table with aligned columns; columns in ``right`` are aligned right."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return [line(headers), line(["-" * width for width in widths]), *map(line, rows)]


def task_lines(db: Any, project_id: int) -> list[str]:
    """The tasks table: id, number in the task list, title, worker, status, attempts,
    tokens and cost; ``(no tasks)`` for a project without any."""
    numbers = {task["id"]: task.get("task_number") for task in db.get_project_tasks(project_id)}
    rows = []
    for task in db.task_rows(project_id):
        tokens = task["actual_tokens"]
        rows.append(
            [
                str(task["task_id"]),
                str(numbers.get(task["task_id"]) or ""),
                clip(task["title"], _TITLE_CHARS),
                # The agent that ran it (backend-1), else the worker the task asked for.
                task["assigned_to"] or task["worker"] or "-",
                task["status"],
                str(task["attempts"]),
                "-" if tokens is None else f"{tokens:,}",
                format_usd(task["cost_usd"] or 0.0),
            ]
        )
    if not rows:
        return ["(no tasks)"]
    headers = ["id", "#", "title", "worker", "status", "attempts", "tokens", "cost"]
    return render_table(headers, rows, right=(0, 1, 5, 6, 7))


def status_counts(db: Any, project_id: int) -> Counter[str]:
    """How many of the project's tasks are in each status."""
    return Counter(str(task["status"]) for task in db.get_project_tasks(project_id))


def counts_text(counts: Counter[str]) -> str:
    """``5 tasks: 3 completed, 2 blocked`` (statuses with no task left out)."""
    total = sum(counts.values())
    named = [f"{counts[status]} {status.value}" for status in _STATUS_ORDER if counts[status]]
    noun = "task" if total == 1 else "tasks"
    return f"{total} {noun}: {', '.join(named)}" if named else f"{total} {noun}"


def cost_text(amount: float, *, simulated: bool) -> str:
    """A cost, labelled simulated when offline clients made the calls."""
    return f"{format_usd(amount)} (simulated)" if simulated else format_usd(amount)


def blocker_lines(db: Any, project_id: int, *, answer_options: str = "") -> list[str]:
    """Each open blocker with its id, task, type, reason and question, and how to answer it."""
    open_blockers = [row for row in db.blocker_rows(project_id) if row["resolved_at"] is None]
    lines: list[str] = []
    for row in open_blockers:
        blocker_id = row["blocker_id"]
        if row["blocker_type"] == BlockerType.DEPENDENCY:
            example = "none needed: it is released when the task it waits for completes"
        elif row["blocker_type"] == BlockerType.BUDGET:
            example = f"codeframe answer {blocker_id} 2.50{answer_options}"
        else:
            example = f'codeframe answer {blocker_id} "your answer"{answer_options}'
        lines += [
            f"blocker {blocker_id} — task #{row['task_id']} {clip(row['task_title'], 60)!r} "
            f"({row['blocker_type']}, {row['severity']})",
            f"  reason:   {clip(redact(row['reason'] or ''), _REASON_CHARS)}",
            f"  question: {clip(redact(row['question'] or '-'), _REASON_CHARS)}",
            f"  answer:   {example}",
        ]
    return lines


def print_lines(lines: Sequence[str], stream: TextIO | None = None) -> None:
    """Print ``lines`` with any secret masked (they quote test output and model replies)."""
    out = stream or sys.stdout
    for line in lines:
        print(redact(line), file=out)
    out.flush()


__all__ = [
    "TABLES",
    "blocker_lines",
    "cost_text",
    "counts_text",
    "print_lines",
    "print_tables",
    "render_table",
    "status_counts",
    "task_lines",
]
