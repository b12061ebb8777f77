"""Two small projects and the sessions the CLI tests replay: recorded here, through the
Python API, by wrapping a scripted Claude in a ``RecordingClient``.

Every reply is real code judged by a real pytest run: nothing here decides an outcome.

- ``multiply``: task 1 adds ``calc.multiply`` with a test (backend), task 2 tests it with
  negative numbers (test worker) after task 1. Both pass first time.
- ``divide``: task 1's replies floor-divide until a human answers "use true division"; its
  four attempts fail, it is blocked, and task 2 (after it) is blocked by the dependency.
  Once answered, the next run's prompt carries the answer, the reply is right, and the
  dependent task is released and completes.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

from codeframe.agents.lead_agent import LeadAgent
from codeframe.cli.tasks_file import load_tasks_file
from codeframe.llm import RecordingClient, ScriptedClient
from codeframe.persistence.database import Database
from codeframe.testing.test_runner import TestRunner

CALC = "def add(a, b):\n    return a + b\n"
PYTEST_INI = "[pytest]\npythonpath = .\n"

MULTIPLY_TOML = """\
[[tasks]]
title = "Add a multiply function"
description = "calc.multiply(a, b) returns a * b, with a test."
worker = "backend"

[[tasks]]
title = "Test multiply with negative numbers"
worker = "test"
depends_on = [1]
"""

MULTIPLY_YAML = """\
tasks:
  - title: Add a multiply function
    description: calc.multiply(a, b) returns a * b, with a test.
    worker: backend
  - title: Test multiply with negative numbers
    worker: test
    depends_on: [1]
"""

DIVIDE_TOML = """\
[[tasks]]
title = "Add a divide function"
description = "calc.divide(a, b) returns a divided by b."
worker = "backend"

[[tasks]]
title = "Test divide with negative numbers"
worker = "test"
depends_on = [1]
"""

ANSWER = "use true division (/), not floor division"


def _files(*pairs: tuple[str, str, str]) -> dict[str, object]:
    files = [{"path": path, "action": action, "content": text} for path, action, text in pairs]
    return {"files": files, "explanation": "as the task asks"}


MULTIPLY = _files(
    ("calc.py", "modify", CALC + "\n\ndef multiply(a, b):\n    return a * b\n"),
    (
        "tests/test_multiply.py",
        "create",
        "from calc import multiply\n\n\ndef test_multiply():\n    assert multiply(3, 4) == 12\n",
    ),
)
NEGATIVE_MULTIPLY = _files(
    (
        "tests/test_negative_multiply.py",
        "create",
        "from calc import multiply\n\n\ndef test_negative():\n    assert multiply(-2, 3) == -6\n",
    ),
)
DIVIDE_TEST = "from calc import divide\n\n\ndef test_divide():\n    assert divide(7, 2) == 3.5\n"
FLOOR_DIVIDE = _files(
    ("calc.py", "modify", CALC + "\n\ndef divide(a, b):\n    return a // b\n"),
    ("tests/test_divide.py", "create", DIVIDE_TEST),
)
TRUE_DIVIDE = _files(
    ("calc.py", "modify", CALC + "\n\ndef divide(a, b):\n    return a / b\n"),
    ("tests/test_divide.py", "modify", DIVIDE_TEST),
)
NEGATIVE_DIVIDE = _files(
    (
        "tests/test_negative_divide.py",
        "create",
        "from calc import divide\n\n\ndef test_negative():\n    assert divide(-7, 2) == -3.5\n",
    ),
)

MULTIPLY_RULES = [
    (re.compile(r"^Task #\d+: Add a multiply function$", re.M), MULTIPLY, "backend"),
    (re.compile(r"^Task #\d+: Test multiply with", re.M), NEGATIVE_MULTIPLY, "test"),
]
# The answer is in the prompt of the next run only: until then, floor division.
DIVIDE_RULES = [
    (f"Answer: {ANSWER}", TRUE_DIVIDE, "backend"),
    (re.compile(r"^Task #\d+: Add a divide function$", re.M), FLOOR_DIVIDE, "backend"),
    (re.compile(r"^Task #\d+: Test divide with", re.M), NEGATIVE_DIVIDE, "test"),
]


def make_project(root: Path) -> Path:
    """A tiny calculator with one passing test."""
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "pytest.ini").write_text(PYTEST_INI)
    (root / "tests" / "test_add.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    )
    return root.resolve()


async def _record(
    root: Path, tasks_file: Path, rules: list[tuple[object, ...]], cassette: Path, db_path: Path
) -> list[dict[str, object]]:
    client = RecordingClient(ScriptedClient(rules), cassette, root=root)
    summaries = []
    with Database(db_path) as db:
        project_id = db.get_or_create_project(root.name, workspace_path=root)
        specs = [spec.create_spec() for spec in load_tasks_file(tasks_file)]
        db.create_tasks(project_id, specs)
        runner = TestRunner(root, plugin_autoload=False)
        for _ in range(2):
            lead = LeadAgent(project_id, db, client=client, project_root=root, test_runner=runner)
            summaries.append(await lead.start_multi_agent_execution())
            open_questions = [
                b for b in db.get_blockers(project_id) if b["blocker_type"] != "dependency"
            ]
            if not open_questions:
                break
            for blocker in open_questions:
                await lead.answer_blocker(blocker["id"], ANSWER)
    return summaries


def record_sessions(folder: Path) -> dict[str, Path]:
    """Record both sessions in ``folder`` (its own projects and database); the cassettes."""
    cassettes = {}
    for name, text, rules in (
        ("multiply", MULTIPLY_TOML, MULTIPLY_RULES),
        ("divide", DIVIDE_TOML, DIVIDE_RULES),
    ):
        root = make_project(folder / f"recorded-{name}")
        tasks_file = folder / f"{name}.toml"
        tasks_file.write_text(text)
        cassette = folder / f"{name}.json"
        summaries = asyncio.run(_record(root, tasks_file, rules, cassette, folder / f"{name}.db"))
        # The recordings must show what the replays are expected to show.
        expected_runs = 1 if name == "multiply" else 2
        assert len(summaries) == expected_runs, summaries
        assert summaries[-1]["completed"] == 2, summaries
        shutil.rmtree(root)
        cassettes[name] = cassette
    return cassettes


__all__ = [
    "ANSWER",
    "DIVIDE_TOML",
    "MULTIPLY_TOML",
    "MULTIPLY_YAML",
    "make_project",
    "record_sessions",
]
