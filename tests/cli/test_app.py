"""The `codeframe` command itself: its parser, its usage errors, and real processes of it
(the installed script, `python -m codeframe`, and Ctrl-C in the middle of a run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from codeframe.cli import build_parser, main
from codeframe.cli.location import DB_NAME, STATE_DIR
from codeframe.persistence.database import Database
from tests.cli.conftest import Cli
from tests.cli.scenarios import MULTIPLY_TOML

COMMANDS = ("demo", "run", "status", "blockers", "answer")


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without any key, with pytest children started without plugins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    return {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **extra}


def test_without_a_command_it_shows_help_and_exits_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    for command in COMMANDS:
        assert command in err


def test_every_command_has_help_that_says_where_the_database_is(capsys):
    for command in COMMANDS[1:]:
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert f"{STATE_DIR}/{DB_NAME}" in out, command
        assert "--project" in out, command


def test_a_bad_option_value_is_a_usage_error(cli: Cli, tmp_path):
    for argv in (
        ["run", "t.toml", "--concurrency", "0"],
        ["run", "t.toml", "--budget", "-1"],
        ["run", "t.toml", "--task-budget", "lots"],
        ["answer", "x", "yes"],
    ):
        outcome = cli(*argv)
        assert outcome.code == 2, argv
        assert "error: argument" in outcome.err, argv


def test_the_parser_reads_dollar_amounts_with_a_dollar_sign():
    args = build_parser().parse_args(["run", "t.toml", "--budget", "$2.50"])
    assert args.budget == 2.5


# -- the demo command ----------------------------------------------------------------------


def test_demo_live_without_a_key_exits_2_naming_the_variable(tmp_path, cli: Cli):
    outcome = cli("demo", "--live", "--workdir", tmp_path / "w")
    assert outcome.code == 2
    assert "ANTHROPIC_API_KEY" in outcome.err
    assert not (tmp_path / "w").exists()


def test_demo_refuses_a_folder_that_is_not_ours(tmp_path, cli: Cli):
    (tmp_path / "notes.txt").write_text("mine")
    outcome = cli("demo", "--workdir", tmp_path)
    assert outcome.code == 2
    assert "refusing" in outcome.err
    assert (tmp_path / "notes.txt").read_text() == "mine"


# -- real processes ------------------------------------------------------------------------


def test_the_installed_script_answers_help():
    script = Path(sys.executable).parent / "codeframe"
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert command in done.stdout


def test_python_m_codeframe_run_replays_a_session(calc, cassettes, tmp_path):
    (tmp_path / "tasks.toml").write_text(MULTIPLY_TOML)
    done = subprocess.run(
        [sys.executable, "-m", "codeframe", "run", "tasks.toml", "--project", str(calc),
         "--replay", str(cassettes["multiply"])],
        capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=100, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 tasks: 2 completed. This run cost $0.00 (simulated)." in done.stdout
    assert "== Tasks ==" in done.stdout


SLOW_TEST = """\
import os
import time


def test_slow():
    if os.environ.get("CALC_SLOW"):
        time.sleep(120)
"""


def test_ctrl_c_cancels_the_running_task_and_exits_130(calc, cassettes, tmp_path):
    # The replayed reply is the recorded one; the project's own suite is what hangs.
    (calc / "tests" / "test_slow.py").write_text(SLOW_TEST)
    (tmp_path / "tasks.toml").write_text(MULTIPLY_TOML)
    process = subprocess.Popen(
        [sys.executable, "-m", "codeframe", "run", "tasks.toml", "--project", str(calc),
         "--replay", str(cassettes["multiply"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=clean_env(CALC_SLOW="1"),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:  # the run is under way once a task has started
            seen.append(line)
            if "started by backend-1" in line:
                break
        else:
            pytest.fail(f"the run never started a task: {''.join(seen)}")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, "".join(seen) + out + err
    assert "interrupted; running tasks were cancelled" in err
    with Database(calc / STATE_DIR / DB_NAME) as db:
        statuses = [task["status"] for task in db.get_project_tasks(1)]
    assert statuses == ["cancelled", "pending"]
    assert "cancelled" in out  # the table printed after the interrupt
