"""`codeframe run`, `status`, `blockers` and `answer` through the real entry point, on real
pytest runs of replayed sessions (recorded by tests/cli/scenarios.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import pytest

from codeframe.cli.location import DB_NAME, STATE_DIR
from codeframe.persistence.database import Database
from tests.cli.conftest import Cli
from tests.cli.scenarios import ANSWER, DIVIDE_TOML, MULTIPLY_TOML, MULTIPLY_YAML


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def tasks_in(project: Path) -> list[dict[str, object]]:
    with Database(project / STATE_DIR / DB_NAME) as db:
        (project_row,) = db.list_projects()
        return db.get_project_tasks(project_row["id"])


def table_rows(out: str) -> dict[str, list[str]]:
    """The (last) tasks table's rows by task title; cells split on runs of two spaces or more."""
    lines = out.splitlines()
    header = max(i for i, line in enumerate(lines) if re.match(r"id\s+#\s+title", line))
    rows = {}
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[2]] = cells
    return rows


# -- a whole run from a task list ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"), [("tasks.toml", MULTIPLY_TOML), ("tasks.yaml", MULTIPLY_YAML)]
)
def test_a_replayed_run_completes_the_list_with_real_tests(
    cli: Cli, calc, cassettes, tmp_path, name, text
):
    tasks = write(tmp_path / name, text)

    result = cli("run", tasks, "--project", calc, "--replay", cassettes["multiply"])

    assert result.code == 0, result.err
    assert "offline, replaying" in result.out
    assert "#1 Add a multiply function: started by backend-1" in result.out
    assert "tests passed — 2 passed, 0 failed" in result.out  # test_add and test_multiply
    assert "completed (200 simulated tokens)" in result.out
    rows = table_rows(result.out)
    assert rows["Add a multiply function"][3:5] == ["backend-1", "completed"]
    assert rows["Test multiply with negative numbers"][3:5][1] == "completed"
    assert rows["Test multiply with negative numbers"][3].startswith("test-")
    assert rows["Add a multiply function"][-1] == "$0.00"
    assert "2 tasks: 2 completed. This run cost $0.00 (simulated)." in result.out
    assert "blocker" not in result.out.lower()
    # The agents' code is really there, and the database is the folder's own.
    assert "def multiply" in (calc / "calc.py").read_text()
    assert (calc / "tests" / "test_negative_multiply.py").is_file()
    assert [t["task_number"] for t in tasks_in(calc)] == ["1", "2"]
    assert [t["worker"] for t in tasks_in(calc)] == ["backend", "test"]
    assert (calc / STATE_DIR / ".gitignore").read_text().splitlines()[-1] == "*"


def test_running_the_list_again_adds_no_task_and_a_grown_list_adds_only_the_new_one(
    cli: Cli, calc, cassettes, tmp_path
):
    tasks = write(tmp_path / "tasks.toml", MULTIPLY_TOML)
    assert cli("run", tasks, "--project", calc, "--replay", cassettes["multiply"]).code == 0

    again = cli("run", tasks, "--project", calc, "--replay", cassettes["multiply"])

    assert again.code == 0
    assert "0 new task(s) added, 2 already in the project" in again.out
    assert "started by" not in again.out  # nothing was pending
    assert len(tasks_in(calc)) == 2

    renamed = MULTIPLY_TOML.replace("Add a multiply function", "Add multiply")
    grown = write(
        tmp_path / "grown.toml",
        renamed + '\n[[tasks]]\ntitle = "Write a changelog"\nnumber = 7\ndepends_on = [2]\n',
    )
    # The new task has no recording: it fails, which is what shows it was added and run.
    third = cli("run", grown, "--project", calc, "--replay", cassettes["multiply"])

    assert third.code == 1
    assert "1 new task(s) added, 2 already in the project" in third.out
    assert "note: task 1 is 'Add a multiply function' in the project" in third.out
    tasks = tasks_in(calc)
    assert [t["task_number"] for t in tasks] == ["1", "2", "7"]
    assert tasks[2]["depends_on"] == [tasks[1]["id"]]  # number 2 resolved to the kept task
    assert tasks[0]["title"] == "Add a multiply function"
    assert tasks[2]["status"] == "failed"
    assert re.search(r"task #3 failed: .*no reply", third.out)


def test_a_blocker_is_listed_answered_and_the_next_run_finishes_the_chain(
    cli: Cli, calc, cassettes, tmp_path
):
    tasks = write(tmp_path / "divide.toml", DIVIDE_TOML)

    first = cli("run", tasks, "--project", calc, "--replay", cassettes["divide"])

    assert first.code == 1
    assert "self-correction attempt 3/3 did not fix the tests" in first.out
    rows = table_rows(first.out)
    assert rows["Add a divide function"][4:6] == ["blocked", "3"]
    assert rows["Test divide with negative numbers"][4] == "blocked"
    with Database(calc / STATE_DIR / DB_NAME) as db:
        (question,) = [b for b in db.get_blockers(1) if b["blocker_type"] != "dependency"]
    assert f"codeframe answer {question['id']} " in first.out
    assert "== Open blockers" in first.out
    # The command it suggests for afterwards replays too: without a key, a live run is refused.
    again = f"(codeframe run {tasks} --project {calc} --replay {cassettes['divide']}) to carry on"
    assert again in " ".join(first.out.split())

    listed = cli("blockers", "--project", calc)

    assert listed.code == 0
    assert f"blocker {question['id']} — task #1 'Add a divide function'" in listed.out
    assert "reason:   " in listed.out and "question: " in listed.out
    assert "(dependency, " in listed.out  # the dependent's blocker, released by the system later

    answered = cli("answer", question["id"], *ANSWER.split(), "--project", calc)

    assert answered.code == 0, answered.err
    assert "Task #1 is pending again" in answered.out
    assert "open blocker" in cli("status", "--project", calc).out  # the dependency one is left

    second = cli("run", tasks, "--project", calc, "--replay", cassettes["divide"])

    assert second.code == 0, second.out + second.err
    assert "#2 Test divide with negative numbers: pending again (task #1 completed)" in second.out
    assert "2 tasks: 2 completed." in second.out
    assert "return a / b" in (calc / "calc.py").read_text()
    after = cli("blockers", "--project", calc)
    assert "No open blockers" in after.out


def test_a_failed_task_is_retried_once_its_cause_is_mended(cli: Cli, calc, cassettes, tmp_path):
    """Found trying the README as a new user: a task that failed for good (here a replay of
    the wrong session) had no way back from the shell, and running the list again did
    nothing; `codeframe retry` puts it back, and its dependent follows when it completes."""
    tasks = write(tmp_path / "tasks.toml", MULTIPLY_TOML)

    wrong = cli("run", tasks, "--project", calc, "--replay", cassettes["divide"])

    assert wrong.code == 1
    assert "task #1 failed: ReplayMissError" in wrong.out
    assert f"`codeframe retry --project {calc}` puts them back" in wrong.out
    assert cli("run", tasks, "--project", calc, "--replay", cassettes["multiply"]).code == 1

    elsewhere = cli("retry", "--project", tmp_path)  # a folder with no tasks: nothing to do
    assert (elsewhere.code, "has no tasks yet" in elsewhere.out) == (0, True)
    not_failed = cli("retry", "2", "--project", calc)
    assert (not_failed.code, "not failed: 2" in not_failed.err) == (2, True)
    unknown = cli("retry", "99", "--project", calc)  # named as missing, not as "not failed"
    assert (unknown.code, "has no task 99" in unknown.err) == (2, True)

    retried = cli("retry", "--project", calc)

    assert retried.code == 0, retried.err
    assert "Pending again: #1." in retried.out
    assert cli("retry", "--project", calc).out.startswith("No failed task")
    again = cli("run", tasks, "--project", calc, "--replay", cassettes["multiply"])
    assert again.code == 0, again.out + again.err
    assert "2 tasks: 2 completed." in again.out


def test_uncommitted_changes_stop_a_run_before_any_task_and_commit_dirty_commits_them(
    cli: Cli, calc, cassettes
):
    """Found trying the README as a new user: a task list kept in the project's own
    repository made the run stop with advice (commit_dirty=True) the command did not take,
    and exit status 1 although nothing had run."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=u", "-c", "user.email=u@example.com", *args],
            cwd=calc, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "calc")
    tasks = write(calc / "tasks.toml", MULTIPLY_TOML)  # not committed yet

    refused = cli("run", tasks, "--project", calc, "--replay", cassettes["multiply"])

    assert refused.code == 2
    assert "uncommitted changes in" in refused.err and "tasks.toml" in refused.err
    assert "--commit-dirty" in refused.err and "Nothing was run" in refused.err

    committed = cli(
        "run", tasks, "--project", calc, "--replay", cassettes["multiply"], "--commit-dirty"
    )

    assert "uncommitted changes" not in committed.err
    assert "tasks.toml" in git("show", "--stat", "--format=", "main~2")
    assert git("status", "--porcelain") == ""
    assert committed.code == 0, committed.out + committed.err


# -- money ---------------------------------------------------------------------------------

# Offline calls cost nothing unless priced: output at $100 per million tokens makes a call's
# upper bound 4096 x $0.0001 = $0.4096, and a replayed call (80 output tokens) cost $0.008.
OFFLINE_PRICES = """\
["codeframe-offline"]
input = 0.0
output = 100.0
cache_write = 0.0
cache_read = 0.0
"""


def test_a_run_that_reaches_its_budget_starts_no_more_and_says_so(
    cli: Cli, calc, cassettes, tmp_path
):
    tasks = write(tmp_path / "tasks.toml", MULTIPLY_TOML)
    prices = write(tmp_path / "prices.toml", OFFLINE_PRICES)

    # Room for the first call's bound ($0.4096) but not for the second after it ($0.4176).
    result = cli(
        "run", tasks, "--project", calc, "--replay", cassettes["multiply"],
        "--prices", prices, "--budget", "0.415",
    )  # fmt: skip

    assert result.code == 1
    assert "run budget $0.4150" in result.out
    rows = table_rows(result.out)
    assert rows["Add a multiply function"][4] == "completed"
    assert rows["Add a multiply function"][-1] == "$0.0080"
    assert rows["Test multiply with negative numbers"][4] == "blocked"
    assert "This run cost $0.0080 (simulated)." in result.out
    assert "Budget reached: the run's budget of $0.4150 is spent" in result.out
    with Database(calc / STATE_DIR / DB_NAME) as db:
        (budget,) = db.get_blockers(1)
    assert budget["blocker_type"] == "budget"
    assert f"codeframe answer {budget['id']} 2.50" in result.out

    refused = cli("answer", budget["id"], "more", "please", "--project", calc)

    assert refused.code == 2
    assert "answer a budget blocker with a new budget in dollars" in refused.err
    assert cli("blockers", "--project", calc).out.count(f"blocker {budget['id']} ") == 1

    answered = cli("answer", budget["id"], "$1", "--project", calc)

    assert answered.code == 0
    assert "Its budget is now $1.00." in answered.out
    assert "Task #2 is pending again" in answered.out
    with Database(calc / STATE_DIR / DB_NAME) as db:
        assert db.get_task(2)["budget_usd"] == 1.0


def test_a_task_budget_blocks_the_task_before_its_call(cli: Cli, calc, cassettes, tmp_path):
    tasks = write(tmp_path / "tasks.toml", MULTIPLY_TOML)
    prices = write(
        tmp_path / "prices.yaml",
        "codeframe-offline: {input: 0, output: 100, cache_write: 0, cache_read: 0}\n",
    )

    result = cli(
        "run", tasks, "--project", calc, "--replay", cassettes["multiply"],
        "--prices", prices, "--task-budget", "0.10",
    )  # fmt: skip

    assert result.code == 1
    assert "#1 Add a multiply function: blocker" in result.out
    assert "(budget, " in result.out
    assert "Budget reached" not in result.out  # the run had no budget of its own
    assert (calc / "calc.py").read_text().count("def ") == 1  # no call, no change


# -- status on nothing, and where the database lives ----------------------------------------


def test_status_of_a_folder_with_no_database_creates_nothing(cli: Cli, calc):
    result = cli("status", "--project", calc)

    assert result.code == 0
    assert "(no tasks)" in result.out
    assert "0 tasks. Cost so far: $0.00. 0 open blockers." in result.out
    assert not (calc / STATE_DIR).exists()


def test_status_on_a_database_with_nothing_in_it(cli: Cli, calc, tmp_path):
    Database(tmp_path / "empty.db").close()

    result = cli("status", "--project", calc, "--db", tmp_path / "empty.db")

    assert result.code == 0
    assert "(no tasks)" in result.out
    assert "0 tasks. Cost so far: $0.00. 0 open blockers." in result.out
    assert f"Start with: codeframe run TASKS_FILE --project {calc} --db " in result.out
    assert cli("blockers", "--project", calc, "--db", tmp_path / "empty.db").code == 0


def test_status_shows_the_table_counts_and_cost(cli: Cli, calc, cassettes, tmp_path, monkeypatch):
    tasks = write(tmp_path / "tasks.toml", MULTIPLY_TOML)
    assert cli("run", tasks, "--project", calc, "--replay", cassettes["multiply"]).code == 0
    monkeypatch.chdir(calc)  # --project defaults to the current folder

    result = cli("status")

    assert result.code == 0
    assert set(table_rows(result.out)) == {
        "Add a multiply function", "Test multiply with negative numbers",
    }  # fmt: skip
    assert "2 tasks: 2 completed. Cost so far: $0.00 (simulated). 0 open blockers." in result.out


def test_a_db_named_with_db_is_used_by_all_commands(cli: Cli, calc, cassettes, tmp_path):
    tasks = write(tmp_path / "tasks.toml", MULTIPLY_TOML)
    db = tmp_path / "elsewhere" / "ledger.db"

    assert (
        cli("run", tasks, "--project", calc, "--db", db, "--replay", cassettes["multiply"]).code
        == 0
    )

    assert db.is_file() and not (calc / STATE_DIR).exists()
    assert "2 completed" in cli("status", "--project", calc, "--db", db).out
    missing = cli("status", "--project", calc, "--db", tmp_path / "typo.db")
    assert missing.code == 2 and "no such file" in missing.err


# -- usage errors: exit 2, nothing created ----------------------------------------------------


def test_no_key_and_no_replay_is_a_clear_error(cli: Cli, calc, tmp_path):
    tasks = write(tmp_path / "tasks.toml", MULTIPLY_TOML)

    result = cli("run", tasks, "--project", calc)

    assert result.code == 2
    assert "ANTHROPIC_API_KEY is not set" in result.err and "--replay CASSETTE" in result.err
    assert not (calc / STATE_DIR).exists()


@pytest.mark.parametrize("flag", [["--live"], ["--record", "new.json"]])
def test_live_or_record_without_a_key_names_the_variable(cli: Cli, calc, tmp_path, flag):
    tasks = write(tmp_path / "tasks.toml", MULTIPLY_TOML)

    result = cli("run", tasks, "--project", calc, *flag)

    assert result.code == 2
    assert f"{flag[0]} needs the ANTHROPIC_API_KEY environment variable" in result.err
    assert not (calc / STATE_DIR).exists()


def test_a_missing_folder_or_cassette_is_refused_before_anything_is_created(
    cli: Cli, calc, tmp_path
):
    tasks = write(tmp_path / "tasks.toml", MULTIPLY_TOML)

    no_folder = cli("run", tasks, "--project", tmp_path / "nowhere", "--replay", "x.json")
    no_cassette = cli("run", tasks, "--project", calc, "--replay", tmp_path / "none.json")
    both_modes = cli("run", tasks, "--project", calc, "--live", "--replay", "x.json")

    assert no_folder.code == 2 and "does not exist" in no_folder.err
    assert no_cassette.code == 2 and "cassette not found" in no_cassette.err
    assert both_modes.code == 2 and "not allowed with argument" in both_modes.err
    assert not (calc / STATE_DIR).exists()


def test_answer_refuses_an_unknown_blocker_and_another_projects_blocker(
    cli: Cli, calc, cassettes, tmp_path
):
    tasks = write(tmp_path / "divide.toml", DIVIDE_TOML)
    other = tmp_path / "other"
    other.mkdir()
    db = tmp_path / "shared.db"
    assert (
        cli("run", tasks, "--project", calc, "--db", db, "--replay", cassettes["divide"]).code == 1
    )

    unknown = cli("answer", "999", "yes", "--project", calc, "--db", db)
    elsewhere = cli("answer", "1", "yes", "--project", other, "--db", db)
    no_database = cli("answer", "1", "yes", "--project", other)

    assert unknown.code == 2 and "no blocker 999" in unknown.err
    assert elsewhere.code == 2 and f"belongs to the project in {calc}" in elsewhere.err
    assert no_database.code == 2 and "has no codeframe database yet" in no_database.err


# -- the key --------------------------------------------------------------------------------

KEY = "sk-ant-api03-NEVER-SHOW-THIS-0123456789abcdef"


class StubAnthropic:
    """Stands in for ``anthropic.AsyncAnthropic``: every call fails naming the key it got,
    as a careless error message might; the CLI must still never show it."""

    made: ClassVar[list[StubAnthropic]] = []

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.messages = self
        self.closed = False
        StubAnthropic.made.append(self)

    async def create(self, **kwargs: object) -> object:
        raise RuntimeError(f"refused key {self.api_key}")

    async def close(self) -> None:
        self.closed = True


def test_the_key_never_appears_in_any_output(cli: Cli, calc, cassettes, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setattr("anthropic.AsyncAnthropic", StubAnthropic)
    StubAnthropic.made.clear()
    tasks = write(tmp_path / "tasks.toml", MULTIPLY_TOML)

    outcomes = [
        cli("run", tasks, "--project", calc, "--live"),
        cli("status", "--project", calc),
        cli("blockers", "--project", calc),
        cli("run", tasks, "--project", calc, "--replay", cassettes["multiply"]),
        cli("run", tasks, "--project", calc, "--record", tmp_path / "session.json"),
    ]

    assert outcomes[0].code == 1
    assert "live (" in outcomes[0].out
    assert "failed" in outcomes[0].out
    assert [stub.api_key for stub in StubAnthropic.made] == [KEY, KEY]
    assert all(stub.closed for stub in StubAnthropic.made)
    for outcome in outcomes:
        assert KEY not in outcome.out + outcome.err
    assert KEY.encode() not in (calc / STATE_DIR / DB_NAME).read_bytes()
