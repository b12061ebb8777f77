"""AgentPoolManager: the seed's sync bookkeeping and the awaited, event-sending counterparts."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, ClassVar
from unittest.mock import Mock

import pytest

from codeframe.agents import agent_pool_manager as apm
from codeframe.agents.agent_pool_manager import AgentPoolManager
from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.agents.frontend_worker_agent import FrontendWorkerAgent
from codeframe.agents.test_worker_agent import TestWorkerAgent
from codeframe.ui.websocket_broadcasts import BroadcastRecorder

DUMMY_CLIENT = object()  # never called: no task runs in these tests


class Database:
    """The pool only hands its database to the workers, so a marker object is enough."""


class FakeWorker:
    """A stand-in worker class that records how it was built and closed."""

    built: ClassVar[list[FakeWorker]] = []

    def __init__(self, project_id: int, db: Any, **kwargs: Any) -> None:
        self.project_id = project_id
        self.db = db
        self.kwargs = kwargs
        self.agent_id = kwargs.get("agent_id")
        self.closed = 0
        FakeWorker.built.append(self)

    async def aclose(self) -> None:
        self.closed += 1


class FailingCloseWorker(FakeWorker):
    async def aclose(self) -> None:
        self.closed += 1
        raise RuntimeError("socket already gone")


class HangingCloseWorker(FakeWorker):
    async def aclose(self) -> None:
        self.closed += 1
        await asyncio.Event().wait()


@pytest.fixture
def db() -> Database:
    return Database()


@pytest.fixture(autouse=True)
def _reset_fakes() -> None:
    FakeWorker.built = []


@pytest.fixture
def pool(db: Database, recorder: BroadcastRecorder, tmp_path: Path) -> AgentPoolManager:
    return AgentPoolManager(
        1, db, ws_manager=recorder, max_agents=3, client=DUMMY_CLIENT, project_root=tmp_path
    )


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BackendWorkerAgent", "FrontendWorkerAgent", "TestWorkerAgent"):
        monkeypatch.setattr(apm, name, FakeWorker)


# -- construction and creation (sync, seed API) ----------------------------------------


def test_initial_state(db: Database) -> None:
    pool = AgentPoolManager(7, db)
    assert (pool.project_id, pool.db, pool.ws_manager) == (7, db, None)
    assert pool.max_agents == 10
    assert pool.api_key is None
    assert pool.agent_pool == {}
    assert pool.next_agent_number == 1
    assert pool.worker_kwargs == {}


def test_extras_are_kept_as_worker_kwargs(db: Database) -> None:
    pool = AgentPoolManager(1, db, None, 4, "sk-test", model="m", timeout=9.0)
    assert pool.max_agents == 4
    assert pool.api_key == "sk-test"
    assert pool.worker_kwargs == {"model": "m", "timeout": 9.0}


def test_create_real_workers_with_shared_numbering(
    pool: AgentPoolManager, db: Database, recorder: BroadcastRecorder, tmp_path: Path
) -> None:
    ids = [pool.create_agent(kind) for kind in ("backend", "frontend", "test")]
    assert ids == ["backend-1", "frontend-2", "test-3"]
    assert pool.next_agent_number == 4
    classes = [type(pool.get_agent_instance(i)) for i in ids]
    assert classes == [BackendWorkerAgent, FrontendWorkerAgent, TestWorkerAgent]
    for agent_id in ids:
        worker = pool.get_agent_instance(agent_id)
        assert worker.agent_id == agent_id
        assert worker.project_id == 1
        assert worker.db is db
        assert worker.ws_manager is recorder
        assert worker.client is DUMMY_CLIENT
        assert worker.project_root == tmp_path
    assert recorder.messages == []  # sync bookkeeping sends nothing


def test_entry_shape(pool: AgentPoolManager) -> None:
    agent_id = pool.create_agent("backend")
    entry = pool.agent_pool[agent_id]
    assert entry == {
        "instance": entry["instance"],
        "agent_type": "backend",
        "status": "idle",
        "current_task": None,
        "tasks_completed": 0,
        "blocked_by": None,
    }


@pytest.mark.parametrize(
    ("alias", "agent_id", "kind"),
    [
        ("backend-worker", "backend-1", "backend"),
        ("frontend-specialist", "frontend-1", "frontend"),
        ("test-engineer", "test-1", "test"),
    ],
)
def test_assigner_spellings_are_normalised(
    pool: AgentPoolManager, alias: str, agent_id: str, kind: str
) -> None:
    assert pool.create_agent(alias) == agent_id
    assert pool.agent_pool[agent_id]["agent_type"] == kind


def test_unknown_type_is_a_value_error(pool: AgentPoolManager) -> None:
    with pytest.raises(ValueError, match=r"^Unknown agent type: 'code-reviewer'"):
        pool.create_agent("code-reviewer")
    assert pool.agent_pool == {}
    assert pool.next_agent_number == 1


def test_frontend_dir_goes_only_to_the_frontend_worker(db: Database) -> None:
    pool = AgentPoolManager(1, db, client=DUMMY_CLIENT, frontend_dir="web", provider="claude")
    backend = pool.get_agent_instance(pool.create_agent("backend"))
    frontend = pool.get_agent_instance(pool.create_agent("frontend"))
    tester = pool.get_agent_instance(pool.create_agent("test"))
    assert frontend.frontend_dir == "web"
    assert backend.provider == "claude"
    assert not hasattr(tester, "frontend_dir")


def test_patched_worker_class_receives_keyword_arguments(
    db: Database, recorder: BroadcastRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apm, "BackendWorkerAgent", FakeWorker)
    pool = AgentPoolManager(
        5, db, recorder, api_key="sk-x", client=DUMMY_CLIENT, frontend_dir="web", timeout=3.0
    )
    agent_id = pool.create_agent("backend")
    (worker,) = FakeWorker.built
    assert pool.get_agent_instance(agent_id) is worker
    assert (worker.project_id, worker.db) == (5, db)
    assert worker.kwargs == {
        "api_key": "sk-x",
        "ws_manager": recorder,
        "agent_id": "backend-1",
        "client": DUMMY_CLIENT,
        "timeout": 3.0,
    }


def test_patching_with_a_mock_works(pool: AgentPoolManager, monkeypatch: pytest.MonkeyPatch):
    mock_class = Mock()
    monkeypatch.setattr(apm, "TestWorkerAgent", mock_class)
    agent_id = pool.create_agent("test")
    assert pool.get_agent_instance(agent_id) is mock_class.return_value
    assert mock_class.call_args.kwargs["agent_id"] == "test-1"


def test_failed_constructor_uses_no_number_or_slot(
    pool: AgentPoolManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apm, "BackendWorkerAgent", Mock(side_effect=OSError("no disk")))
    with pytest.raises(OSError, match="no disk"):
        pool.create_agent("backend")
    assert pool.agent_pool == {}
    assert pool.next_agent_number == 1


def test_capacity_is_enforced_and_retirement_frees_a_slot(pool: AgentPoolManager) -> None:
    ids = [pool.create_agent("backend") for _ in range(3)]
    with pytest.raises(RuntimeError, match=r"^Agent pool at maximum capacity \(3 agents\)"):
        pool.create_agent("test")
    pool.retire_agent(ids[0])
    assert pool.create_agent("test") == "test-4"  # numbers are never reused


# -- status bookkeeping ----------------------------------------------------------------


def test_get_or_create_reuses_an_idle_agent_of_the_type(pool: AgentPoolManager) -> None:
    first = pool.get_or_create_agent("backend")
    assert pool.get_or_create_agent("backend-worker") == first
    pool.mark_agent_busy(first, 10)
    second = pool.get_or_create_agent("backend")
    assert second != first
    assert pool.get_or_create_agent("frontend") == "frontend-3"


def test_busy_idle_blocked_transitions(pool: AgentPoolManager) -> None:
    agent_id = pool.create_agent("backend")
    pool.mark_agent_busy(agent_id, 42)
    assert pool.agent_pool[agent_id]["status"] == "busy"
    assert pool.agent_pool[agent_id]["current_task"] == 42
    pool.mark_agent_blocked(agent_id, [1, 2])
    assert pool.agent_pool[agent_id]["status"] == "blocked"
    assert pool.agent_pool[agent_id]["blocked_by"] == [1, 2]
    pool.mark_agent_idle(agent_id)
    entry = pool.agent_pool[agent_id]
    assert (entry["status"], entry["current_task"], entry["blocked_by"]) == ("idle", None, None)


def test_tasks_completed_counts_each_return_to_idle(pool: AgentPoolManager) -> None:
    agent_id = pool.create_agent("backend")
    for task_id in range(3):
        pool.mark_agent_busy(agent_id, task_id)
        pool.mark_agent_idle(agent_id)
    assert pool.agent_pool[agent_id]["tasks_completed"] == 3


def test_get_agent_status(pool: AgentPoolManager) -> None:
    backend = pool.create_agent("backend")
    tester = pool.create_agent("test")
    pool.mark_agent_busy(backend, 7)
    pool.mark_agent_blocked(tester, [3])
    assert pool.get_agent_status() == {
        "backend-1": {
            "agent_type": "backend",
            "status": "busy",
            "current_task": 7,
            "tasks_completed": 0,
            "blocked_by": None,
        },
        "test-2": {
            "agent_type": "test",
            "status": "blocked",
            "current_task": None,
            "tasks_completed": 0,
            "blocked_by": [3],
        },
    }


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.mark_agent_busy("ghost-9", 1),
        lambda p: p.mark_agent_idle("ghost-9"),
        lambda p: p.mark_agent_blocked("ghost-9", [1]),
        lambda p: p.retire_agent("ghost-9"),
        lambda p: p.get_agent_instance("ghost-9"),
    ],
)
def test_unknown_agent_is_a_key_error(pool: AgentPoolManager, call: Any) -> None:
    with pytest.raises(KeyError, match="Agent ghost-9 not in pool"):
        call(pool)


def test_second_retirement_is_a_key_error(pool: AgentPoolManager) -> None:
    agent_id = pool.create_agent("backend")
    pool.retire_agent(agent_id)
    assert agent_id not in pool.agent_pool
    with pytest.raises(KeyError, match=f"Agent {agent_id} not in pool"):
        pool.retire_agent(agent_id)


def test_clear_empties_and_restarts_numbering(pool: AgentPoolManager) -> None:
    pool.create_agent("backend")
    pool.create_agent("test")
    pool.clear()
    assert pool.agent_pool == {}
    assert pool.next_agent_number == 1
    assert pool.create_agent("frontend") == "frontend-1"


def test_statistics(pool: AgentPoolManager) -> None:
    assert pool.statistics() == {"idle": 0, "busy": 0, "blocked": 0, "total": 0, "max_agents": 3}
    a, b, _ = (pool.create_agent(k) for k in ("backend", "frontend", "test"))
    pool.mark_agent_busy(a, 1)
    pool.mark_agent_blocked(b, [1])
    assert pool.statistics() == {"idle": 1, "busy": 1, "blocked": 1, "total": 3, "max_agents": 3}


# -- async counterparts and their events ---------------------------------------------


async def test_acquire_creates_and_announces(
    pool: AgentPoolManager, recorder: BroadcastRecorder
) -> None:
    agent_id = await pool.acquire("frontend-specialist")
    assert agent_id == "frontend-1"
    (message,) = recorder.messages
    assert message["type"] == "agent_created"
    assert message["project_id"] == 1
    assert message["agent_id"] == "frontend-1"
    assert message["agent_type"] == "frontend"
    assert message["status"] == "idle"
    assert message["tasks_completed"] == 0


async def test_full_cycle_events_in_order(
    pool: AgentPoolManager, recorder: BroadcastRecorder
) -> None:
    agent_id = await pool.acquire("backend")
    await pool.assign(agent_id, {"id": 11, "title": "Add endpoint"})
    assert pool.agent_pool[agent_id]["status"] == "busy"
    assert pool.agent_pool[agent_id]["current_task"] == 11
    await pool.release(agent_id)
    assert pool.agent_pool[agent_id]["status"] == "idle"
    assert pool.agent_pool[agent_id]["tasks_completed"] == 1

    assert recorder.types() == [
        "agent_created",
        "task_assigned",
        "agent_status_changed",
        "agent_status_changed",
    ]
    _, assigned, busy, idle = recorder.messages
    assert (assigned["task_id"], assigned["agent_id"]) == (11, "backend-1")
    assert assigned["task_title"] == "Add endpoint"
    assert busy["status"] == "busy"
    assert busy["current_task"] == {"id": 11, "title": "Add endpoint"}
    assert idle["status"] == "idle"
    assert "current_task" not in idle


async def test_acquire_reuses_an_idle_agent_silently(
    pool: AgentPoolManager, recorder: BroadcastRecorder
) -> None:
    agent_id = await pool.acquire("backend")
    await pool.assign(agent_id, {"id": 1, "title": "one"})
    await pool.release(agent_id)
    recorder.clear()
    assert await pool.acquire("backend-worker") == agent_id
    assert recorder.messages == []


async def test_an_acquired_agent_is_not_handed_out_twice(pool: AgentPoolManager) -> None:
    first, second = await asyncio.gather(pool.acquire("backend"), pool.acquire("backend"))
    assert first != second
    # Released without a task, it is free again.
    await pool.release(first)
    assert await pool.acquire("backend") == first


async def test_release_blocked_keeps_the_task_and_announces_it(
    pool: AgentPoolManager, recorder: BroadcastRecorder
) -> None:
    agent_id = await pool.acquire("test")
    await pool.assign(agent_id, {"id": 4, "title": "Write tests"})
    recorder.clear()
    await pool.release(agent_id, blocked_by=[2, 3])
    entry = pool.agent_pool[agent_id]
    assert entry["status"] == "blocked"
    assert entry["blocked_by"] == [2, 3]
    assert entry["tasks_completed"] == 0
    (message,) = recorder.messages
    assert message["type"] == "agent_status_changed"
    assert message["status"] == "blocked"
    assert message["current_task"] == {"id": 4, "title": "Write tests"}


async def test_at_the_cap_an_idle_agent_of_another_type_is_retired(
    pool: AgentPoolManager, recorder: BroadcastRecorder, fakes: None
) -> None:
    backend = await pool.acquire("backend")
    await pool.assign(backend, {"id": 1, "title": "busy one"})
    frontend = await pool.acquire("frontend")
    await pool.assign(frontend, {"id": 2, "title": "ui"})
    await pool.release(frontend)
    tester = await pool.acquire("test")
    await pool.assign(tester, {"id": 3, "title": "t"})
    recorder.clear()
    frontend_worker = pool.get_agent_instance(frontend)
    await pool.release(tester)

    assert await pool.acquire("backend") == "backend-4"

    assert set(pool.agent_pool) == {"backend-1", "test-3", "backend-4"}
    assert frontend_worker.closed == 1
    assert recorder.types() == ["agent_status_changed", "agent_retired", "agent_created"]
    retired, created = recorder.messages[1:]
    assert (retired["agent_id"], retired["tasks_completed"]) == ("frontend-2", 1)
    assert (created["agent_id"], created["agent_type"]) == ("backend-4", "backend")


async def test_at_the_cap_a_blocked_agent_makes_room_first(
    pool: AgentPoolManager, recorder: BroadcastRecorder
) -> None:
    ids = [await pool.acquire(k) for k in ("frontend", "backend", "backend")]
    for n, agent_id in enumerate(ids):
        await pool.assign(agent_id, {"id": n + 1, "title": f"t{n}"})
    await pool.release(ids[0])  # idle frontend
    await pool.release(ids[2], blocked_by=[9])  # blocked backend
    await pool.acquire("test")
    assert set(pool.agent_pool) == {"frontend-1", "backend-2", "test-4"}
    assert recorder.of_type("agent_retired")[0]["agent_id"] == "backend-3"


async def test_a_pool_full_of_busy_agents_refuses(
    pool: AgentPoolManager, recorder: BroadcastRecorder
) -> None:
    for n in range(3):
        agent_id = await pool.acquire("backend")
        await pool.assign(agent_id, {"id": n, "title": "x"})
    recorder.clear()
    before = pool.get_agent_status()
    with pytest.raises(RuntimeError, match="maximum capacity"):
        await pool.acquire("frontend")
    assert pool.get_agent_status() == before
    assert recorder.messages == []


async def test_a_reserved_agent_is_never_retired_for_room(pool: AgentPoolManager) -> None:
    for kind in ("backend", "backend", "frontend"):
        await pool.acquire(kind)  # all three reserved, none assigned yet
    with pytest.raises(RuntimeError, match="maximum capacity"):
        await pool.acquire("test")
    assert len(pool.agent_pool) == 3


async def test_retire_closes_the_worker_and_announces(
    pool: AgentPoolManager, recorder: BroadcastRecorder, fakes: None
) -> None:
    agent_id = await pool.acquire("backend")
    await pool.assign(agent_id, {"id": 1, "title": "x"})
    await pool.release(agent_id)
    worker = pool.get_agent_instance(agent_id)
    recorder.clear()
    await pool.retire(agent_id)
    assert agent_id not in pool.agent_pool
    assert worker.closed == 1
    (message,) = recorder.messages
    assert message["type"] == "agent_retired"
    assert (message["agent_id"], message["tasks_completed"]) == (agent_id, 1)
    with pytest.raises(KeyError, match="not in pool"):
        await pool.retire(agent_id)


async def test_retire_a_real_worker(pool: AgentPoolManager, recorder: BroadcastRecorder):
    agent_id = await pool.acquire("test")
    await pool.retire(agent_id)
    assert pool.agent_pool == {}
    assert recorder.types() == ["agent_created", "agent_retired"]


async def test_retire_reports_a_failed_close_after_retiring(
    pool: AgentPoolManager, recorder: BroadcastRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apm, "BackendWorkerAgent", FailingCloseWorker)
    agent_id = await pool.acquire("backend")
    with pytest.raises(RuntimeError, match="socket already gone"):
        await pool.retire(agent_id)
    assert agent_id not in pool.agent_pool
    assert recorder.types()[-1] == "agent_retired"


async def test_retire_all_survives_failing_and_hanging_closes(
    pool: AgentPoolManager,
    recorder: BroadcastRecorder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(apm, "BackendWorkerAgent", FailingCloseWorker)
    monkeypatch.setattr(apm, "FrontendWorkerAgent", HangingCloseWorker)
    monkeypatch.setattr(apm, "TestWorkerAgent", FakeWorker)
    pool.close_timeout = 0.05
    ids = [await pool.acquire(k) for k in ("backend", "frontend", "test")]
    workers = [pool.get_agent_instance(i) for i in ids]
    recorder.clear()

    with caplog.at_level(logging.ERROR, logger="codeframe.agents.agent_pool_manager"):
        await pool.retire_all()

    assert pool.agent_pool == {}
    assert [w.closed for w in workers] == [1, 1, 1]
    assert recorder.types() == ["agent_retired"] * 3
    assert [m["agent_id"] for m in recorder.messages] == ids
    assert "closing agent backend-1 failed" in caplog.text
    assert "closing agent frontend-2 failed" in caplog.text
    assert "test-3" not in caplog.text


async def test_retire_all_on_an_empty_pool_is_a_no_op(
    pool: AgentPoolManager, recorder: BroadcastRecorder
) -> None:
    await pool.retire_all()
    assert recorder.messages == []


async def test_mock_workers_with_a_sync_aclose_can_be_retired(
    pool: AgentPoolManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apm, "BackendWorkerAgent", Mock())
    agent_id = await pool.acquire("backend")
    instance = pool.get_agent_instance(agent_id)
    await pool.retire_all()
    instance.aclose.assert_called_once_with()


async def test_async_methods_work_without_a_broadcast_target(db: Database) -> None:
    pool = AgentPoolManager(1, db, client=DUMMY_CLIENT)
    agent_id = await pool.acquire("backend")
    await pool.assign(agent_id, {"id": 1})
    await pool.release(agent_id)
    await pool.retire_all()
    assert pool.agent_pool == {}
