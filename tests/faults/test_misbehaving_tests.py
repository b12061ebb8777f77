"""Model-written tests that misbehave: each is a clear test outcome, nothing survives the run,
the agent survives the test, and no key is ever seen.

The agent runs in a process of its own (forked by :mod:`tests.faults.zygote`), so a test
that kills its parent cannot take this suite down, and with two fake keys in its
environment: ``ANTHROPIC_API_KEY`` and ``DEPLOY_CREDENTIAL``, whose value is also the
``api_key=`` it is given. Its one task's first reply writes a misbehaving test; the
correction replaces it with a passing one. After the run:

- the first test run's status is what the misbehaviour calls for (``timeout`` for a test
  that never ends, ``error`` for one that crashes pytest, ...) and the task completed;
- every process the test started is gone (however it detached), and nothing works in the
  project folder any more;
- neither key is in the database, the events, the prompts, the panel's HTML or the logs,
  and the pytest process's own environment held neither.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

import pytest

import codeframe
from codeframe.agents.lead_agent import LeadAgent
from codeframe.llm import ScriptedClient
from codeframe.notebook import AgentPanel
from codeframe.persistence.database import Database
from codeframe.testing.test_runner import TestRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder
from tests.faults.harness import (
    FAKE_KEY,
    Tally,
    env_without_keys,
    kill_leftovers,
    leftovers_async,
    rng_for,
    seeds,
)
from tests.faults.injection import CountingTarget, Injector
from tests.faults.invariants import ledger_problems
from tests.faults.known import assert_fixed
from tests.faults.zygote import Zygote

CATEGORY = "misbehaving tests"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="containment by a child subreaper is Linux's"
)

#: The key the agent is given in code, also in its environment under an unrelated name.
CODE_KEY = FAKE_KEY.replace("FAULTSUITE", "CODEKEY")
TIMEOUT = 4.0  # the runner's timeout: a test that never ends is stopped by it

PREAMBLE = """\
import json, os, signal, subprocess, sys, time

PIDS = {pids!r}


def note(pid):
    open(os.path.join(PIDS, str(pid)), "w").close()
"""


@dataclass(frozen=True)
class Misbehaviour:
    """A test's body, the statuses its run may end in, and which variant it is."""

    body: str
    expected: set[str]
    detail: str = ""


def spins(rng: Random) -> Misbehaviour:
    body = "def test_spins():\n    note(os.getpid())\n    while True:\n        pass\n"
    return Misbehaviour(body, {"timeout"})


def exits(rng: Random) -> Misbehaviour:
    code = rng.choice([0, 1, 3, 77])
    return Misbehaviour(f"def test_exits():\n    os._exit({code})\n", {"error"}, f"code {code}")


def segfaults(rng: Random) -> Misbehaviour:
    how = rng.choice(["ctypes.string_at(0)", "os.kill(os.getpid(), signal.SIGSEGV)"])
    return Misbehaviour(f"import ctypes\n\n\ndef test_crashes():\n    {how}\n", {"error"}, how)


def daemon(rng: Random) -> Misbehaviour:
    return Misbehaviour(
        textwrap.dedent("""\
        def test_starts_a_daemon():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    note(os.getpid())
                    while True:
                        with open("daemon.log", "a") as log:
                            log.write("still here\\n")
                        time.sleep(0.05)
                os._exit(0)
            time.sleep(0.3)
        """),
        {"passed"},
    )


def new_session(rng: Random) -> Misbehaviour:
    return Misbehaviour(
        textwrap.dedent("""\
        def test_leaves_a_child_in_its_own_session():
            child = subprocess.Popen(["sleep", "60"], start_new_session=True)
            note(child.pid)
        """),
        {"passed"},
    )


def kills_its_parent(rng: Random) -> Misbehaviour:
    sig = rng.choice(["SIGTERM", "SIGHUP", "SIGKILL", "SIGINT"])
    return Misbehaviour(kills_parent_body(sig), {"error", "failed"}, sig)


def kills_parent_body(sig: str) -> str:
    return (
        f"def test_kills_its_parent():\n    os.kill(os.getppid(), signal.{sig})\n"
        "    time.sleep(2)\n"
    )


def huge_output(rng: Random) -> Misbehaviour:
    megabytes = rng.choice([5, 20, 50])
    return Misbehaviour(
        textwrap.dedent(f"""\
        def test_shouts():
            chunk = "x" * 1_000_000
            for _ in range({megabytes}):
                sys.stdout.write(chunk)
            assert False, "and fails"
        """),
        {"failed"},
        f"{megabytes} MB",
    )


def fork_bomb(rng: Random) -> Misbehaviour:
    count = rng.randint(10, 40)
    depth = rng.randint(1, 2)
    return Misbehaviour(
        textwrap.dedent(f"""\
        def spawn(depth):
            for _ in range({count} if depth == 1 else 2):
                pid = os.fork()
                if pid == 0:
                    if depth % 2 == 0:
                        os.setsid()
                    if depth < {depth}:
                        spawn(depth + 1)
                    time.sleep(60)
                    os._exit(0)
                note(pid)


        def test_forks_a_lot():
            spawn(1)
        """),
        {"passed"},
        f"{count} forks, depth {depth}",
    )


def reads_environments(rng: Random) -> Misbehaviour:
    # It reads up to the agent (a fork of the zygote, so named like it) and no further:
    # what lies above the agent is this suite, whose environment is not the test's business.
    return Misbehaviour(
        textwrap.dedent("""\
        def test_reads_its_ancestors_environments():
            with open(os.path.join(PIDS, "..", "pytest-environ.json"), "w") as out:
                json.dump(dict(os.environ), out)
            seen = []
            pid = os.getpid()
            while pid > 1:
                with open(f"/proc/{pid}/environ", "rb") as environ:
                    seen.append(environ.read().decode(errors="replace").replace("\\0", "\\n"))
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    if b"tests.faults.zygote" in cmdline.read():
                        break
                with open(f"/proc/{pid}/stat") as stat:
                    pid = int(stat.read().rsplit(")", 1)[1].split()[1])
            print("\\n".join(seen))
            assert False, "\\n".join(seen)[-3000:]
        """),
        {"failed"},
    )


#: Makes a misbehaving test from a seeded rng.
Kind = Callable[[Random], Misbehaviour]

KINDS: dict[str, Kind] = {
    "a test that never ends": spins,
    "os._exit in a test": exits,
    "a segfault": segfaults,
    "a double-forked daemon": daemon,
    "a child in its own session": new_session,
    "a test that kills its parent": kills_its_parent,
    "a huge output": huge_output,
    "a bounded fork bomb": fork_bomb,
    "a test that reads its ancestors' environments": reads_environments,
}

GOOD_TEST = "def test_fine():\n    assert True\n"


# -- the agent, in the forked child ------------------------------------------------------


async def agent_run(request: dict[str, Any]) -> None:
    """One task in a project whose first reply is the misbehaving test (child side)."""
    codeframe.enable_logging("DEBUG")
    root = Path(request["root"])
    out = Path(request["out"])
    bad = {"files": [{"path": "tests/test_bad.py", "action": "create", "content": request["test"]}]}
    fix = {"files": [{"path": "tests/test_bad.py", "action": "modify", "content": GOOD_TEST}]}
    client = ScriptedClient([("Misbehave", [{**bad, "explanation": "bad"}, fix])])
    with Database(request["db"]) as db:
        panel = AgentPanel(db, request["project_id"])
        recorder = BroadcastRecorder()
        runner = TestRunner(root, timeout=TIMEOUT, plugin_autoload=False, warm=request["warm"])
        lead = LeadAgent(
            request["project_id"],
            db,
            api_key=CODE_KEY,
            ws_manager=CountingTarget(Injector(), [panel, recorder]),
            client=client,
            test_runner=runner,
            project_root=root,
        )
        summary = await lead.start_multi_agent_execution(max_retries=0)
        await runner.aclose()
        (out / "summary.json").write_text(json.dumps(summary))
        (out / "events.json").write_text(json.dumps(recorder.messages, default=str))
        (out / "prompts.json").write_text(json.dumps(client.history, default=str))
        (out / "panel.html").write_text(panel.to_html())


# -- the checks, here --------------------------------------------------------------------


def everything_stored(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def key_problems(base: Path, out: Path, db_path: Path) -> list[str]:
    places = {
        "the database": everything_stored(db_path),
        "the events": (out / "events.json").read_text(),
        "the prompts": (out / "prompts.json").read_text(),
        "the panel's HTML": (out / "panel.html").read_text(),
        "the logs": (out / "agent.log").read_text(errors="replace"),
    }
    problems = [
        f"a key is in {where}"
        for where, text in places.items()
        if FAKE_KEY in text or CODE_KEY in text
    ]
    environ = base / "pytest-environ.json"
    if environ.exists():
        seen = environ.read_text()
        if FAKE_KEY in seen or CODE_KEY in seen:
            problems.append("pytest's own environment held a key")
    return problems


def run_problems(db_path: Path, project_id: int, expected: set[str]) -> list[str]:
    with Database(db_path) as db:
        problems = ledger_problems(db, project_id, allowed={"completed"})
        task = db.get_project_tasks(project_id)[0]
        runs = db.get_test_results_by_task(task["id"])
        statuses = [run["status"] for run in runs]
        if not runs or statuses[0] not in expected:
            problems.append(f"test runs {statuses}, the first should be one of {sorted(expected)}")
        elif len(runs[0]["output"] or "") > 100_000:
            problems.append(f"the stored output is {len(runs[0]['output']):,} characters")
        return problems


async def one_kind(zygote: Zygote, base: Path, make: Kind, rng: Random) -> tuple[str, list[str]]:
    """One misbehaving test, run by a forked agent: its variant, and what did not hold."""
    root = base / "project"
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    pids, out = base / "pids", base / "out"
    pids.mkdir()
    out.mkdir()
    db_path = base / "ledger.db"
    with Database(db_path) as db:
        project_id = db.create_project("misbehaving", workspace_path=str(root))
        db.create_task(project_id, "Misbehave")
    misbehaviour = make(rng)
    expected = misbehaviour.expected
    test = PREAMBLE.format(pids=str(pids)) + "\n\n" + misbehaviour.body
    request = {
        "call": "tests.faults.test_misbehaving_tests:agent_run",
        "db": str(db_path),
        "root": str(root),
        "out": str(out),
        "project_id": project_id,
        "test": test,
        "warm": rng.random() < 0.5,
        "stderr": str(out / "agent.log"),
    }
    ended = await zygote.run(request, None, 0.0)
    problems = []
    if not ended["finished"]:
        problems.append(f"the agent did not survive: wait status {ended['status']}")
    problems += await leftovers_async(base, pids, 10.0, [zygote.process.pid])
    if ended["finished"]:
        summary = json.loads((out / "summary.json").read_text())
        if summary["completed"] != 1:
            problems.append(f"the run's summary: {summary}")
        problems += run_problems(db_path, project_id, expected)
        problems += key_problems(base, out, db_path)
    daemon_log = root / "daemon.log"
    if daemon_log.exists():
        size = daemon_log.stat().st_size
        await asyncio.sleep(0.3)  # the daemon wrote every 50 ms while it lived
        if daemon_log.stat().st_size != size:
            problems.append("something still writes into the project")
    if problems:
        kill_leftovers(base)
    variant = ", ".join(filter(None, [misbehaviour.detail, "warm" if request["warm"] else "cold"]))
    return variant, problems


@pytest.mark.parametrize("seed", seeds(default=1, cost=20), ids=lambda s: f"seed{s}")
async def test_a_misbehaving_test_is_a_clear_outcome_and_leaves_nothing_running(
    seed: int, tally: Tally, tmp_path: Path
) -> None:
    rng = rng_for("misbehaving", seed)
    env = env_without_keys({"ANTHROPIC_API_KEY": FAKE_KEY, "DEPLOY_CREDENTIAL": CODE_KEY})
    zygote = await Zygote.start(tmp_path / "zygote.stderr", env)
    try:
        for index, (name, make) in enumerate(KINDS.items()):
            base = tmp_path / str(index)
            base.mkdir()
            variant, problems = await one_kind(zygote, base, make, rng)
            tally.record(f"{name} ({variant})", problems)
    finally:
        await zygote.close()
    tally.finish()


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
async def test_a_test_that_interrupts_its_parent_is_the_tests_doing(
    tmp_path: Path, warm: bool
) -> None:
    """As a test that sends its parent SIGTERM, SIGHUP or SIGKILL is: the run is an
    ``error`` the model can correct, not a runner failure that ends the task."""
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    preamble = PREAMBLE.format(pids=str(tmp_path))
    (root / "tests" / "test_bad.py").write_text(preamble + "\n\n" + kills_parent_body("SIGINT"))
    runner = TestRunner(root, timeout=30, plugin_autoload=False, warm=warm)
    try:
        result = await runner.run_tests()
        if warm:  # the first run of a key is cold while its helper warms up
            result = await runner.run_tests()
    finally:
        await runner.aclose()
    assert result.status in ("error", "failed"), result
    problems = [] if result.runner_error is None else [f"a runner error: {result.runner_error}"]
    assert_fixed(problems)
