"""Cancels and interrupts at every step of a run: the ledger, the tree and the process table
must still tell one consistent story, and a second run must finish the work.

Each seed makes a small project (:mod:`tests.faults.scenario`). A dry run counts the steps
of each site — broadcast events, model calls, test runs, database calls — and then one case
per step runs the project again with one fault there: the run's task cancelled (before the
step, or while a model call or pytest is under way), ``KeyboardInterrupt`` raised in the
step (before it, or once it completed) as a kernel's SIGINT handler would, or the panel's
Stop. Every run goes through ``asyncio.run`` like a script's, so an interrupt unwinds the
loop as it does for a user.

After each case: the run ended as the fault says (``CancelledError`` for a cancel,
``KeyboardInterrupt`` for an interrupt), the ledger holds (:mod:`tests.faults.invariants`),
each task's files are one whole group's before or after, no process the run started
survives, a panel's snapshot equals the database; then the open blockers are answered and
a second run, with a model that sends each task's final version, completes every task.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

import pytest

from codeframe.agents.lead_agent import LeadAgent
from codeframe.core.models import TaskStatus
from codeframe.llm import ScriptedClient
from codeframe.persistence.database import Database
from codeframe.persistence.task_status import StatusWrite
from codeframe.testing.test_runner import TestRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder
from tests.faults.harness import (
    Tally,
    describe,
    kill_leftovers,
    leftovers,
    long_run,
    rng_for,
    seeds,
)
from tests.faults.injection import (
    ACTIONS,
    SITES,
    CountingTarget,
    Fault,
    FaultyClient,
    FaultyRunner,
    FaultyStore,
    Injector,
    InterruptingStore,
)
from tests.faults.invariants import ledger_problems
from tests.faults.known import assert_fixed
from tests.faults.scenario import PlannedTask, Replies, Scenario, TreeRunner

CATEGORY = "cancels and interrupts"

AFTER_FAULT = {"pending", "cancelled", "completed", "blocked"}


@dataclass
class World:
    """One seed's project: its folder, a database template, and what each case needs."""

    scenario: Scenario
    base: Path
    root: Path
    template: Path
    project_id: int
    cases: int = 0

    @classmethod
    def make(cls, base: Path, scenario: Scenario) -> World:
        root = base / "project"
        scenario.build(root)
        template = base / "template.db"
        with Database(template) as db:
            project_id = db.create_project("faults", workspace_path=str(root))
            scenario.create_tasks(db, project_id)
        return cls(scenario, base, root, template, project_id)

    def fresh_case(self) -> Database:
        """The tree and the database as they were before any run."""
        self.cases += 1
        self.scenario.build(self.root)
        if self.scenario.pid_folder is not None:
            shutil.rmtree(self.scenario.pid_folder, ignore_errors=True)
            self.scenario.pid_folder.mkdir()
        path = self.base / f"case-{self.cases}.db"
        shutil.copyfile(self.template, path)
        return Database(path)

    def runner(self) -> Any:
        if self.scenario.real_pytest:
            return TestRunner(self.root, timeout=60, plugin_autoload=False, warm=self.scenario.warm)
        return TreeRunner(self.root)


@dataclass
class Outcome:
    ended: str  # "returned", "cancelled" or "interrupted"
    injector: Injector
    panel: Any = None
    error: str | None = None


def run(world: World, db: Database, fault: Fault | None, *, panel: bool) -> Outcome:
    """One run of the project with ``fault`` in it, under its own ``asyncio.run``."""
    injector = Injector(fault)
    shown = None
    if panel:
        from codeframe.notebook import AgentPanel

        shown = AgentPanel(db, world.project_id)
    holder = Outcome("returned", injector, shown)

    async def main() -> None:
        scenario = world.scenario
        targets: list[Any] = [BroadcastRecorder()] + ([shown] if shown is not None else [])
        lead = LeadAgent(
            world.project_id,
            FaultyStore(db, injector),
            ws_manager=CountingTarget(injector, targets),
            client=FaultyClient(ScriptedClient(default=Replies(scenario)), injector),
            test_runner=FaultyRunner(world.runner(), injector),
            project_root=world.root,
        )
        work = lead.start_multi_agent_execution(
            max_retries=scenario.max_retries, max_concurrent=scenario.max_concurrent
        )
        running = shown.start(work) if shown is not None else asyncio.create_task(work)
        injector.run_task = running
        if shown is not None:
            injector.stop = shown.stop
        try:
            await running
        except asyncio.CancelledError:
            if not running.cancelled():
                raise  # this coroutine itself is being cancelled: the loop is shutting down
            holder.ended = "cancelled"
        finally:
            if injector.stopper is not None:
                await injector.stopper

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        holder.ended = "interrupted"
    except Exception as exc:  # a crash is what this suite looks for: reported, not raised
        holder.ended, holder.error = "crashed", describe(exc)
    return holder


def finish_the_work(world: World, db: Database) -> list[str]:
    """Answer the open test blockers, run again with the final replies: all must complete."""
    scenario = world.scenario

    async def main() -> dict[str, Any]:
        lead = LeadAgent(
            world.project_id,
            db,
            client=ScriptedClient(default=Replies(scenario, final=True)),
            test_runner=world.runner(),
            project_root=world.root,
        )
        for blocker in db.get_blockers(world.project_id):
            if blocker["blocker_type"] == "tests":
                await lead.answer_blocker(blocker["id"], "send the final version")
        return await lead.start_multi_agent_execution(
            max_retries=scenario.max_retries, max_concurrent=scenario.max_concurrent
        )

    try:
        summary = asyncio.run(main())
    except Exception as exc:
        return [f"the second run raised {describe(exc)}"]
    problems = ledger_problems(db, world.project_id, allowed={"completed"})
    problems += scenario.tree_problems(world.root, allowed=("group", "final"))
    if summary["completed"] != len(scenario.tasks):
        problems.append(f"the second run's summary: {summary}")
    return [f"after the second run: {p}" for p in problems]


def check(world: World, fault: Fault | None, *, panel: bool) -> tuple[str | None, list[str]]:
    """One case: the faulted run, the checks, the second run.

    Returns the case's name (``None`` if the fault never fired) and its problems.
    """
    db = world.fresh_case()
    pid_folder = world.scenario.pid_folder
    try:
        outcome = run(world, db, fault, panel=panel)
        injector = outcome.injector
        problems = []
        fired = fault is not None and injector.fired
        expected = "returned"
        if fired and fault is not None:
            expected = "cancelled" if fault.cancels else "interrupted"
            if fault.cancels and injector.run_task is not None and not injector.landed:
                expected = "returned"  # the cancel came after the run had ended
        if outcome.ended != expected:
            why = f" ({outcome.error})" if outcome.error else ""
            problems.append(f"the run ended {outcome.ended}{why}, expected {expected}")
        problems += ledger_problems(db, world.project_id, allowed=AFTER_FAULT)
        problems += world.scenario.tree_problems(world.root)
        problems += leftovers(world.base, pid_folder)
        if outcome.panel is not None:
            problems += panel_problems(outcome.panel, db, world.project_id)
        if not problems:
            problems += finish_the_work(world, db)
            problems += leftovers(world.base, pid_folder)
        if problems:
            kill_leftovers(world.base)
        name = injector.label() + (" (panel)" if panel else "")
        return (name if fired or fault is None else None), problems
    finally:
        db.close()


def panel_problems(panel: Any, db: Database, project_id: int) -> list[str]:
    shown = {int(k): v["status"] for k, v in panel.snapshot()["tasks"].items()}
    stored = {int(t["id"]): str(t["status"]) for t in db.get_project_tasks(project_id)}
    if shown != stored:
        return [f"the panel shows {shown}, the database says {stored}"]
    return []


def plan(counts: dict[str, int], rng: Random, *, sample: int | None) -> list[Fault]:
    """One fault per step of every site (or ``sample`` of them), each with a seeded action."""
    faults = []
    for site in SITES:
        for step in range(1, counts.get(site, 0) + 1):
            action = rng.choice(ACTIONS[site])
            delay = rng.choice([0.0, 0.01, 0.03, 0.1, 0.3]) if action == "cancel-during" else 0.0
            faults.append(Fault(site, step, action, delay))
    if sample is not None and len(faults) > sample:
        faults = rng.sample(faults, sample)
    return faults


def sweep(tally: Tally, world: World, rng: Random, *, sample: int | None) -> None:
    _, problems = check(world, None, panel=False)
    tally.record("no fault", problems)
    counts = run_counts(world) if not problems else {}
    for fault in plan(counts, rng, sample=sample):
        panel = fault.action == "stop" or rng.random() < 0.15
        name, problems = check(world, fault, panel=panel)
        if name is not None:
            tally.record(name, problems)


def run_counts(world: World) -> dict[str, int]:
    """How many steps each site has in a fault-free run of this project."""
    db = world.fresh_case()
    try:
        outcome = run(world, db, None, panel=False)
        return dict(outcome.injector.counts)
    finally:
        db.close()


@pytest.mark.parametrize("seed", seeds(default=1, cost=4), ids=lambda s: f"seed{s}")
def test_a_fault_at_every_step_of_a_run_leaves_a_consistent_project(
    seed: int, tally: Tally, tmp_path: Path
) -> None:
    """The stand-in suite (no pytest): a fault at every step of every site."""
    scenario = Scenario.generate(seed, real_pytest=False)
    world = World.make(tmp_path, scenario)
    sweep(tally, world, rng_for("steps", seed), sample=None)
    tally.finish()


@pytest.mark.parametrize("seed", seeds(default=1, cost=40), ids=lambda s: f"seed{s}")
def test_a_fault_while_real_pytest_runs_leaves_no_process_and_a_consistent_project(
    seed: int, tally: Tally, tmp_path: Path
) -> None:
    """Real pytest (warm or cold), whose tests record their pids: a sample of the steps."""
    scenario = Scenario.generate(seed, real_pytest=True, pid_folder=tmp_path / "pids")
    world = World.make(tmp_path, scenario)
    try:
        sweep(tally, world, rng_for("pytest", seed), sample=30 if long_run() else 6)
    finally:
        asyncio.run(TestRunner(world.root, warm=True).aclose())
    tally.finish()


def test_the_scenarios_complete_without_faults(tmp_path: Path) -> None:
    """The baseline the sweeps rely on: with no fault every task ends as its replies say."""
    scenario = Scenario.generate(7, real_pytest=False)
    world = World.make(tmp_path, scenario)
    db = world.fresh_case()
    try:
        outcome = run(world, db, None, panel=True)
        assert outcome.ended == "returned", outcome.error
        statuses = {t["title"]: t["status"] for t in db.get_project_tasks(world.project_id)}
        lost: set[int] = set()
        for task in scenario.tasks:  # dependencies come earlier: one pass finds them all
            if task.bad_attempts >= 4 or lost & set(task.depends_on):
                lost.add(task.number)
            expected = TaskStatus.BLOCKED if task.number in lost else TaskStatus.COMPLETED
            assert statuses[task.title] == expected, statuses
        assert outcome.injector.counts["event"] > 0 and outcome.injector.counts["db"] > 0
    finally:
        db.close()


# -- known faults: each fails today; the sweeps count its cases as known ---------------------


def one_task_world(base: Path, *, flaky: bool = False) -> World:
    task = PlannedTask(1, "backend", (), bad_attempts=0, flaky=flaky)
    scenario = Scenario(0, [task], max_concurrent=1, max_retries=1, real_pytest=False)
    return World.make(base, scenario)


def interrupted(world: World, store: InterruptingStore) -> str:
    """Run the one-task project on ``store``; how the run ended."""
    lead = LeadAgent(
        world.project_id,
        store,
        client=ScriptedClient(default=Replies(world.scenario)),
        test_runner=TreeRunner(world.root),
        project_root=world.root,
    )
    try:
        asyncio.run(lead.start_multi_agent_execution(max_retries=1))
    except KeyboardInterrupt:
        return "interrupted"
    return "returned"


def after_an_interrupt(world: World, db: Database, store: InterruptingStore) -> list[str]:
    assert interrupted(world, store) == "interrupted" and store.fired
    problems = ledger_problems(db, world.project_id, allowed=AFTER_FAULT)
    return problems + (finish_the_work(world, db) if not problems else [])


def test_an_interrupt_right_after_the_run_row_is_written(tmp_path: Path) -> None:
    world = one_task_world(tmp_path)
    db = world.fresh_case()
    try:
        store = InterruptingStore(db, "start_run", after=True)
        assert_fixed(after_an_interrupt(world, db, store))
    finally:
        db.close()


def test_an_interrupt_as_the_run_row_is_closed(tmp_path: Path) -> None:
    world = one_task_world(tmp_path)
    db = world.fresh_case()
    try:
        store = InterruptingStore(db, "finish_run", after=False)
        assert_fixed(after_an_interrupt(world, db, store))
    finally:
        db.close()


def retryable_failure(_task_id: int, change: StatusWrite) -> bool:
    return change.status in (TaskStatus.FAILED, TaskStatus.PENDING)


@pytest.mark.parametrize("after", [False, True], ids=["before-the-write", "after-the-write"])
def test_an_interrupt_as_a_retryable_failure_is_written(tmp_path: Path, after: bool) -> None:
    """A retryable failure is one write, straight back to ``pending`` (never ``failed`` and
    then requeued): an interrupt on either side of it leaves the retry for the next run."""
    world = one_task_world(tmp_path, flaky=True)
    db = world.fresh_case()
    try:
        store = InterruptingStore(db, "write_status", after=after, when=retryable_failure)
        assert_fixed(after_an_interrupt(world, db, store))
        failed_writes = [
            row for row in db.conn.execute("SELECT status FROM tasks") if row[0] == "failed"
        ]
        assert failed_writes == []
    finally:
        db.close()
