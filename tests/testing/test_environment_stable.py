"""The child environment makes pytest's output read the same in a terminal and a kernel."""

from __future__ import annotations

from codeframe.testing.environment import build_child_env


def test_colour_forcing_is_dropped_and_the_width_fixed() -> None:
    kernel_like = {
        "FORCE_COLOR": "1",
        "PY_COLORS": "1",
        "CLICOLOR_FORCE": "1",
        "COLUMNS": "237",
        "PATH": "/usr/bin",
    }
    env = build_child_env(kernel_like)
    assert "FORCE_COLOR" not in env and "PY_COLORS" not in env and "CLICOLOR_FORCE" not in env
    assert env["COLUMNS"] == "100"
    assert env["PATH"] == "/usr/bin"


def test_pytests_ci_switch_is_turned_off_so_summaries_are_cut_alike_everywhere() -> None:
    env = build_child_env({"CI": "true", "BUILD_NUMBER": "512", "PATH": "/usr/bin"})
    assert "CI" not in env and "BUILD_NUMBER" not in env
    # A project whose tests need it passes it on purpose.
    assert build_child_env({}, overrides={"CI": "1"})["CI"] == "1"


def test_a_caller_may_still_choose_a_width() -> None:
    assert build_child_env({}, overrides={"COLUMNS": "80"})["COLUMNS"] == "80"


def test_passwords_and_access_keys_are_dropped_too() -> None:
    env = build_child_env(
        {
            "AWS_SECRET_ACCESS_KEY": "x",
            "PGPASSWORD": "x",
            "DB_PASSWORD": "x",
            "GOOGLE_APPLICATION_CREDENTIALS": "x",
            "SSH_PRIVATE_KEY": "x",
            "HOME": "/root",
        }
    )
    assert "HOME" in env
    assert not {
        "AWS_SECRET_ACCESS_KEY",
        "PGPASSWORD",
        "DB_PASSWORD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SSH_PRIVATE_KEY",
    } & set(env)
    # A project whose tests need one passes it on purpose.
    assert build_child_env({}, overrides={"PGPASSWORD": "test"})["PGPASSWORD"] == "test"
