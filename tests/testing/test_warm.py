"""The warm helper's life: it serves runs, sees every change, steps aside when stale or dead,
is bounded, and never outlives its use or the agent. Each test starts real processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from codeframe.testing import TestRunner
from codeframe.testing import warm as warm_module
from codeframe.testing.warm import POOL
from tests.testing.processes import child_env, is_gone, kill_quietly, make_project

pytestmark = pytest.mark.skipif(not warm_module.WARM_SUPPORTED, reason="warm runs are Linux's")

PASSING = "def test_one():\n    assert 1 + 1 == 2\n"
USES_APP = "from app import VALUE\n\ndef test_value():\n    assert VALUE == 2\n"


def runner(root: Path, **options: object) -> TestRunner:
    options.setdefault("timeout", 60)
    return TestRunner(root, plugin_autoload=False, **options)  # type: ignore[arg-type]


def modes(caplog: pytest.LogCaptureFixture) -> list[str]:
    """How each run so far was started ("warm" or "cold"), from the runner's debug log."""
    found = []
    for record in caplog.records:
        message = record.getMessage()
        if message.startswith("warm run via helper"):
            found.append("warm")
        elif message == "cold run":
            found.append("cold")
    return found


@pytest.fixture(autouse=True)
def debug_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="codeframe.testing")


async def test_runs_after_the_first_are_warm_and_see_every_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The project's own modules are imported fresh in each fork, so an edit made within
    # the same second (same size, too) is seen by the next run.
    root = make_project(tmp_path, {"app.py": "VALUE = 2\n", "tests/test_app.py": USES_APP})
    run = runner(root)
    try:
        first = await run.run_tests()
        (root / "app.py").write_text("VALUE = 3\n")
        second = await run.run_tests()
        (root / "app.py").write_text("VALUE = 2\n")
        third = await run.run_tests()
    finally:
        await run.aclose()

    assert [first.status, second.status, third.status] == ["passed", "failed", "passed"]
    assert modes(caplog) == ["warm", "warm", "warm"]


async def test_a_changed_conftest_runs_cold_and_a_fresh_helper_follows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_project(tmp_path, {"tests/test_one.py": PASSING})
    run = runner(root)
    try:
        await run.run_tests()
        (first_helper,) = POOL.pids_for(run)
        (root / "tests" / "conftest.py").write_text("import pytest\n")
        changed = await run.run_tests()
        (second_helper,) = POOL.pids_for(run)
        again = await run.run_tests()
    finally:
        await run.aclose()

    assert [changed.status, again.status] == ["passed", "passed"]
    assert modes(caplog) == ["warm", "cold", "warm"]
    assert second_helper != first_helper
    assert await is_gone(first_helper)
    assert any("conftest files changed" in r.getMessage() for r in caplog.records)


async def test_changed_installed_packages_run_cold(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A folder on the interpreter's path stands in for site-packages: installing into it
    # changes what the helper may have imported.
    packages = tmp_path / "site"
    packages.mkdir()
    root = make_project(tmp_path / "project", {"test_one.py": PASSING})
    run = runner(root, env={"PYTHONPATH": str(packages)})
    try:
        await run.run_tests()
        (packages / "newly_installed.py").write_text("")
        result = await run.run_tests()
    finally:
        await run.aclose()

    assert result.status == "passed"
    assert modes(caplog) == ["warm", "cold"]
    assert any("packages files changed" in r.getMessage() for r in caplog.records)


async def test_a_dead_helper_falls_back_to_cold_then_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_project(tmp_path, {"test_one.py": PASSING})
    run = runner(root)
    try:
        await run.run_tests()
        (helper,) = POOL.pids_for(run)
        os.kill(helper, signal.SIGKILL)
        assert await is_gone(helper)
        results = [await run.run_tests(), await run.run_tests()]
    finally:
        await run.aclose()

    assert [result.status for result in results] == ["passed", "passed"]
    assert modes(caplog) == ["warm", "cold", "warm"]


async def test_aclose_shuts_the_helper_down(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"test_one.py": PASSING})
    async with runner(root) as run:
        await run.run_tests()
        (helper,) = POOL.pids_for(run)
    assert await is_gone(helper)
    assert POOL.pids_for(run) == []


async def test_an_idle_helper_exits_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warm_module, "IDLE_SECONDS", 1.0)
    root = make_project(tmp_path, {"test_one.py": PASSING})
    run = runner(root)
    await run.run_tests()
    (helper,) = POOL.pids_for(run)

    assert await is_gone(helper, within=10)
    assert POOL.pids_for(run) == []


async def test_live_helpers_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm_module, "MAX_HELPERS", 2)
    runs = [runner(make_project(tmp_path / f"p{n}", {"test_one.py": PASSING})) for n in range(4)]
    helpers: list[int] = []
    try:
        for run in runs:
            assert (await run.run_tests()).status == "passed"
            helpers.extend(POOL.pids_for(run))
        assert len(helpers) == 4  # each project had its own
        for retired in helpers[:2]:  # the least recently used made room
            assert await is_gone(retired)
        assert sum(len(POOL.pids_for(run)) for run in runs) == 2
    finally:
        for run in runs:
            await run.aclose()


async def test_warm_false_never_starts_a_helper(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_project(tmp_path, {"test_one.py": PASSING})
    run = runner(root, warm=False)

    assert (await run.run_tests()).status == "passed"
    assert POOL.pids_for(run) == []
    assert modes(caplog) == ["cold"]


async def test_an_interpreter_that_cannot_serve_is_left_cold(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A helper that dies without ever serving would die again: no respawn per run.
    python = tmp_path / "fake-python"
    python.write_text('#!/bin/sh\necho "No module named pytest" >&2\nexit 1\n')
    python.chmod(0o755)
    root = make_project(tmp_path / "project", {"test_one.py": PASSING})
    run = runner(root, python=python)

    results = [await run.run_tests(), await run.run_tests()]

    assert [result.runner_error is not None for result in results] == [True, True]
    assert modes(caplog) == ["cold", "cold"]
    started = [r for r in caplog.records if r.getMessage().startswith("started warm helper")]
    assert len(started) == 1


AGENT = """
import asyncio, sys
from codeframe.testing import TestRunner
from codeframe.testing.warm import POOL

async def main():
    runner = TestRunner(sys.argv[1], 60, plugin_autoload=False)
    await runner.run_tests()
    print(*POOL.pids_for(runner), flush=True)
    if sys.argv[2] == "hang":
        await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.parametrize("how", ["exits", "is killed"])
async def test_the_helper_does_not_outlive_the_agent(tmp_path: Path, how: str) -> None:
    root = make_project(tmp_path / "project", {"test_one.py": PASSING})
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", AGENT, str(root), "hang" if how == "is killed" else "exit",
        stdout=asyncio.subprocess.PIPE, env=child_env(tmp_path),
    )  # fmt: skip
    helpers: list[int] = []
    try:
        assert agent.stdout is not None
        async with asyncio.timeout(60):
            helpers = [int(pid) for pid in (await agent.stdout.readline()).split()]
        assert len(helpers) == 1
        if how == "is killed":
            agent.kill()
        await agent.wait()

        assert await is_gone(helpers[0])
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()
        kill_quietly(helpers)


def test_helper_keys_follow_what_the_warm_state_depends_on(tmp_path: Path) -> None:
    key = warm_module.HelperKey.of("python", tmp_path, {"A": "1"}, ())
    assert key == warm_module.HelperKey.of("python", tmp_path / "x" / "..", {"A": "1"}, ())
    assert key != warm_module.HelperKey.of("python", tmp_path, {"A": "2"}, ())
    assert key != warm_module.HelperKey.of("python", tmp_path, {"A": "1"}, ("-p", "x"))
    assert json.dumps(list(key.preload)) == "[]"
