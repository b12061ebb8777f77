"""Nothing a test starts outlives its run, however it detaches, and no test can kill the agent.

Each test runs a real pytest under the real supervisor. Where a failure would take the
agent down with it (a test killing its parent), the agent is a child interpreter.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from codeframe.testing import TestRunner
from tests.testing.processes import (
    child_env,
    descendants,
    is_gone,
    kill_quietly,
    make_project,
    pids_in,
    wait_for_file,
)

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="containment by a child subreaper is Linux's"
    ),
    # Both ways of starting a run: a fresh supervisor, or one forked by the warm helper.
    pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"]),
]

# Each writes the pid of what it leaves behind to $PID_FILE (atomically), then returns.
SETSID_CHILD = """
import os, subprocess
from pathlib import Path

def test_leaves_a_child_in_its_own_session():
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    target = Path(os.environ["PID_FILE"])
    target.with_suffix(".tmp").write_text(str(child.pid))
    target.with_suffix(".tmp").replace(target)
"""

START_DAEMON = """
import os, time
from pathlib import Path

def start_daemon(target):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:  # re-parented away from pytest, in a session of its own
            target.with_suffix(".tmp").write_text(str(os.getpid()))
            target.with_suffix(".tmp").replace(target)
            while True:
                with open(os.environ["LOG_FILE"], "a") as log:
                    log.write("still here\\n")
                time.sleep(0.05)
        os._exit(0)
    deadline = time.monotonic() + 10
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
"""

DAEMON = (
    START_DAEMON
    + """
def test_starts_a_daemon():
    start_daemon(Path(os.environ["PID_FILE"]))
"""
)

# Leaves a daemon and a setsid child, writes "<pytest> <daemon> <child>", then hangs.
HANGS_WITH_ESCAPEES = (
    START_DAEMON
    + """
import subprocess

def test_hangs():
    daemon_file = Path(os.environ["PID_FILE"] + ".daemon")
    start_daemon(daemon_file)
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    target = Path(os.environ["PID_FILE"])
    target.with_suffix(".tmp").write_text(f"{os.getpid()} {daemon_file.read_text()} {child.pid}")
    target.with_suffix(".tmp").replace(target)
    time.sleep(60)
"""
)


def runner(root: Path, tmp_path: Path, warm: bool, **options: object) -> TestRunner:
    env = {"PID_FILE": str(tmp_path / "pid"), "LOG_FILE": str(tmp_path / "log")}
    options.setdefault("timeout", 60)
    return TestRunner(root, plugin_autoload=False, env=env, warm=warm, **options)  # type: ignore[arg-type]


async def test_a_child_in_its_own_session_is_killed_when_the_run_ends(
    tmp_path: Path, warm: bool
) -> None:
    root = make_project(tmp_path / "project", {"test_setsid.py": SETSID_CHILD})
    try:
        result = await runner(root, tmp_path, warm).run_tests()

        assert result.status == "passed", result.output
        assert await is_gone(int((tmp_path / "pid").read_text()))
    finally:
        kill_quietly(pids_in([tmp_path / "pid"]))


async def test_a_double_forked_daemon_is_killed_when_the_run_ends(
    tmp_path: Path, warm: bool
) -> None:
    root = make_project(tmp_path / "project", {"test_daemon.py": DAEMON})
    try:
        result = await runner(root, tmp_path, warm).run_tests()

        assert result.status == "passed", result.output
        assert await is_gone(int((tmp_path / "pid").read_text()))
        written = (tmp_path / "log").read_text()
        await asyncio.sleep(0.2)  # a live daemon would write again within 0.05 s
        assert (tmp_path / "log").read_text() == written
    finally:
        kill_quietly(pids_in([tmp_path / "pid"]))


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_escapees_are_killed_when_a_run_times_out_or_is_cancelled(
    tmp_path: Path, how: str, warm: bool
) -> None:
    root = make_project(tmp_path / "project", {"test_hang.py": HANGS_WITH_ESCAPEES})
    pid_file = tmp_path / "pid"
    try:
        if how == "timeout":
            result = await runner(root, tmp_path, warm, timeout=5).run_tests()
            assert result.status == "timeout"
        else:
            task = asyncio.create_task(runner(root, tmp_path, warm).run_tests())
            await wait_for_file(pid_file)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        pids = pids_in([pid_file])
        assert len(pids) == 3
        for pid in pids:
            assert await is_gone(pid), f"pid {pid} survived"
    finally:
        kill_quietly(pids_in([pid_file]))


# A stand-in for the agent (a notebook kernel): runs one project and prints its result.
AGENT = """
import asyncio, json, sys
from codeframe.testing import TestRunner

env = {"PID_FILE": sys.argv[2], "LOG_FILE": sys.argv[3]}
runner = TestRunner(sys.argv[1], 60, plugin_autoload=False, env=env, warm=sys.argv[4] == "warm")
result = asyncio.run(runner.run_tests())
print(json.dumps({"status": result.status, "errors": result.errors,
                  "output": result.output, "runner_error": result.runner_error}))
"""

KILLS_ITS_PARENT = """
import os, signal, time

def test_fine():
    pass

def test_kills_its_parent():
    os.kill(os.getppid(), signal.{name})
    time.sleep(5)
"""


async def run_agent(root: Path, tmp_path: Path, warm: bool) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", AGENT, str(root), str(tmp_path / "pid"), str(tmp_path / "log"),
        "warm" if warm else "cold",
        stdout=asyncio.subprocess.PIPE, env=child_env(tmp_path),
    )  # fmt: skip


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT", "SIGKILL"])
async def test_a_test_that_kills_its_parent_cannot_kill_the_agent(
    tmp_path: Path, name: str, warm: bool
) -> None:
    root = make_project(
        tmp_path / "project", {"test_parent.py": KILLS_ITS_PARENT.replace("{name}", name)}
    )
    agent = await run_agent(root, tmp_path, warm)
    async with asyncio.timeout(60):
        stdout, _ = await agent.communicate()

    assert agent.returncode == 0, f"the agent died: {agent.returncode}"
    result = json.loads(stdout)
    assert result["status"] in ("error", "failed")
    assert result["runner_error"] is None  # project code the model can fix
    assert f"sent {name} to pytest's parent" in result["output"]


async def test_a_killed_agent_leaves_nothing_of_its_run_behind(tmp_path: Path, warm: bool) -> None:
    root = make_project(tmp_path / "project", {"test_hang.py": HANGS_WITH_ESCAPEES})
    pid_file = tmp_path / "pid"
    agent = await run_agent(root, tmp_path, warm)
    below: list[int] = []
    try:
        await wait_for_file(pid_file)
        # Everything below the agent (supervisor, pytest, ...) and what the test left behind.
        below = sorted({*descendants(agent.pid), *pids_in([pid_file])})
        assert len(below) >= 4

        agent.kill()  # what a dying kernel feels like: no clean-up at all
        await agent.wait()

        for pid in below:
            assert await is_gone(pid), f"pid {pid} survived the agent"
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()
        kill_quietly([*below, *pids_in([pid_file])])
