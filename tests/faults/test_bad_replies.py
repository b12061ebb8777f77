"""A corpus of bad model replies and API errors, each thrown at a worker's real pipeline.

A reply may be bad as a task's first answer (the task must fail, naming the problem, with
nothing written) or as a correction's (the attempt is recorded as "no fix applied"
naming the problem, the next prompt says why, and after three the task is blocked). An
API error fails the task with the exception's class and a retry verdict. Always: no
exception escapes ``execute_task``, the ledger holds, nothing outside the project changes,
the project holds only what good replies wrote, and the key (given as ``api_key=``, and
quoted by some replies and errors) is stored nowhere.

The named cases run in every seed; their parameters (where a reply is truncated, which
unsafe path, which wrong shape) are drawn from the seed, so more seeds try more variants.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

import anthropic
import httpx2
import pytest

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.llm import (
    CHANGES_TOOL_NAME,
    MAX_REPLY_CHARS,
    ScriptedClient,
    make_text_message,
    make_tool_message,
)
from codeframe.persistence.database import Database
from tests.faults.harness import FAKE_KEY, Tally, describe, rng_for, seeds
from tests.faults.invariants import ledger_problems
from tests.faults.known import assert_fixed
from tests.faults.scenario import BUG, TreeRunner

CATEGORY = "bad replies and API errors"

GOOD = {"files": [{"path": "work/good.txt", "action": "create", "content": "fine\n"}]}
FAILING = {
    "files": [{"path": "work/first.txt", "action": "create", "content": f"{BUG}\n"}],
    "explanation": "a first attempt whose tests fail",
}


def _text(value: Any) -> str:
    return json.dumps(value)


# -- the corpus: name -> (make the reply from a seeded rng, what the error must say) ------


def truncated(rng: Random) -> Any:
    text = _text({**GOOD, "explanation": "x" * 200})
    return text[: rng.randint(1, len(text) - 2)]


def cut_at_max_tokens(rng: Random) -> Any:
    text = _text({**GOOD, "explanation": "y" * 100})
    return make_text_message(text[: rng.randint(1, len(text))], stop_reason="max_tokens")


WRONG_SHAPES: list[Any] = [
    {"files": "work/a.txt"},
    {"files": [1, 2]},
    {"files": [{"path": 7, "action": "create", "content": "x"}]},
    {"files": [{"path": "work/a.txt", "action": "rename", "content": "x"}]},
    {"files": [{"path": "work/a.txt", "action": "create"}]},
    {"files": [{"path": "work/a.txt", "action": "create", "content": 12}]},
    {"files": [{"action": "create", "content": "x"}]},
    {"changes": [{"path": "work/a.txt", "action": "create", "content": "x"}]},
    {"files": None},
    {"files": {"path": "work/a.txt"}},
    [{"path": "work/a.txt", "action": "create", "content": "x"}],
]


def wrong_shape(rng: Random) -> Any:
    return _text(rng.choice(WRONG_SHAPES))


def prose_only(rng: Random) -> Any:
    return rng.choice(
        [
            "I would change the parser so that it accepts ISBN-13, then add tests.",
            "```python\ndef f():\n    return 1\n```\nThat should do it.",
            "",
            "   \n\t ",
        ]
    )


def not_json(rng: Random) -> Any:
    return rng.choice(["{files: [}", "{'files': []}", '{"files": [,]}', "{" * 50, "}{"])


def huge(rng: Random) -> Any:
    size = MAX_REPLY_CHARS + rng.randint(1, 2_000_000)
    return rng.choice(["{", '{"a": ', "x"]) * (size // 1)


def deeply_nested(rng: Random) -> Any:
    depth = rng.choice([10_000, 100_000, 400_000])
    return '{"files": ' + "[" * depth + "]" * depth + ', "explanation": "deep"}'


def _with_path(path: str, action: str = "create") -> dict[str, Any]:
    change: dict[str, Any] = {"path": path, "action": action}
    if action != "delete":
        change["content"] = "pwned\n"
    return {"files": [change], "explanation": "unsafe"}


#: Absolute paths a reply tries to write: checked not to exist after every case.
ABSOLUTE = ("/etc/codeframe-pwned", "/tmp/codeframe-pwned")

UNSAFE = [
    (ABSOLUTE[0], "create"),
    (ABSOLUTE[1], "create"),
    ("../outside/pwned.txt", "create"),
    ("work/../../outside/pwned.txt", "create"),
    ("escape/pwned.txt", "create"),
    ("link_out.txt", "modify"),
    ("link_out.txt", "delete"),
    (".git/config", "modify"),
    (".git/hooks/pre-commit", "create"),
    ("work/\x00pwned.txt", "create"),
    ("work/\udcffpwned.txt", "create"),
    ("C:\\pwned.txt", "create"),
    ("..\\outside\\pwned.txt", "create"),
    ("", "create"),
    (".", "create"),
    ("work/" + "n" * 300 + ".txt", "create"),
    (".codeframe-journal/pwned", "create"),
]


def unsafe_path(rng: Random) -> Any:
    path, action = rng.choice(UNSAFE)
    reply = _with_path(path, action)
    if rng.random() < 0.5:  # hidden behind a change that alone would be fine
        reply["files"].insert(0, GOOD["files"][0])
    return reply


def over_the_cap(rng: Random) -> Any:
    size = 1_000_001 + rng.randint(0, 5000)
    return {"files": [{"path": "work/big.txt", "action": "create", "content": "z" * size}]}


def missing_file(rng: Random) -> Any:
    return _with_path("work/never-there.txt", rng.choice(["modify", "delete"]))


WRONG_TOOL_INPUTS: list[dict[str, Any]] = [
    {},
    {"files": "x"},
    {"files": [{"path": "/abs", "action": "create", "content": "x"}]},
    {"explanation": "no files"},
    {"files": [{"path": "a", "action": "create", "content": None}]},
]


def wrong_tool_input(rng: Random) -> Any:
    if rng.random() < 0.2:
        return make_tool_message("some_other_tool", {"files": []})
    return make_tool_message(CHANGES_TOOL_NAME, rng.choice(WRONG_TOOL_INPUTS))


def key_in_prose(rng: Random) -> Any:
    return f"My key is {FAKE_KEY}; I could not work out the change."


CORPUS: dict[str, Callable[[Random], Any]] = {
    "truncated": truncated,
    "cut at max_tokens": cut_at_max_tokens,
    "wrong shape": wrong_shape,
    "prose only": prose_only,
    "not JSON": not_json,
    "huge": huge,
    "deeply nested": deeply_nested,
    "unsafe path": unsafe_path,
    "content over the cap": over_the_cap,
    "modify or delete a missing file": missing_file,
    "tool call with a wrong input": wrong_tool_input,
    "the key in prose": key_in_prose,
}

#: What the stored error (or "no fix applied" note) must say for each: the problem named.
NAMED = {
    "truncated": r"(?i)truncat|json|no .*(object|change)|incomplete|unterminated|expecting",
    "cut at max_tokens": r"(?i)max_tokens|truncat",
    "wrong shape": r"(?i)files|path|action|content|list|object|shape|missing",
    "prose only": r"(?i)no json|json|no .*(object|change)|empty|neither text",
    "not JSON": r"(?i)json|expecting|no .*(object|change)",
    "huge": r"(?i)characters, over the [\d,]+-character cap",
    "deeply nested": r"(?i)nest|deep|recursion|json|too",
    "unsafe path": r"(?i)absolute|traversal|outside|\.git|not allowed|refus|nul|surrogate|"
    r"encod|empty|name|long|journal|codeframe|drive|backslash|invalid",
    "content over the cap": r"(?i)over the|cap|too large|bytes",
    "modify or delete a missing file": r"(?i)does not exist|missing|no such|not found",
    "tool call with a wrong input": r"(?i)files|tool|path|content|list|absolute|missing|shape",
    "the key in prose": r"(?i)json|no .*(object|change)",
}


# -- API errors: every exception class the SDK defines -----------------------------------


def _request() -> httpx2.Request:
    return httpx2.Request("POST", "https://api.anthropic.com/v1/messages")


def api_error(cls: type[BaseException]) -> BaseException:
    """An instance of one of the SDK's exception classes, built as the SDK builds it.

    Its message and body quote the key, as a proxy's error page might.
    """
    body = {"type": "error", "error": {"type": "x", "message": f"bad key {FAKE_KEY}"}}
    if issubclass(cls, anthropic.APIStatusError):
        status = getattr(cls, "status_code", None) or 500
        response = httpx2.Response(status, request=_request(), json=body)
        return cls(f"Error code: {status} - {body}", response=response, body=body)
    if issubclass(cls, anthropic.APITimeoutError):
        return cls(request=_request())
    if issubclass(cls, anthropic.APIConnectionError):
        return cls(message=f"Connection error (key {FAKE_KEY}).", request=_request())
    if issubclass(cls, anthropic.APIResponseValidationError):
        response = httpx2.Response(200, request=_request(), json=body)
        return cls(response=response, body=body, message=f"invalid reply for {FAKE_KEY}")
    if issubclass(cls, anthropic.APIError):
        return cls(f"API error for {FAKE_KEY}", _request(), body=body)
    return cls(f"client error for {FAKE_KEY}")


def sdk_error_classes() -> list[type[BaseException]]:
    return sorted(
        (
            value
            for value in vars(anthropic).values()
            if isinstance(value, type) and issubclass(value, anthropic.AnthropicError)
        ),
        key=lambda cls: cls.__name__,
    )


#: Errors a retry cannot mend: the task must say so (``retryable: False``).
NOT_RETRYABLE = (
    anthropic.AuthenticationError,
    anthropic.PermissionDeniedError,
    anthropic.BadRequestError,
    anthropic.NotFoundError,
    anthropic.UnprocessableEntityError,
)
RETRYABLE = (
    anthropic.RateLimitError,
    anthropic.InternalServerError,
    anthropic.APIConnectionError,
)


# -- one case ---------------------------------------------------------------------------


@dataclass
class Project:
    base: Path
    root: Path
    db: Database
    project_id: int


def make_project(base: Path) -> Project:
    """A project with traps around it: a link to a folder outside, a link to a file
    outside, a ``.git`` folder, and a secret beside it."""
    root = base / "project"
    (root / "work").mkdir(parents=True)
    (root / "work" / "app.txt").write_text("app\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    (root / "escape").symlink_to("../outside", target_is_directory=True)
    (root / "link_out.txt").symlink_to("../outside/secret.txt")
    db = Database(base / "ledger.db")
    project_id = db.create_project("replies", workspace_path=str(root))
    return Project(base, root, db, project_id)


def snapshot(base: Path, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, base)
            if rel.startswith(skip):
                continue
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    found[rel] = ("file", handle.read())
            else:
                found[rel] = ("dir",)
    return found


def stored_text(db_path: Path) -> str:
    """Everything the database holds, as SQL text (read through a separate connection)."""
    conn = sqlite3.connect(db_path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def run_worker(project: Project, replies: list[Any]) -> tuple[Any, ScriptedClient]:
    task_id = project.db.create_task(project.project_id, "Change the app")
    client = ScriptedClient([("Change the app", replies)])
    worker = BackendWorkerAgent(
        project.project_id,
        project.db,
        None,
        api_key=FAKE_KEY,
        project_root=project.root,
        client=client,
        test_runner=TreeRunner(project.root),
    )
    task = project.db.get_task(task_id)
    assert task is not None
    try:
        result: Any = asyncio.run(worker.execute_task(task))
    except BaseException as exc:  # the suite looks for crashes: reported, not raised
        result = exc
    return result, client


def check_reply(base: Path, name: str, reply: Any, at_correction: bool) -> list[str]:
    """One bad reply, as the first answer or in every correction; what did not hold."""
    project = make_project(base)
    before_outside = snapshot(base, skip=("project", "ledger.db"))
    try:
        replies = [FAILING, reply] if at_correction else [reply]
        written: dict[str, Any] = {}  # what the good first reply wrote, if there was one
        result, client = run_worker(project, replies)
        if isinstance(result, BaseException):
            return [f"execute_task raised {describe(result)}"]
        problems = []
        expected = "blocked" if at_correction else "failed"
        if result.get("status") != expected:
            problems.append(f"ended {result.get('status')} ({result.get('error')}), not {expected}")
        task = project.db.get_project_tasks(project.project_id)[0]
        if at_correction:
            notes = [
                a["fix_description"] for a in project.db.get_correction_attempts_by_task(task["id"])
            ]
            if len(notes) != 3 or not all(n.startswith("no fix applied") for n in notes):
                problems.append(f"correction notes: {[n[:80] for n in notes]}")
            elif not all(re.search(NAMED[name], n) for n in notes):
                problems.append(f"the problem is not named: {notes[0][:200]!r}")
            later = [json.dumps(call["messages"], default=str) for call in client.history[2:]]
            if not all("could not be used" in prompt for prompt in later):
                problems.append("a correction prompt does not say why the last reply was refused")
            written = {"work/first.txt": ("file", f"{BUG}\n".encode())}
        else:
            error = str(result.get("error") or "")
            if not re.search(NAMED[name], error):
                problems.append(f"the error does not name the problem: {error[:200]!r}")
        problems += ledger_problems(project.db, project.project_id, allowed={expected})
        problems += tree_problems(project, written)
        if snapshot(base, skip=("project", "ledger.db")) != before_outside:
            problems.append("something outside the project changed")
        problems += [f"{path} was written" for path in ABSOLUTE if os.path.lexists(path)]
        if FAKE_KEY in stored_text(base / "ledger.db"):
            problems.append("the key is stored in the database")
        if any(FAKE_KEY in json.dumps(call, default=str) for call in client.history):
            problems.append("the key was sent in a prompt")
        return problems
    finally:
        project.db.close()


def tree_problems(project: Project, written: dict[str, Any]) -> list[str]:
    """The project holds its starting files plus ``written``, and nothing else."""
    now = snapshot(project.root)
    start = {
        "work": ("dir",),
        "work/app.txt": ("file", b"app\n"),
        ".git": ("dir",),
        ".git/config": ("file", b"[core]\n"),
        "escape": ("link", "../outside"),
        "link_out.txt": ("link", "../outside/secret.txt"),
    }
    if now != {**start, **written}:
        extra = sorted(set(now) - set(start) - set(written))
        changed = sorted(k for k in start if now.get(k) != start[k])
        return [f"the project changed: new {extra[:5]}, changed {changed[:5]}"]
    return []


def check_api_error(base: Path, error: BaseException, at_correction: bool) -> list[str]:
    project = make_project(base)
    try:
        replies = [FAILING, error] if at_correction else [error]
        result, _client = run_worker(project, replies)
        if isinstance(result, BaseException):
            return [f"execute_task raised {describe(result)}"]
        problems = []
        error_text = str(result.get("error") or "")
        if result.get("status") != "failed":
            problems.append(f"ended {result.get('status')}, not failed")
        if not error_text.startswith(type(error).__name__):
            problems.append(f"the error does not name {type(error).__name__}: {error_text[:120]!r}")
        retryable = result.get("retryable")
        if not isinstance(retryable, bool):
            problems.append(f"retryable is {retryable!r}")
        elif isinstance(error, NOT_RETRYABLE) and retryable:
            problems.append("a request or account error is marked retryable")
        elif (
            isinstance(error, RETRYABLE) and not retryable and not isinstance(error, NOT_RETRYABLE)
        ):
            problems.append("a transient error is marked not retryable")
        problems += ledger_problems(project.db, project.project_id, allowed={"failed"})
        written = {"work/first.txt": ("file", f"{BUG}\n".encode())} if at_correction else {}
        problems += tree_problems(project, written)
        if FAKE_KEY in stored_text(base / "ledger.db"):
            problems.append("the key is stored in the database")
        if FAKE_KEY in error_text:
            problems.append("the key is in the returned error")
        return problems
    finally:
        project.db.close()


@pytest.mark.parametrize("seed", seeds(default=1, cost=2), ids=lambda s: f"seed{s}")
def test_every_bad_reply_ends_in_a_clear_outcome(seed: int, tally: Tally, tmp_path: Path) -> None:
    rng = rng_for("replies", seed)
    for index, (name, make) in enumerate(CORPUS.items()):
        for at_correction in (False, True):
            reply = make(rng)
            where = "in a correction" if at_correction else "as the first answer"
            base = tmp_path / f"{index}-{int(at_correction)}"
            base.mkdir()
            tally.record(f"{name} {where}", check_reply(base, name, reply, at_correction))
    tally.finish()


@pytest.mark.parametrize("seed", seeds(default=1, cost=6), ids=lambda s: f"seed{s}")
def test_every_sdk_error_class_fails_the_task_clearly(
    seed: int, tally: Tally, tmp_path: Path
) -> None:
    rng = rng_for("sdk errors", seed)
    for index, cls in enumerate(sdk_error_classes()):
        at_correction = rng.random() < 0.5
        where = "in a correction" if at_correction else "as the first answer"
        base = tmp_path / str(index)
        base.mkdir()
        try:
            error = api_error(cls)
        except Exception as exc:  # a class we cannot build is a gap in the corpus: fail it
            tally.record(f"{cls.__name__}", [f"could not build it: {describe(exc)}"])
            continue
        tally.record(f"{cls.__name__} {where}", check_api_error(base, error, at_correction))
    tally.finish()


def test_a_refused_correction_reply_never_keeps_the_key(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    try:
        result, client = run_worker(project, [FAILING, key_in_prose(Random(0))])
        assert not isinstance(result, BaseException) and result["status"] == "blocked"
        problems = []
        if FAKE_KEY in stored_text(tmp_path / "ledger.db"):
            problems.append("the key is stored in the database")
        if any(FAKE_KEY in json.dumps(call, default=str) for call in client.history):
            problems.append("the key was sent in a prompt")
        assert_fixed(problems)
    finally:
        project.db.close()
