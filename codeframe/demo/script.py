"""The demo's scripted Claude: real code for each task, keyed by task title and attempt.

Every reply is code that really passes or really fails the sample project's tests; nothing
here decides an outcome except that code. Task 4's first two versions of the ISBN check are
wrong in two different ways and its third is right; task 7's four ways of rounding a float
price to cents all fail the half-cent cases (binary floats cannot hold 2.675 or 1.005
exactly), so it runs out of attempts and asks a human. Tasks 8 and 9 have no replies: they
are blocked before they could run.

The code itself lives as files under ``replies/`` (its README shows the layout), so it can
be read, diffed and run like any other code; this module only loads it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from codeframe.demo.tasks import DEMO_TASKS
from codeframe.errors import DemoScriptError, NotFoundError
from codeframe.llm import ScriptedClient

# Enough simulated thinking time for several tasks to be visibly in flight at once.
DEMO_LATENCY_S = 0.25
DEMO_USAGE = (900, 450)

# Beside the sample project, not inside it: the agents work on a copy of the sample project
# and must not find the answers there.
REPLIES_DIR = Path(__file__).resolve().parent / "replies"
MANIFEST = "reply.toml"

# The script only writes whole files; a delete would need no file on disk and has no use yet.
_ACTIONS = frozenset({"create", "modify"})
_TASK_FOLDER = re.compile(r"(?P<number>[1-9]\d*)-[a-z0-9]+(?:-[a-z0-9]+)*")
_ATTEMPT_FOLDER = re.compile(r"0|[1-9]\d*")

Reply = dict[str, Any]


def _load_file(folder: Path, entry: object, manifest: Path) -> dict[str, str]:
    """One ``{"path", "action", "content"}`` entry; the content is the file's exact text."""
    if not isinstance(entry, dict) or set(entry) != {"path", "action"}:
        raise DemoScriptError(f"{manifest}: each file is {{ path = ..., action = ... }}")
    path, action = entry["path"], entry["action"]
    if action not in _ACTIONS:
        raise DemoScriptError(f"{manifest}: action {action!r} is not one of {sorted(_ACTIONS)}")
    # The path is sent to the workers as written, so it must already be plain and relative.
    relative = PurePosixPath(path) if isinstance(path, str) else None
    if (
        relative is None
        or relative.is_absolute()
        or ".." in relative.parts
        or str(relative) != path
        or path == MANIFEST
    ):
        raise DemoScriptError(f"{manifest}: {path!r} is not a plain path inside the project")
    try:
        # Bytes, not read_text: newline translation would change what the cassettes recorded.
        content = (folder / relative).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DemoScriptError(f"{manifest}: cannot read {path}: {exc}") from exc
    return {"path": path, "action": action, "content": content}


def _load_reply(folder: Path) -> Reply:
    """The reply of one attempt folder: its manifest's files, in the manifest's order."""
    manifest = folder / MANIFEST
    try:
        data = tomllib.loads(manifest.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DemoScriptError(f"{manifest}: {exc}") from exc
    explanation, entries = data.get("explanation"), data.get("files")
    if not isinstance(explanation, str) or not isinstance(entries, list) or not entries:
        raise DemoScriptError(f"{manifest}: needs an explanation and a non-empty files list")
    files = [_load_file(folder, entry, manifest) for entry in entries]
    # This key order is the JSON the workers receive, and recordings key on that exact text.
    return {"files": files, "explanation": explanation}


def _task_folders(root: Path) -> list[tuple[str, Path]]:
    """``(task number, folder)`` in task-number order; files beside them (README) are skipped."""
    folders: dict[str, Path] = {}
    for entry in root.iterdir():
        if not entry.is_dir():
            continue
        match = _TASK_FOLDER.fullmatch(entry.name)
        if match is None:
            raise DemoScriptError(f"{entry}: a task folder is named <task number>-<slug>")
        number = match["number"]
        if number in folders:
            raise DemoScriptError(f"{entry}: task {number} already has {folders[number].name}")
        folders[number] = entry
    return sorted(folders.items(), key=lambda item: int(item[0]))


def _attempt_folders(task_folder: Path) -> list[Path]:
    """The attempt folders ``0``, ``1``, ... in order; a gap would leave a correction unanswered."""
    attempts: dict[int, Path] = {}
    for entry in task_folder.iterdir():
        if not entry.is_dir() or _ATTEMPT_FOLDER.fullmatch(entry.name) is None:
            raise DemoScriptError(f"{entry}: a task folder holds only attempt folders 0, 1, ...")
        attempts[int(entry.name)] = entry
    if sorted(attempts) != list(range(len(attempts))):
        raise DemoScriptError(f"{task_folder}: attempts {sorted(attempts)} do not run 0, 1, ...")
    return [attempts[n] for n in range(len(attempts))]


def load_replies(root: Path = REPLIES_DIR) -> dict[str, dict[int, Reply]]:
    """Task number -> attempt -> reply, for every reply folder under ``root``.

    Attempt 0 answers a task's first prompt, attempt ``n`` its n-th self-correction.
    Raises :class:`DemoScriptError` for anything the layout does not allow, so a slip in the
    folder shows when the demo is imported, not as a script miss halfway through a run.
    """
    replies: dict[str, dict[int, Reply]] = {}
    for number, task_folder in _task_folders(root):
        folders = _attempt_folders(task_folder)
        replies[number] = {attempt: _load_reply(folder) for attempt, folder in enumerate(folders)}
    return replies


REPLIES: dict[str, dict[int, Reply]] = load_replies()


def reply_file(task_number: str, attempt: int, path: str) -> str:
    """The content one scripted reply sends for ``path`` (notebooks build new replies on it)."""
    files = REPLIES.get(task_number, {}).get(attempt, {}).get("files", ())
    for file in files:
        if file["path"] == path:
            return str(file["content"])
    raise NotFoundError(f"task {task_number}, attempt {attempt} sends no file {path!r}")


def _prompt_pattern(title: str, attempt: int) -> re.Pattern[str]:
    """The prompt of one attempt at one task, as the workers word it (agents/prompts.py)."""
    heading = rf"^Task #\d+: {re.escape(title)}$"
    if attempt == 0:
        # A first prompt names the task and is not a correction.
        return re.compile(rf"{heading}(?![\s\S]*^Self-correction attempt)", re.MULTILINE)
    return re.compile(rf"{heading}\s+^Self-correction attempt {attempt} of \d+\.", re.MULTILINE)


def demo_rules() -> list[tuple[re.Pattern[str], Reply, str]]:
    """``(match, reply, worker_type)`` rules for every scripted attempt of every task.

    Replies are keyed by what the prompt says (task and attempt), not by call order, so the
    script gives the same answers however the tasks interleave. The worker type is part of
    each rule: a task sent to the wrong worker gets no reply and fails loudly.
    """
    rules: list[tuple[re.Pattern[str], Reply, str]] = []
    for task in DEMO_TASKS:
        for attempt, reply in sorted(REPLIES.get(task.number, {}).items()):
            rules.append((_prompt_pattern(task.title, attempt), reply, task.worker))
    return rules


def demo_client(*, latency: float = DEMO_LATENCY_S) -> ScriptedClient:
    """A fresh offline Claude that plays the demo's script (no key, no network)."""
    return ScriptedClient(demo_rules(), latency=latency, usage=DEMO_USAGE)


__all__ = [
    "DEMO_LATENCY_S",
    "REPLIES",
    "REPLIES_DIR",
    "demo_client",
    "demo_rules",
    "load_replies",
    "reply_file",
]
