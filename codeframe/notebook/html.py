"""HTML for a panel snapshot: the widget's fragments and the static form, from one source.

Titles, reasons and activity lines come from model output and user data, so every value
goes through :func:`html.escape`; only the markup written here is trusted. Styles are
inline because a notebook's HTML output has no stylesheet of ours.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from codeframe.llm.pricing import format_usd

#: Background colours of the task board, one per task status.
STATUS_COLOURS: dict[str, str] = {
    "pending": "#e0e0e0",
    "assigned": "#cfe8fc",
    "in_progress": "#90caf9",
    "blocked": "#ffcc80",
    "completed": "#a5d6a7",
    "failed": "#ef9a9a",
    "cancelled": "#bdbdbd",
}
_TEST_COLOURS = {"passed": "#2e7d32", "no_tests": "#616161"}
_BAD_TEST = "#c62828"
_CELL = "padding:2px 8px;text-align:left;border-bottom:1px solid #eee"
_TABLE = "border-collapse:collapse;font-size:12px;margin:4px 0"


def esc(value: object) -> str:
    """Escape anything for HTML text and attribute values; ``None`` shows as a dash."""
    return "–" if value is None else html.escape(str(value), quote=True)


def format_elapsed(seconds: float) -> str:
    """``42.0s``, ``3m 05s``, ``1h 02m``: short enough for a header."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _table(headings: Iterable[str], rows: Iterable[str]) -> str:
    head = "".join(f'<th style="{_CELL}">{esc(h)}</th>' for h in headings)
    body = "".join(rows)
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cells(*values: str) -> str:
    """A row of already-escaped cell contents."""
    return "<tr>" + "".join(f'<td style="{_CELL}">{v}</td>' for v in values) + "</tr>"


def section_title(name: str) -> str:
    """A section's heading alone (its body is made of widgets)."""
    return f'<div style="margin-top:6px"><b style="font-size:12px">{esc(name)}</b></div>'


def _section(name: str, body: str) -> str:
    return f'<div style="margin-top:6px"><b style="font-size:12px">{esc(name)}</b>{body}</div>'


def status_badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#eeeeee")
    return f'<span style="background:{colour};border-radius:3px;padding:0 6px">{esc(status)}</span>'


def _test_badge(status: str | None) -> str:
    if status is None:
        return esc(None)
    colour = _TEST_COLOURS.get(status, _BAD_TEST)
    return f'<span style="color:{colour}">{esc(status)}</span>'


def header(snapshot: Mapping[str, Any], title: str, status: str = "", error: bool = False) -> str:
    """Title, mode badge and the figures line; ``status`` is a run's outcome (red on error)."""
    progress = snapshot["progress"]
    mode = snapshot["mode"]
    badge_colour = "#2e7d32" if mode == "live" else "#546e7a"
    # An offline client's tokens are simulated, and cost nothing.
    simulated = " simulated" if mode == "offline" else ""
    cost = format_usd(snapshot.get("cost_usd", 0.0))
    figures = (
        f"{progress['done']}/{progress['total']} tasks done · "
        f"{esc(format_elapsed(snapshot['elapsed_s']))} · "
        f"{snapshot['tokens']:,}{simulated} tokens · {esc(cost)} · "
        f"{snapshot['events']:,} events"
    )
    line = ""
    if status:
        colour = "#c62828" if error else "#37474f"
        line = f'<div style="color:{colour};font-size:12px">{esc(status)}</div>'
    return (
        f'<div><b>{esc(title)}</b> <span style="background:{badge_colour};color:white;'
        f'border-radius:3px;padding:0 6px;font-size:11px">{esc(mode)}</span>'
        f'<div style="font-size:12px">{figures}</div>{line}</div>'
    )


def agents_table(snapshot: Mapping[str, Any]) -> str:
    agents = snapshot["agents"]
    if not agents:
        return _section("Agents", '<div style="font-size:12px">none yet</div>')
    rows = []
    for agent_id, agent in agents.items():
        task = ""
        if agent["task_id"] is not None:
            task = f"#{agent['task_id']} {agent['task_title'] or ''}"
        rows.append(_cells(
            esc(agent_id), esc(agent["type"]), esc(agent["status"]), esc(task),
            esc(agent["tasks_completed"]),
        ))  # fmt: skip
    return _section("Agents", _table(("agent", "type", "status", "task", "done"), rows))


def task_board(snapshot: Mapping[str, Any]) -> str:
    """Every task with its status colour, agent, latest test result and correction attempts."""
    tasks = snapshot["tasks"]
    if not tasks:
        return _section("Tasks", '<div style="font-size:12px">no tasks</div>')
    rows = [
        _cells(
            esc(f"#{task_id}"), esc(task["title"]), status_badge(task["status"]),
            esc(task["agent"]), _test_badge(task["last_test_status"]), esc(task["attempts"]),
        )
        for task_id, task in tasks.items()
    ]  # fmt: skip
    headings = ("id", "task", "status", "agent", "last test", "corrections")
    return _section("Tasks", _table(headings, rows))


def blockers_list(snapshot: Mapping[str, Any]) -> str:
    blockers = snapshot["blockers"]
    if not blockers:
        return ""
    rows = [_cells(esc(f"#{b['task_id']}"), esc(b["reason"]), esc(b["question"])) for b in blockers]
    return _section("Blockers", _table(("task", "reason", "question"), rows))


def activity_log(snapshot: Mapping[str, Any], limit: int | None = None) -> str:
    """The last activity lines, newest at the bottom, in a box that scrolls.

    ``column-reverse`` keeps the box scrolled to its end as lines arrive, with no script.
    """
    lines = snapshot["activity"]
    if limit is not None:
        lines = lines[-limit:]
    body = "<br>".join(esc(line) for line in lines) or "no activity yet"
    return _section(
        "Activity",
        '<div style="display:flex;flex-direction:column-reverse;max-height:160px;'
        "overflow-y:auto;font-family:monospace;font-size:11px;background:#fafafa;"
        f'padding:4px"><div>{body}</div></div>',
    )


def render_html(
    snapshot: Mapping[str, Any],
    title: str = "codeframe",
    status: str = "",
    error: bool = False,
    activity_limit: int = 20,
) -> str:
    """The static form of a panel: header, agents, tasks, blockers and recent activity."""
    progress = snapshot["progress"]
    total = progress["total"] or 1
    width = int(progress["done"] / total * 100)
    bar_colour = "#c62828" if error else "#43a047"
    bar = (
        '<div style="background:#eee;height:8px;width:100%;max-width:400px;margin:4px 0">'
        f'<div style="background:{bar_colour};height:8px;width:{width}%"></div></div>'
    )
    parts = (
        header(snapshot, title, status, error),
        bar,
        agents_table(snapshot),
        task_board(snapshot),
        blockers_list(snapshot),
        activity_log(snapshot, activity_limit),
    )
    body = "".join(parts)
    return f'<div class="codeframe-panel" style="font-family:sans-serif">{body}</div>'


__all__ = [
    "STATUS_COLOURS",
    "activity_log",
    "agents_table",
    "blockers_list",
    "esc",
    "format_elapsed",
    "header",
    "render_html",
    "section_title",
    "status_badge",
    "task_board",
]
