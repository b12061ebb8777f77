"""TestRunner on small real projects: each test starts a real pytest subprocess.

``plugin_autoload=False`` keeps every run's start-up near a bare pytest start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from codeframe.core.models import TestResult
from codeframe.errors import InvalidInputError, UnsupportedPlatformError
from codeframe.testing import TestRunner, build_child_env, is_secret_name
from codeframe.testing.warm import WARM_SUPPORTED
from tests.testing.processes import is_gone, make_project

PASSING = """
def test_one():
    assert 1 + 1 == 2
"""

FAILING = """
def test_good():
    assert True

def test_bad():
    assert 1 == 2, "one is not two"
"""

MIXED = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture boom")

def test_pass():
    pass

def test_fail():
    raise ValueError("body boom")

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

def test_error(broken):
    pass
"""

# Writes "<pytest pid> <grandchild pid>" once the grandchild runs, then hangs.
HANGS_WITH_GRANDCHILD = """
import os, subprocess, time
from pathlib import Path

def test_hangs():
    child = subprocess.Popen(["sleep", "60"])
    target = Path(os.environ["PID_FILE"])
    target.with_suffix(".tmp").write_text(f"{os.getpid()} {child.pid}")
    target.with_suffix(".tmp").replace(target)
    time.sleep(60)
"""


def runner(root: Path, **options: object) -> TestRunner:
    options.setdefault("timeout", 60)
    return TestRunner(root, plugin_autoload=False, **options)  # type: ignore[arg-type]


def entries(folder: Path) -> list[str]:
    """Everything under ``folder``, as sorted relative POSIX paths."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


def fake_python(tmp_path: Path, body: str) -> Path:
    """A stand-in interpreter: a shell script that receives pytest's arguments."""
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return script


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the runner's report folders go, so a test can see they are removed."""
    root = tmp_path / "temp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


async def test_passing_project(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"tests/test_math.py": PASSING})

    result = await runner(root).run_tests()

    assert isinstance(result, TestResult)
    assert result.status == "passed"
    assert (result.passed, result.failed, result.errors, result.skipped) == (1, 0, 0, 0)
    assert [case.node_id for case in result.cases] == ["tests/test_math.py::test_one"]
    assert result.runner_error is None
    assert "1 passed" in result.output
    assert result.duration > 0


async def test_failing_test_body_counts_as_failed_not_error(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"tests/test_x.py": FAILING})

    result = await runner(root).run_tests()

    assert result.status == "failed"
    assert (result.passed, result.failed, result.errors) == (1, 1, 0)
    bad = next(case for case in result.cases if case.outcome == "failed")
    assert bad.node_id == "tests/test_x.py::test_bad"
    assert "one is not two" in bad.message
    assert result.runner_error is None
    assert "one is not two" in result.output


async def test_mixed_outcomes_in_one_module(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"test_mixed.py": MIXED})

    result = await runner(root).run_tests()

    assert result.status == "failed"
    assert (result.passed, result.failed, result.errors, result.skipped) == (1, 1, 1, 1)
    outcomes = {case.node_id: (case.outcome, case.message) for case in result.cases}
    assert outcomes["test_mixed.py::test_pass"] == ("passed", "")
    assert outcomes["test_mixed.py::test_fail"][0] == "failed"
    assert "body boom" in outcomes["test_mixed.py::test_fail"][1]
    assert outcomes["test_mixed.py::test_skip"] == ("skipped", "not today")
    assert outcomes["test_mixed.py::test_error"][0] == "error"
    assert "fixture boom" in outcomes["test_mixed.py::test_error"][1]


async def test_collection_error_is_error_the_model_can_fix(tmp_path: Path) -> None:
    root = make_project(
        tmp_path, {"tests/test_ok.py": PASSING, "tests/test_broken.py": "def test_x(:\n"}
    )

    result = await runner(root).run_tests()

    assert result.status == "error"
    assert result.errors >= 1
    assert result.runner_error is None
    broken = next(case for case in result.cases if case.node_id == "tests/test_broken.py")
    assert "SyntaxError" in broken.message


async def test_broken_conftest_is_error_the_model_can_fix(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {"tests/conftest.py": "import no_such_module_here\n", "tests/test_ok.py": PASSING},
    )

    result = await runner(root).run_tests()

    assert result.status == "error"
    assert result.errors == 1
    assert result.runner_error is None
    (case,) = result.cases
    assert case.node_id == "tests/conftest.py"
    assert "no_such_module_here" in case.message


async def test_no_tests(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"tests/helpers.py": "VALUE = 1\n"})

    result = await runner(root).run_tests()

    assert result.status == "no_tests"
    assert result.total == 0
    assert result.runner_error is None


async def test_test_paths_are_honoured(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"tests/test_a.py": PASSING, "tests/test_b.py": FAILING})
    run = runner(root)

    only_a = await run.run_tests(["tests/test_a.py"])
    only_b = await run.run_tests("tests/test_b.py")

    assert only_a.status == "passed"
    assert [case.node_id for case in only_a.cases] == ["tests/test_a.py::test_one"]
    assert only_b.status == "failed"
    assert {case.node_id for case in only_b.cases} == {
        "tests/test_b.py::test_good",
        "tests/test_b.py::test_bad",
    }


async def test_missing_test_path_is_a_runner_error(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"tests/test_a.py": PASSING})

    result = await runner(root).run_tests(["tests/test_gone.py"])

    assert result.status == "error"
    assert result.runner_error is not None
    assert "tests/test_gone.py" in result.runner_error


async def test_timeout_kills_pytest_and_the_grandchild(tmp_path: Path, temp_root: Path) -> None:
    root = make_project(tmp_path / "project", {"tests/test_hang.py": HANGS_WITH_GRANDCHILD})
    pid_file = tmp_path / "pids"

    result = await runner(root, timeout=2, env={"PID_FILE": str(pid_file)}).run_tests()

    assert result.status == "timeout"
    assert result.total == 0
    assert "timed out after 2 s" in result.output
    pytest_pid, grandchild_pid = map(int, pid_file.read_text().split())
    assert await is_gone(pytest_pid)
    assert await is_gone(grandchild_pid)
    assert entries(temp_root) == []


async def test_cancellation_kills_everything_and_propagates(
    tmp_path: Path, temp_root: Path
) -> None:
    root = make_project(tmp_path / "project", {"tests/test_hang.py": HANGS_WITH_GRANDCHILD})
    pid_file = tmp_path / "pids"
    task = asyncio.create_task(runner(root, env={"PID_FILE": str(pid_file)}).run_tests())
    for _ in range(1500):  # up to 30 s for pytest to start and the test to write its pids
        if pid_file.exists() or task.done():
            break
        await asyncio.sleep(0.02)
    assert not task.done(), "the run ended before the test started its grandchild"
    pytest_pid, grandchild_pid = map(int, pid_file.read_text().split())

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await is_gone(pytest_pid)
    assert await is_gone(grandchild_pid)
    assert entries(temp_root) == []


# A stand-in Jupyter kernel: it runs the hanging project until it is killed.
KERNEL = """
import asyncio, sys
from codeframe.testing import TestRunner

runner = TestRunner(sys.argv[1], 60, plugin_autoload=False, env={"PID_FILE": sys.argv[2]})
asyncio.run(runner.run_tests())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
async def test_a_killed_kernel_leaves_no_pytest_behind(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", {"tests/test_hang.py": HANGS_WITH_GRANDCHILD})
    pid_file = tmp_path / "pids"
    kernel = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KERNEL, str(root), str(pid_file)
    )
    try:
        for _ in range(1500):  # up to 30 s for the kernel to start pytest
            if pid_file.exists() or kernel.returncode is not None:
                break
            await asyncio.sleep(0.02)
        assert pid_file.exists(), "the kernel never started the hanging test"
        pytest_pid = int(pid_file.read_text().split()[0])

        kernel.kill()
        await kernel.wait()

        assert await is_gone(pytest_pid)
    finally:
        if kernel.returncode is None:
            kernel.kill()
            await kernel.wait()
        if pid_file.exists():
            # Only pytest gets the signal; its own child is an orphan we tidy up here
            # (and pytest too, should this test fail).
            for pid in map(int, pid_file.read_text().split()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


async def test_child_left_behind_after_a_normal_exit_is_killed(tmp_path: Path) -> None:
    # With -s the grandchild inherits pytest's stdout, our pipe: the run must still end.
    leaves_child = """
    import os, subprocess
    from pathlib import Path

    def test_leaves_a_child():
        child = subprocess.Popen(["sleep", "60"])
        Path(os.environ["PID_FILE"]).write_text(str(child.pid))
    """
    root = make_project(tmp_path / "project", {"tests/test_leave.py": leaves_child})
    pid_file = tmp_path / "pid"
    run = runner(root, timeout=30, extra_args=["-s"], env={"PID_FILE": str(pid_file)})

    async with asyncio.timeout(20):  # generous: the point is that it does not hang
        result = await run.run_tests()

    assert result.status == "passed"
    assert await is_gone(int(pid_file.read_text()))


async def test_a_cancel_at_any_early_moment_reaps_pytest_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Cancelled while spawning, just after, or while waiting: each time pytest is killed and
    # reaped through asyncio's own watcher, which then has nothing odd to report.
    root = make_project(tmp_path / "project", {"test_a.py": PASSING})
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        for turns in range(1, 16):
            task = asyncio.create_task(runner(root).run_tests())
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


ESCAPES_HOLDING_STDOUT = """
import os, subprocess
from pathlib import Path

def test_leaves_a_child_outside_its_group():
    child = subprocess.Popen(["setsid", "sleep", "60"])  # inherits stdout: our pipe (-s)
    Path(os.environ["PID_FILE"]).write_text(str(child.pid))
"""


async def test_a_child_outside_the_group_holding_the_output_is_killed_not_waited_for(
    tmp_path: Path,
) -> None:
    # pytest passes at once; a child that left its process group holds the output pipe (-s).
    # It is killed when the run ends, so the run ends in time and is not a timeout.
    root = make_project(tmp_path / "project", {"tests/test_escape.py": ESCAPES_HOLDING_STDOUT})
    pid_file = tmp_path / "pid"
    run = runner(root, timeout=10, extra_args=["-s"], env={"PID_FILE": str(pid_file)})
    try:
        result = await run.run_tests()

        assert result.status == "passed", result.output
        assert result.passed == 1
        assert await is_gone(int(pid_file.read_text()))
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


async def test_secrets_are_hidden_from_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANTHROPIC_API_KEY", "X_API_KEY", "GITHUB_TOKEN", "MY_SECRET", "lower_api_key"):
        monkeypatch.setenv(name, "sk-must-not-leak")
    monkeypatch.setenv("CODEFRAME_ORDINARY", "visible")
    names = [
        "ANTHROPIC_API_KEY", "X_API_KEY", "GITHUB_TOKEN", "MY_SECRET", "lower_api_key",
        "CODEFRAME_ORDINARY", "CHOSEN_TOKEN", "PYTHONDONTWRITEBYTECODE",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
    ]  # fmt: skip
    seen_file = tmp_path / "seen.json"
    probe = f"""
    import json, os
    from pathlib import Path

    def test_env():
        seen = {{name: os.environ.get(name) for name in {names!r}}}
        Path(os.environ["SEEN_FILE"]).write_text(json.dumps(seen))
        assert "sk-must-not-leak" not in json.dumps(dict(os.environ))
    """
    root = make_project(tmp_path / "project", {"test_env.py": probe})
    overrides = {"SEEN_FILE": str(seen_file), "CHOSEN_TOKEN": "set-on-purpose"}

    result = await runner(root, env=overrides).run_tests()

    assert result.status == "passed", result.output
    assert json.loads(seen_file.read_text()) == {
        "ANTHROPIC_API_KEY": None,
        "X_API_KEY": None,
        "GITHUB_TOKEN": None,
        "MY_SECRET": None,
        "lower_api_key": None,
        "CODEFRAME_ORDINARY": "visible",
        "CHOSEN_TOKEN": "set-on-purpose",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


async def test_loop_stays_responsive_while_a_test_burns_cpu(tmp_path: Path) -> None:
    busy = """
    import time

    def test_busy():
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            pass
    """
    root = make_project(tmp_path, {"test_busy.py": busy})
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        result = await runner(root).run_tests()
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking

    assert result.status == "passed"
    assert len(gaps) > 20
    assert max(gaps) < 0.2


async def test_missing_root_is_an_error_result_without_a_subprocess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_spawn(*args: object, **kwargs: object) -> None:
        raise AssertionError("no subprocess may start for a missing root")

    monkeypatch.setattr(asyncio.get_running_loop(), "subprocess_exec", no_spawn)
    missing = tmp_path / "not-there"

    result = await runner(missing).run_tests()

    assert result.status == "error"
    assert str(missing) in result.output
    assert result.runner_error is not None
    assert str(missing) in result.runner_error


async def test_interpreter_without_pytest_is_a_runner_error(tmp_path: Path) -> None:
    python = fake_python(tmp_path, 'echo "$0: No module named pytest" >&2\nexit 1\n')
    root = make_project(tmp_path / "project", {"test_a.py": PASSING})

    result = await runner(root, python=python).run_tests()

    assert result.status == "error"
    assert result.runner_error is not None
    assert f"pytest is not installed for {python}" in result.runner_error


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("exit 3\n", "exited with code 3 and wrote no report"),
        ("kill -SEGV $$\n", "killed by SIGSEGV"),
        (
            'for a in "$@"; do case "$a" in --junitxml=*) echo "<nope" > "${a#*=}";; esac; done\n'
            "exit 1\n",
            "cannot read",
        ),
        (
            'for a in "$@"; do case "$a" in --junitxml=*) echo "<testsuite/>" > "${a#*=}";; esac;'
            " done\nexit 9\n",
            "unexpected code 9",
        ),
        ("", "cannot start"),
    ],
    ids=["exit-without-report", "signal", "bad-report", "odd-exit-code", "not-executable"],
)
async def test_runs_that_cannot_happen_carry_a_runner_error(
    tmp_path: Path, body: str, expected: str
) -> None:
    python = fake_python(tmp_path, body)
    if not body:
        python.chmod(0o644)
    root = make_project(tmp_path / "project", {"test_a.py": PASSING})

    result = await runner(root, python=python).run_tests()

    assert result.status == "error"
    assert result.runner_error is not None
    assert expected in result.runner_error


async def test_nothing_is_left_in_the_project_or_temp(
    tmp_path: Path, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # the runner must set it
    files = {
        "app.py": "def add(a, b):\n    return a + b\n",
        "tests/conftest.py": "import pytest\n",
        "tests/test_app.py": "from app import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    }
    root = make_project(tmp_path / "project", files)

    result = await runner(root).run_tests()

    assert result.status == "passed", result.output
    assert entries(root) == ["app.py", "tests", "tests/conftest.py", "tests/test_app.py"]
    assert entries(temp_root) == []


async def test_long_output_keeps_its_tail(tmp_path: Path) -> None:
    noisy = """
    def test_noisy():
        for n in range(2000):
            print(f"line {n}")
        assert False, "the end"
    """
    root = make_project(tmp_path, {"test_noisy.py": noisy})

    result = await runner(root, output_limit=500).run_tests()

    first, rest = result.output.split("\n", 1)
    assert first.startswith("[... ") and first.endswith(" characters cut ...]")
    assert len(rest) == 500
    assert "1 failed" in rest


def test_defaults_follow_the_seed() -> None:
    run = TestRunner()

    assert run.project_root == Path(".")
    assert run.timeout == 300
    assert run.python == sys.executable
    assert run.plugin_autoload is None  # the plugins the project asks for (issue 14)
    assert run.warm is WARM_SUPPORTED  # warm wherever a helper can fork runs
    assert TestRunner.__test__ is False


def test_project_root_is_kept_as_given(tmp_path: Path) -> None:
    assert TestRunner(tmp_path / "a" / ".." / "b").project_root == tmp_path / "a" / ".." / "b"


@pytest.mark.parametrize("options", [{"timeout": 0}, {"timeout": -1}, {"output_limit": 0}])
def test_invalid_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(InvalidInputError):
        TestRunner(Path("."), **options)  # type: ignore[arg-type]


def test_windows_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(os, "name", "nt")
        with pytest.raises(UnsupportedPlatformError, match="POSIX"):
            TestRunner()


def test_child_env_strips_secrets_and_applies_overrides() -> None:
    base = {
        "PATH": "/bin",
        "ANTHROPIC_BASE_URL": "x",
        "OPENAI_API_KEY": "x",
        "gh_token": "x",
        "DB_SECRET": "x",
        "TOKENIZER": "kept",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }

    env = build_child_env(base, overrides={"CHOSEN_TOKEN": "yes", "PATH": "/usr/bin"})

    assert env == {
        "PATH": "/usr/bin",
        "TOKENIZER": "kept",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "100",
        "CHOSEN_TOKEN": "yes",
    }
    assert "OPENAI_API_KEY" in base  # the caller's mapping is not touched
    assert build_child_env({}, plugin_autoload=False)["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] == "1"
    assert "PYTEST_DISABLE_PLUGIN_AUTOLOAD" not in build_child_env({})


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("ANTHROPIC_API_KEY", True),
        ("anthropic_model", True),
        ("AWS_SESSION_TOKEN", True),
        ("Client_Secret", True),
        ("PGPASSWORD", True),
        ("MYSQL_PWD", True),
        ("OPENAI_API_KEY_2", True),
        ("CLAUDE_APIKEY", True),
        ("TOKEN", True),
        ("SSH_AUTH_SOCK", True),
        ("TOKEN_URL", False),
        ("SECRETARY", False),
        ("KEYBOARD_LAYOUT", False),
        ("HOME", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_secrets_are_also_recognised_by_their_value(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-ant-value-0123456789abcdef"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    base = {
        "MY_SETTINGS": f"model=opus;key={key}",  # the Claude key under another name
        "DATABASE_URL": "postgres://app:hunter22@db.internal/app",
        "SERVICE_URL": "http://localhost:8080/api",
        "PATH": "/bin",
    }
    assert sorted(build_child_env(base)) == [
        "COLUMNS", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "SERVICE_URL",
    ]  # fmt: skip
