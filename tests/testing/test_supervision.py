"""The agent's reading of its supervisor's reports, and what the layers above pytest expose."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from codeframe.testing.output import OutputTail
from codeframe.testing.supervision import RunEnd, spawn_lock, start_cold
from tests.testing.processes import child_env, make_project


def test_a_done_message_is_read_field_by_field() -> None:
    end = RunEnd.from_message({"event": "done", "exit_code": 1, "survivors": [12, "x"]})
    assert end == RunEnd(exit_code=1, survivors=(12,))


@pytest.mark.parametrize(
    "message",
    [
        None,
        {"event": "done"},
        {"event": "done", "exit_code": "1"},
        {"event": "done", "signal": True},
    ],
)
def test_a_missing_or_malformed_report_is_a_lost_run(message: dict[str, object] | None) -> None:
    end = RunEnd.from_message(message)
    assert end.lost is not None
    assert end.exit_code is None and end.signal is None


AGENT = """
import asyncio, sys
from codeframe.testing import TestRunner

runner = TestRunner(sys.argv[1], 60, plugin_autoload=False, warm=sys.argv[2] == "warm")
result = asyncio.run(runner.run_tests())
print(result.status, result.output)
"""

PROBE = """
import json, os
from pathlib import Path

def parent_of(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

def test_ancestors():
    parent = os.getppid()
    seen = [Path(f"/proc/{pid}/environ").read_text() for pid in (parent, parent_of(parent))]
    Path(os.environ["SEEN_FILE"]).write_text(json.dumps(seen))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("mode", ["cold", "warm"])
async def test_no_process_above_pytest_shows_a_test_the_key(tmp_path: Path, mode: str) -> None:
    # A test can read its ancestors' start-up environments through /proc; the two above
    # pytest (its parent and the supervisor) were started with the filtered environment.
    # The agent is a child interpreter, so that the key is in its start-up environment.
    key = "sk-ant-api03-must-not-leak-0123456789"
    seen_file = tmp_path / "seen.json"
    root = make_project(tmp_path / "project", {"test_probe.py": PROBE})
    env = {**child_env(), "ANTHROPIC_API_KEY": key, "SEEN_FILE": str(seen_file)}
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        AGENT,
        str(root),
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    async with asyncio.timeout(60):
        stdout, _ = await agent.communicate()

    assert stdout.decode().startswith("passed"), stdout.decode()
    environments = json.loads(seen_file.read_text())
    assert len(environments) == 2
    assert all(key not in environment for environment in environments)


async def test_a_spawn_cancelled_while_it_waits_for_its_turn_leaks_nothing_and_ends_at_once(
    tmp_path: Path,
) -> None:
    """Found in review: our ends of the channel and the output pipe were closed only once
    the spawn lock was held, so a cancel in the queue kept them open and the settle that
    follows waited out its timeouts (~10 s, past a stop's bound) and leaked two fds."""

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    lock = spawn_lock()
    await lock.acquire()  # another run is being spawned
    try:
        before = open_fds()
        spawn = asyncio.create_task(
            start_cold([sys.executable, "-c", "pass"], tmp_path, child_env(), OutputTail(1000))
        )
        await asyncio.sleep(0.05)
        spawn.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await spawn
        assert time.monotonic() - started < 2
        assert open_fds() == before
    finally:
        lock.release()
