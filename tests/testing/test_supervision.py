"""The agent's reading of its supervisor's reports, and what the layers above pytest expose."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from codeframe.testing.supervision import RunEnd
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
