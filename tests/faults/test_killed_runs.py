"""A run SIGKILLed in another process at a seeded moment, then recovered by a run here.

Each case forks an agent (:mod:`tests.faults.zygote`) that runs a seeded project with real
pytest — groups of a few hundred files, so a kill often lands while one is half written —
and kills it with SIGKILL right after its k-th event (plus a seeded delay). Then:

- nothing the dead run started survives: its pytest, the processes its tests started, its
  warm helper (all gone within a bound);
- a new run in this process takes over its run row (the dead pid no longer holds the
  project), rolls back the half-written group before writing anything, returns the
  interrupted tasks to pending with a note, and completes every task.
"""

from __future__ import annotations

import sys
from pathlib import Path
from random import Random
from typing import Any

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.file_changes import JOURNAL_DIR
from codeframe.llm import ScriptedClient
from codeframe.persistence.database import Database
from codeframe.testing.test_runner import TestRunner
from tests.faults.harness import (
    Tally,
    env_without_keys,
    kill_leftovers,
    leftovers_async,
    long_run,
    rng_for,
    seeds,
)
from tests.faults.invariants import ACTIVE, ledger_problems
from tests.faults.known import assert_fixed
from tests.faults.scenario import PlannedTask, Replies, Scenario
from tests.faults.zygote import Zygote

CATEGORY = "SIGKILL of a run, recovered"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death containment is Linux's"
)

BULK = 150  # files per group: writing one takes long enough for a kill to land inside


class FirstEventSnapshot:
    """The recovery run's first event comes after its recovery and before any write:
    the tree is checked then."""

    broadcast_timeout = None

    def __init__(self, scenario: Scenario, root: Path) -> None:
        self.scenario, self.root = scenario, root
        self.problems: list[str] | None = None

    async def broadcast(self, message: dict[str, Any]) -> None:
        if self.problems is None:
            found = self.scenario.tree_problems(self.root, allowed=("before", "group"))
            self.problems = [f"after recovery, before any write: {p}" for p in found]


def prepare(base: Path, scenario: Scenario) -> tuple[Path, Path, int]:
    root = base / "project"
    scenario.build(root)
    assert scenario.pid_folder is not None
    scenario.pid_folder.mkdir(parents=True, exist_ok=True)
    db_path = base / "run.db"
    with Database(db_path) as db:
        project_id = db.create_project("killed", workspace_path=str(root))
        scenario.create_tasks(db, project_id)
    return root, db_path, project_id


async def recover(scenario: Scenario, root: Path, db_path: Path, project_id: int) -> list[str]:
    """A run in this process after the kill: it must take over and finish everything."""
    with Database(db_path) as db:
        left_active = [
            int(t["id"]) for t in db.get_project_tasks(project_id) if t["status"] in ACTIVE
        ]
        snapshot = FirstEventSnapshot(scenario, root)
        runner = TestRunner(root, timeout=60, plugin_autoload=False)
        lead = LeadAgent(
            project_id,
            db,
            ws_manager=snapshot,
            client=ScriptedClient(default=Replies(scenario, final=True)),
            test_runner=runner,
            project_root=root,
        )
        try:
            summary = await lead.start_multi_agent_execution(
                max_retries=scenario.max_retries, max_concurrent=1
            )
        except Exception as exc:
            return [f"the recovery run raised {type(exc).__name__}: {exc}"]
        finally:
            await runner.aclose()
        problems = list(snapshot.problems or [])
        problems += ledger_problems(db, project_id, allowed={"completed"})
        problems += scenario.tree_problems(root, allowed=("group", "final"))
        if summary["completed"] != len(scenario.tasks):
            problems.append(f"the recovery run's summary: {summary}")
        for task_id in left_active:
            row = db.get_task(task_id) or {}
            notes = " ".join(note["text"] for note in row.get("notes", ()))
            if "interrupted" not in notes:
                problems.append(f"task {task_id}, running when killed, has no recovery note")
        return problems


#: Events after which a group is about to be written: a task starts, or a correction does.
BEFORE_A_WRITE = ("activity_update:task_started", "correction_attempt:in_progress")


@pytest.mark.parametrize("seed", seeds(default=1, cost=10), ids=lambda s: f"seed{s}")
async def test_a_run_killed_at_any_moment_is_recovered_by_the_next(
    seed: int, tally: Tally, tmp_path: Path
) -> None:
    """Half the kills land at any event, half while a group is likely being written."""
    rng = rng_for("killed", seed)
    zygote = await Zygote.start(tmp_path / "zygote.stderr", env_without_keys())
    try:
        ended, problems = await one_case(zygote, tmp_path / "case0", seed, rng, None, 0.0)
        tally.record("no kill", problems)
        kinds = ended["kinds"]
        if not kinds:
            return tally.finish()
        for case in range(1, 1 + (6 if long_run() else 2)):
            writes = [n for n, kind in enumerate(kinds, 1) if kind in BEFORE_A_WRITE]
            if writes and rng.random() < 0.5:
                kill_at, delay = rng.choice(writes), rng.uniform(0.0, 0.15)
            else:
                kill_at = rng.randint(1, len(kinds))
                delay = rng.choice([0.0, 0.002, 0.01, 0.03])
            ended, problems = await one_case(
                zygote, tmp_path / f"case{case}", seed, rng, kill_at, delay
            )
            if not ended["killed"]:
                continue  # the run ended before the kill: not a trial
            name = f"kill after event {kill_at} ({ended['killed_after']}) +{delay * 1000:.0f}ms"
            if ended["half_written"]:
                name += ", a group half written"
                tally.notes["kills that left a group half written"] += 1
            tally.record(name, problems)
    finally:
        await zygote.close()
    tally.finish()


async def one_case(
    zygote: Zygote, base: Path, seed: int, rng: Random, kill_at: int | None, delay: float
) -> tuple[dict[str, Any], list[str]]:
    """One forked run, killed at ``kill_at`` (``None``: not killed), then the checks."""
    base.mkdir()
    scenario = Scenario.generate(seed, real_pytest=True, pid_folder=base / "pids", bulk=BULK)
    root, db_path, project_id = prepare(base, scenario)
    request = {
        "scenario": scenario.to_spec(),
        "db": str(db_path),
        "root": str(root),
        "project_id": project_id,
        "latency": rng.choice([0.0, 0.005, 0.02]),
        "max_concurrent": rng.randint(1, 2),
    }
    ended = await zygote.run(request, kill_at, delay)
    ended["half_written"] = (root / JOURNAL_DIR).exists()
    problems: list[str] = []
    if kill_at is None and not ended["finished"]:
        problems.append(f"the run without a kill did not finish: {ended['status']}")
    if kill_at is not None and not ended["killed"]:
        return ended, []
    exempt = [zygote.process.pid]
    problems += await leftovers_async(base, scenario.pid_folder, 10.0, exempt)
    if not problems:
        problems += await recover(scenario, root, db_path, project_id)
        problems += await leftovers_async(base, scenario.pid_folder, 10.0, exempt)
    if problems:
        kill_leftovers(base)
    return ended, problems


async def test_a_kill_after_a_retryable_failure_is_written(tmp_path: Path) -> None:
    task = PlannedTask(1, "test", (), bad_attempts=0, flaky=True)
    scenario = Scenario(
        0, [task], max_concurrent=1, max_retries=1, real_pytest=True, pid_folder=tmp_path / "pids"
    )
    root, db_path, project_id = prepare(tmp_path, scenario)
    zygote = await Zygote.start(tmp_path / "zygote.stderr", env_without_keys())
    try:
        request = {
            "scenario": scenario.to_spec(),
            "db": str(db_path),
            "root": str(root),
            "project_id": project_id,
            "latency": 0.0,
            "max_concurrent": 1,
            "kill_itself_after": "activity_update:task_failed",
        }
        ended = await zygote.run(request, None, 0.0)
    finally:
        await zygote.close()
    assert ended["killed"] and ended["kinds"][-1] == "activity_update:task_failed"
    assert_fixed(await recover(scenario, root, db_path, project_id))
