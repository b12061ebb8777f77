"""Task lists in TOML and YAML: what they become, and every way a file is refused — before
anything runs, naming the file, the task and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeframe.cli.tasks_file import TaskSpec, load_tasks_file, parse_tasks
from codeframe.errors import InputFileError
from codeframe.persistence.database import Database
from tests.cli.conftest import Cli
from tests.cli.scenarios import MULTIPLY_TOML, MULTIPLY_YAML

FULL_TOML = """\
[[tasks]]
title = "Add the API"
description = "GET /books returns every book."
worker = "Backend"
priority = 0
budget_usd = 1.5

[[tasks]]
number = 10
title = "Build the shelf page"
worker = "frontend"
depends_on = 1

[[tasks]]
title = "Test the shelf page"
depends_on = [10, 1, 10]
"""

FULL_YAML = """\
tasks:
  - title: Add the API
    description: GET /books returns every book.
    worker: Backend
    priority: 0
    budget_usd: 1.5
  - number: 10
    title: Build the shelf page
    worker: frontend
    depends_on: 1
  - title: Test the shelf page
    depends_on: [10, 1, 10]
"""

EXPECTED = [
    TaskSpec(1, "Add the API", "GET /books returns every book.", (), "backend", 0, 1.5),
    TaskSpec(10, "Build the shelf page", "", (1,), "frontend"),
    TaskSpec(3, "Test the shelf page", "", (10, 1)),
]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "text"), [("t.toml", FULL_TOML), ("t.yml", FULL_YAML)])
def test_both_formats_give_the_same_tasks(tmp_path, name, text):
    assert load_tasks_file(write(tmp_path, name, text)) == EXPECTED


def test_toml_and_yaml_of_the_scenario_agree(tmp_path):
    toml = load_tasks_file(write(tmp_path, "a.toml", MULTIPLY_TOML))
    yaml = load_tasks_file(write(tmp_path, "a.yaml", MULTIPLY_YAML))
    assert toml == yaml
    assert [spec.number for spec in toml] == [1, 2]


def test_the_specs_create_the_tasks_with_dependencies_by_number(tmp_path):
    with Database(tmp_path / "db.sqlite") as db:
        project_id = db.create_project("p", workspace_path=str(tmp_path))
        ids = db.create_tasks(project_id, [spec.create_spec() for spec in EXPECTED])
        tasks = db.get_project_tasks(project_id)
    assert [t["task_number"] for t in tasks] == ["1", "10", "3"]
    assert [t["depends_on"] for t in tasks] == [[], [ids[0]], [ids[1], ids[0]]]
    assert [t["worker"] for t in tasks] == ["backend", "frontend", None]
    assert [t["priority"] for t in tasks] == [0, 2, 2]
    assert tasks[0]["budget_usd"] == 1.5


BAD_TOML = """\
[[tasks]]
title = "Add the API"
depend_on = [2]
worker = "database"

[[tasks]]
title = ""
priority = 9
budget_usd = -1

[[tasks]]
title = "Test it"
depends_on = [1, 7, 3]
number = 1
"""

BAD_YAML = """\
tasks:
  - title: Add the API
    depend_on: [2]
    worker: database
  - title: ""
    priority: 9
    budget_usd: -1
  - title: Test it
    depends_on: [1, 7, 3]
    number: 1
"""

BAD_PROBLEMS = [
    "task 1 ('Add the API'): unknown field 'depend_on' (did you mean 'depends_on'?)",
    "task 1 ('Add the API'): worker: 'database' is not one of backend, frontend, test",
    "task 2: title: must be non-empty text, not ''",
    "task 2: priority: must be a whole number from 0 (first) to 4, not 9",
    "task 2: budget_usd: must be a number of dollars, 0 or more, not -1",
    "task 1 (entry 3, 'Test it'): number: 1 is already the number of task 1 ('Add the API') "
    "(a task without `number` is numbered by its position)",
    "task 1 (entry 3, 'Test it'): depends_on: a task cannot depend on itself",
    "task 1 (entry 3, 'Test it'): depends_on: there is no task 7 in the file (its tasks are 1, 2)",
    "task 1 (entry 3, 'Test it'): depends_on: there is no task 3 in the file (its tasks are 1, 2)",
]


@pytest.mark.parametrize(("name", "text"), [("bad.toml", BAD_TOML), ("bad.yaml", BAD_YAML)])
def test_every_problem_of_a_bad_file_is_listed_naming_the_task_and_field(tmp_path, name, text):
    path = write(tmp_path, name, text)
    with pytest.raises(InputFileError) as caught:
        load_tasks_file(path)
    assert list(caught.value.problems) == BAD_PROBLEMS
    assert str(caught.value).startswith(f"{path}: 9 problems:\n  - task 1")


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("a.toml", '[[tasks]]\ntitle = "x\n', "is not valid TOML: "),
        ("a.yaml", "tasks:\n  - title: [unclosed\n", "is not valid YAML (line 3, column 1)"),
        ("a.yaml", "- title: x\n", "expected a top-level `tasks` list"),
        ("a.toml", 'title = "x"\n', "expected a top-level `tasks` list"),
        ("a.yaml", "tasks: []\n", "`tasks` must be a non-empty list"),
        ("a.yaml", "tasks:\n  - just text\n", "task 1: must be a table of fields, not text"),
        ("a.yaml", "tasks:\n  - title: yes\n", "task 1: title: must be non-empty text, not True"),
        ("a.yaml", "tasks:\n  - {title: a, number: true}\n", "number: must be a whole number"),
        ("a.yaml", "tasks:\n  - {title: a, depends_on: ['2']}\n", "must be a list of task nu"),
        ("a.toml", '[[tasks]]\ntitle="a"\n[x]\n', "unknown top-level key 'x'"),
        ("a.json", "{}", "unknown file type .json: use .toml, .yaml or .yml"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(tmp_path, name, text, problem):
    with pytest.raises(InputFileError, match="^" + str(tmp_path)) as caught:
        load_tasks_file(write(tmp_path, name, text))
    assert problem in str(caught.value)


def test_a_dependency_cycle_is_named(tmp_path):
    text = (
        "tasks:\n  - {title: a, depends_on: [3]}\n  - {title: b}\n"
        "  - {title: c, depends_on: [4]}\n  - {title: d, depends_on: [1]}\n"
    )
    with pytest.raises(InputFileError) as caught:
        load_tasks_file(write(tmp_path, "c.yaml", text))
    assert caught.value.problems == ("tasks depend on each other in a circle: 1 → 3 → 4 → 1",)


def test_a_cycle_is_listed_with_the_files_other_problems(tmp_path):
    """Found trying the README as a new user: the cycle showed up only once every other
    problem was fixed, though the file's errors promise to list every problem at once."""
    text = (
        "tasks:\n  - {title: a, depends_on: [2]}\n  - {title: b, depends_on: [1]}\n"
        "  - {title: '', worker: wizard}\n"
    )
    with pytest.raises(InputFileError) as caught:
        load_tasks_file(write(tmp_path, "c.yaml", text))
    problems = caught.value.problems
    assert "tasks depend on each other in a circle: 1 → 2 → 1" in problems
    assert any("title" in problem for problem in problems)
    assert any("wizard" in problem for problem in problems)


def test_a_long_chain_is_no_cycle_and_no_recursion_limit():
    count = 5_000
    tasks = [
        {"title": f"t{n}", "depends_on": [n - 1] if n > 1 else []} for n in range(1, count + 1)
    ]
    assert len(parse_tasks({"tasks": tasks})) == count


def test_missing_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        load_tasks_file(tmp_path / "none.toml")
    (tmp_path / "latin.toml").write_bytes(b'[[tasks]]\ntitle = "caf\xe9"\n')
    with pytest.raises(InputFileError, match="is not UTF-8 text"):
        load_tasks_file(tmp_path / "latin.toml")
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(InputFileError, match="cannot be read"):
        load_tasks_file(tmp_path / "folder.yaml")


@pytest.mark.parametrize(("name", "text"), [("bad.toml", BAD_TOML), ("bad.yaml", BAD_YAML)])
def test_run_refuses_a_bad_list_with_exit_2_and_creates_nothing(
    cli: Cli, calc, tmp_path, name, text
):
    path = write(tmp_path, name, text)

    outcome = cli("run", path, "--project", calc, "--replay", "never-read.json")

    assert outcome.code == 2
    assert outcome.err.startswith(f"codeframe run: {path}: 9 problems:")
    assert "unknown field 'depend_on' (did you mean 'depends_on'?)" in outcome.err
    assert outcome.out == ""
    assert not (calc / ".codeframe").exists()
