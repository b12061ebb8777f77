"""What the workers say to Claude: system prompts and the two user prompts.

Kept apart from the pipeline so a prompt can be read (and changed) in one place. Every
prompt names the task as ``Task #<id>: <title>`` and corrections as ``Self-correction
attempt <n> of <max>``; scripted clients and cassettes match on those lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

MAX_EXCERPT_CHARS = 1_500
MAX_FILE_CHARS = 12_000
MAX_FAILURE_CHARS = 6_000

_CONTRACT = """\
Answer by calling the `submit_changes` tool (or, if tools are unavailable, with one JSON
object and nothing else) of this shape:
{"files": [{"path": "relative/path.py", "action": "create" | "modify" | "delete",
            "content": "the whole new file content"}],
 "explanation": "one short paragraph: what you changed and why"}
Paths are relative to the project root. `modify` replaces the whole file, so send its full
new content. Send only the files you change."""

_ROLES = {
    "backend": (
        "You are a backend worker agent. You implement server-side and library Python code "
        "with its tests in mind; the project's whole test suite is run after your change."
    ),
    "frontend": (
        "You are a frontend worker agent. You write UI code (components, styles, markup) and "
        "may only write inside the frontend folder `{area}`; tests under tests/frontend run "
        "after your change."
    ),
    "test": (
        "You are a test worker agent. You write pytest tests and may only write test files "
        "(tests/**, test_*.py, *_test.py, conftest.py under tests/); the files you write are "
        "run after your change. Test the behaviour the task describes; do not change the code "
        "under test."
    ),
}


def system_prompt(worker_type: str, *, area: str = "") -> str:
    """The system prompt for one worker type; the ``Worker type:`` line is matched by fakes."""
    role = _ROLES[worker_type].format(area=area)
    return f"Worker type: {worker_type}\n{role}\n\n{_CONTRACT}"


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… [{len(text) - limit} more characters cut]"


# pytest's summary ends "… in 0.12s" and tracebacks show "<Obj object at 0x7f…>". Neither
# tells the model anything, and without them the same failure gives the same prompt on
# every run, so recorded sessions replay. Neither do the "^^^^" lines pytest draws under
# the failing source line (the one it marks with ">"): they come and go with the Python
# build (3.11+, PYTHONNODEBUGRANGES, -X no_debug_ranges), and the ">" already marks where
# the failure is. Caret lines anywhere else (a test's own output) are kept.
_PYTEST_DURATION = re.compile(r" in \d+(?:\.\d+)?s(?=(?: =+)?$)", re.MULTILINE)
_OBJECT_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")
_POSITION_MARKERS = re.compile(r"^(>.*\n)[ \t]*[~^]*\^[~^]*[ \t]*$\n?", re.MULTILINE)


def stable_test_output(text: str) -> str:
    """pytest output without what differs between runs and machines, not between failures."""
    text = _POSITION_MARKERS.sub(r"\1", _PYTEST_DURATION.sub("", text))
    return _OBJECT_ADDRESS.sub(">", text)


def _tail(text: str, limit: int) -> str:
    # Failures show their cause at the end of pytest's output, so keep the tail.
    if len(text) <= limit:
        return text
    return f"[{len(text) - limit} earlier characters cut] …\n" + text[-limit:]


def task_heading(task: Mapping[str, Any]) -> str:
    task_id = task.get("id")
    title = task.get("title", "")
    return f"Task #{task_id}: {title}" if task_id is not None else f"Task: {title}"


def _symbol_lines(symbols: Sequence[Any]) -> Iterable[str]:
    for symbol in symbols[:25]:
        where = f"{symbol.file_path}:{symbol.line_number}"
        shown = symbol.signature or symbol.name
        yield f"- {shown}  ({symbol.type}, {where})"


def generation_prompt(context: Mapping[str, Any]) -> str:
    """The first prompt of a task: the task, its issue, related code and any human answers."""
    task = context.get("task", {})
    parts = [task_heading(task)]
    if task.get("description"):
        parts.append(f"Description:\n{task['description']}")
    issue = context.get("issue_context")
    if issue:
        parts.append(
            f"Parent issue {issue.get('issue_number', '')}: {issue.get('title', '')}\n"
            f"{issue.get('description', '') or ''}".rstrip()
        )
    for blocker in context.get("resolved_blockers", ()):
        parts.append(
            "A human answered an earlier blocker on this task.\n"
            f"Question: {blocker.get('question') or blocker.get('reason')}\n"
            f"Answer: {blocker.get('resolution')}"
        )
    refused = context.get("refused_reply")
    if refused:
        parts.append(refused_note(refused))
    symbols = context.get("related_symbols") or []
    if symbols:
        parts.append("Related symbols in the project:\n" + "\n".join(_symbol_lines(symbols)))
    excerpts = context.get("file_excerpts") or {}
    for path, text in excerpts.items():
        parts.append(f"--- {path} (excerpt) ---\n{_clip(text, MAX_EXCERPT_CHARS)}")
    parts.append("Make the change this task asks for.")
    return "\n\n".join(parts)


def correction_prompt(
    task: Mapping[str, Any],
    *,
    attempt: int,
    max_attempts: int,
    test_status: str,
    failure_output: str,
    files: Mapping[str, str | None],
    refused: str | None = None,
) -> str:
    """A self-correction prompt: the failing output and the current content of the files in play."""
    parts = [
        task_heading(task),
        f"Self-correction attempt {attempt} of {max_attempts}.",
        f"After your last change the tests ended with status `{test_status}`. "
        "Find the cause and send the fix.",
    ]
    if task.get("description"):
        parts.append(f"Description:\n{task['description']}")
    if refused:
        parts.append(refused_note(refused))
    output = _tail(stable_test_output(failure_output), MAX_FAILURE_CHARS)
    parts.append(f"Test output (trimmed):\n{output}")
    for path, content in files.items():
        if content is None:
            parts.append(f"--- {path} --- (does not exist)")
        else:
            parts.append(f"--- {path} (current content) ---\n{_clip(content, MAX_FILE_CHARS)}")
    return "\n\n".join(parts)


MAX_REFUSAL_CHARS = 400


def refused_note(reason: str) -> str:
    """Why the model's last reply could not be used, so a retry does not repeat it."""
    return (
        "Your previous reply could not be used and nothing from it was applied: "
        f"{_clip(reason, MAX_REFUSAL_CHARS)}\nSend a reply that avoids this."
    )


def read_files_in_play(root: Path, paths: Iterable[str]) -> dict[str, str | None]:
    """Current text of each path (``None`` when missing or unreadable), for correction prompts."""
    contents: dict[str, str | None] = {}
    base = root.resolve()
    for rel in paths:
        target = (base / rel).resolve()
        if not target.is_relative_to(base):
            continue  # never show the model a file outside the project
        try:
            contents[rel] = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            contents[rel] = None
    return contents
