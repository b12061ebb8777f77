"""The pool of worker agents: who exists, who is free, and the events that say so.

The seed's bookkeeping methods stay synchronous. Their events are sent by async
counterparts (``acquire``, ``assign``/``occupy``, ``release``, ``retire``, ``retire_all``)
that the lead agent awaits — never fired and forgotten. Each async method does all of its
bookkeeping before its first ``await``, so the pool is consistent whenever another
coroutine runs; an agent handed out by ``acquire`` is reserved until ``occupy`` or
``release``, so a second ``acquire`` cannot hand it out again in between.

Workers are made by a *worker factory* ``(worker_type, agent_id) -> worker``. The default
one builds the three worker classes from one frozen :class:`WorkerOptions`; it names the
classes of this module when it runs, so patching ``agent_pool_manager.BackendWorkerAgent``
(as code written against the seed design does) changes what it builds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Mapping
from typing import Any

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.agents.frontend_worker_agent import FrontendWorkerAgent
from codeframe.agents.seams import WorkerStore
from codeframe.agents.simple_assignment import normalize_agent_type
from codeframe.agents.test_worker_agent import TestWorkerAgent
from codeframe.agents.worker_options import COMMON_OPTIONS, Worker, WorkerFactory, WorkerOptions
from codeframe.errors import PoolCapacityError, UnknownAgentError, UnknownAgentTypeError
from codeframe.ui.events import AgentCreated, AgentRetired, AgentStatusChanged, TaskAssigned
from codeframe.ui.websocket_broadcasts import BroadcastTarget, Emitter

logger = logging.getLogger(__name__)

IDLE, BUSY, BLOCKED = "idle", "busy", "blocked"


def build_worker(
    kind: str, agent_id: str, project_id: int, options: WorkerOptions
) -> BackendWorkerAgent | FrontendWorkerAgent | TestWorkerAgent:
    """One worker of ``kind`` ("backend", "frontend", "test") from ``options``."""
    o = options
    base: dict[str, Any] = {"api_key": o.api_key, "ws_manager": o.ws_manager, "agent_id": agent_id}
    base.update(o.pick(*COMMON_OPTIONS))
    # The class names are read from this module's namespace now, not when it was imported.
    match kind:
        case "backend":
            return BackendWorkerAgent(project_id, o.db, **base, **o.pick("provider"))
        case "frontend":
            return FrontendWorkerAgent(project_id, o.db, **base, **o.pick("frontend_dir"))
        case "test":
            return TestWorkerAgent(project_id, o.db, **base)
    raise UnknownAgentTypeError(f"no worker class for type {kind!r}")


class AgentPoolManager:
    """Creates, reuses and retires worker agents, at most ``max_agents`` at a time.

    ``worker_kwargs`` are :class:`WorkerOptions` fields for the default factory; pass
    ``worker_factory=`` instead to build workers some other way.
    """

    # Closing a worker closes its HTTP client; a stuck close must not hold up a run's end.
    close_timeout: float = 3.0

    def __init__(
        self,
        project_id: int,
        db: WorkerStore,
        ws_manager: BroadcastTarget | None = None,
        max_agents: int = 10,
        api_key: str | None = None,
        *,
        worker_factory: WorkerFactory | None = None,
        **worker_kwargs: Any,
    ) -> None:
        self.project_id = project_id
        self.db = db
        self.ws_manager = ws_manager
        self.max_agents = max_agents
        self.api_key = api_key
        self.worker_kwargs = worker_kwargs
        self.worker_options = WorkerOptions.of(
            db, api_key=api_key, ws_manager=ws_manager, **worker_kwargs
        )
        self.worker_factory = worker_factory or self.default_factory(self.worker_options)
        self.agent_pool: dict[str, dict[str, Any]] = {}
        self.next_agent_number = 1
        self._reserved: set[str] = set()
        self._task_titles: dict[str, str | None] = {}
        self._emitter: Emitter | None = None

    def default_factory(self, options: WorkerOptions) -> WorkerFactory:
        """The factory that builds this pool's workers from ``options``."""
        project_id = self.project_id

        def build(kind: str, agent_id: str) -> Worker:
            return build_worker(kind, agent_id, project_id, options)

        return build

    @property
    def emit(self) -> Emitter:
        if self._emitter is None or self._emitter.target is not self.ws_manager:
            self._emitter = Emitter(self.ws_manager, self.project_id)
        return self._emitter

    # -- synchronous bookkeeping (seed API) ----------------------------------------------

    def _entry(self, agent_id: str) -> dict[str, Any]:
        try:
            return self.agent_pool[agent_id]
        except KeyError:
            raise UnknownAgentError(f"Agent {agent_id} not in pool") from None

    def create_agent(self, agent_type: str) -> str:
        """A new idle worker of ``agent_type`` (either spelling); its id ``<type>-<n>``."""
        kind = normalize_agent_type(agent_type)
        if len(self.agent_pool) >= self.max_agents:
            raise PoolCapacityError(
                f"Agent pool at maximum capacity ({self.max_agents} agents); "
                "retire an agent before creating another"
            )
        agent_id = f"{kind}-{self.next_agent_number}"
        instance = self.worker_factory(kind, agent_id)
        # Counted only once the worker exists, so a failed constructor wastes no number.
        self.next_agent_number += 1
        self.agent_pool[agent_id] = {
            "instance": instance,
            "agent_type": kind,
            "status": IDLE,
            "current_task": None,
            "tasks_completed": 0,
            "blocked_by": None,
        }
        logger.info("created agent %s", agent_id)
        return agent_id

    def _idle_agent(self, kind: str) -> str | None:
        for agent_id, entry in self.agent_pool.items():
            if (
                entry["agent_type"] == kind
                and entry["status"] == IDLE
                and agent_id not in self._reserved
            ):
                return agent_id
        return None

    def get_or_create_agent(self, agent_type: str) -> str:
        """An idle agent of that type if there is one, else a new one."""
        kind = normalize_agent_type(agent_type)
        return self._idle_agent(kind) or self.create_agent(kind)

    def mark_agent_busy(self, agent_id: str, task_id: int) -> None:
        entry = self._entry(agent_id)
        entry["status"] = BUSY
        entry["current_task"] = task_id
        entry["blocked_by"] = None

    def mark_agent_idle(self, agent_id: str) -> None:
        """Free the agent; it counts one more task done, whatever the outcome."""
        entry = self._entry(agent_id)
        entry["status"] = IDLE
        entry["current_task"] = None
        entry["blocked_by"] = None
        entry["tasks_completed"] += 1

    def mark_agent_blocked(self, agent_id: str, blocked_by: list[int]) -> None:
        entry = self._entry(agent_id)
        entry["status"] = BLOCKED
        entry["blocked_by"] = blocked_by

    def retire_agent(self, agent_id: str) -> None:
        """Remove the agent and free its slot. Closing the worker is ``retire``'s job."""
        self._pop(agent_id)

    def _pop(self, agent_id: str) -> dict[str, Any]:
        entry = self._entry(agent_id)
        del self.agent_pool[agent_id]
        self._reserved.discard(agent_id)
        self._task_titles.pop(agent_id, None)
        logger.info("retired agent %s after %d task(s)", agent_id, entry["tasks_completed"])
        return entry

    def get_agent_instance(self, agent_id: str) -> Any:
        return self._entry(agent_id)["instance"]

    def get_agent_status(self) -> dict[str, dict[str, Any]]:
        return {
            agent_id: {
                "agent_type": entry["agent_type"],
                "status": entry["status"],
                "current_task": entry["current_task"],
                "tasks_completed": entry["tasks_completed"],
                "blocked_by": entry["blocked_by"],
            }
            for agent_id, entry in self.agent_pool.items()
        }

    def statistics(self) -> dict[str, int]:
        """Counts by status plus the cap — a snapshot, like anyio's limiter statistics."""
        stats = {IDLE: 0, BUSY: 0, BLOCKED: 0}
        for entry in self.agent_pool.values():
            stats[entry["status"]] = stats.get(entry["status"], 0) + 1
        return {**stats, "total": len(self.agent_pool), "max_agents": self.max_agents}

    def clear(self) -> None:
        """Forget every agent and restart numbering; workers are not closed (see retire_all)."""
        self.agent_pool.clear()
        self.next_agent_number = 1
        self._reserved.clear()
        self._task_titles.clear()

    # -- async counterparts, which also send the events ----------------------------------

    def _evictable(self, kind: str) -> str | None:
        """Whom to retire for room: a blocked agent first, else an idle one of another type."""
        free = [
            (agent_id, entry)
            for agent_id, entry in self.agent_pool.items()
            if agent_id not in self._reserved
        ]
        for agent_id, entry in free:
            if entry["status"] == BLOCKED:
                return agent_id
        for agent_id, entry in free:
            if entry["status"] == IDLE and entry["agent_type"] != kind:
                return agent_id
        return None

    async def acquire(self, agent_type: str) -> str:
        """An idle agent of that type, reserved for the caller; created if need be.

        At the cap an idle agent of another type (or a blocked one) is retired first to
        make room. Raises ``PoolCapacityError`` when every agent is busy or reserved.
        """
        kind = normalize_agent_type(agent_type)
        agent_id = self._idle_agent(kind)
        if agent_id is not None:
            self._reserved.add(agent_id)
            return agent_id

        evicted: tuple[str, dict[str, Any]] | None = None
        if len(self.agent_pool) >= self.max_agents:
            victim = self._evictable(kind)
            if victim is None:
                raise PoolCapacityError(
                    f"Agent pool at maximum capacity ({self.max_agents} agents), all busy; "
                    f"no room for a {kind} agent"
                )
            evicted = (victim, self._pop(victim))
        created: str | None = None
        try:
            created = self.create_agent(kind)
            self._reserved.add(created)  # before any await: no other acquire may take it
            if evicted is not None:
                retiring, evicted = evicted, None  # from here on the except must not redo it
                await self._close_logged(retiring[0], retiring[1]["instance"])
                await self._announce_retired(*retiring)
            await self.emit(AgentCreated(self.project_id, created, kind))
        except BaseException:
            if created is not None:
                self._reserved.discard(created)  # the caller never learns the id
            if evicted is not None:  # creation failed: the eviction still happened
                await self._close_logged(evicted[0], evicted[1]["instance"])
                await self._announce_retired(*evicted)
            raise
        return created

    async def assign(self, agent_id: str, task: Mapping[str, Any]) -> None:
        """Announce that ``task`` goes to the agent, then :meth:`occupy` it with the task."""
        task_id, title = task["id"], task.get("title")
        self._entry(agent_id)
        await self.emit(TaskAssigned(self.project_id, task_id, agent_id, title))
        await self.occupy(agent_id, task_id, title)

    async def occupy(self, agent_id: str, task_id: int, title: str | None = None) -> None:
        """Mark the agent busy with a task (already handed over) and announce it."""
        self.mark_agent_busy(agent_id, task_id)
        self._reserved.discard(agent_id)
        self._task_titles[agent_id] = title
        await self.emit(AgentStatusChanged(self.project_id, agent_id, BUSY, task_id, title))

    async def release(self, agent_id: str, *, blocked_by: list[int] | None = None) -> None:
        """The agent's task is over: idle again, or blocked when ``blocked_by`` is given."""
        self._reserved.discard(agent_id)
        if blocked_by is None:
            self.mark_agent_idle(agent_id)
            self._task_titles.pop(agent_id, None)
            await self.emit(AgentStatusChanged(self.project_id, agent_id, IDLE))
            return
        self.mark_agent_blocked(agent_id, list(blocked_by))
        await self.emit(
            AgentStatusChanged(
                self.project_id,
                agent_id,
                BLOCKED,
                self.agent_pool[agent_id]["current_task"],
                self._task_titles.get(agent_id),
            )
        )

    async def retire(self, agent_id: str) -> None:
        """Remove the agent, close its worker and announce it; a failed close is re-raised."""
        entry = self._pop(agent_id)
        try:
            await self._close(entry["instance"])
        except Exception:
            await self._announce_retired(agent_id, entry)
            raise
        await self._announce_retired(agent_id, entry)

    async def retire_all(self) -> None:
        """Retire every agent; their workers close concurrently and a failed close is logged."""
        entries = [(agent_id, self._pop(agent_id)) for agent_id in list(self.agent_pool)]
        if not entries:
            return
        try:
            async with asyncio.TaskGroup() as group:
                for agent_id, entry in entries:
                    group.create_task(self._close_logged(agent_id, entry["instance"]))
        except asyncio.CancelledError:
            # A caller's clean-up bound ran out: stay within it rather than send events.
            logger.warning("retire_all interrupted; %d agent(s) retired unannounced", len(entries))
            raise
        for agent_id, entry in entries:
            await self._announce_retired(agent_id, entry)

    # -- closing workers -------------------------------------------------------------

    async def _close(self, instance: Any) -> None:
        aclose = getattr(instance, "aclose", None)
        if aclose is None:
            return
        async with asyncio.timeout(self.close_timeout):
            result = aclose()
            # A stand-in worker (e.g. a plain Mock) may have a non-async aclose.
            if inspect.isawaitable(result):
                await result

    async def _close_logged(self, agent_id: str, instance: Any) -> None:
        try:
            await self._close(instance)
        except Exception:
            logger.exception("closing agent %s failed; it is retired anyway", agent_id)

    async def _announce_retired(self, agent_id: str, entry: Mapping[str, Any]) -> None:
        await self.emit(AgentRetired(self.project_id, agent_id, entry["tasks_completed"]))


__all__ = [
    "AgentPoolManager",
    "BackendWorkerAgent",
    "FrontendWorkerAgent",
    "TestWorkerAgent",
    "Worker",
    "WorkerFactory",
    "WorkerOptions",
    "build_worker",
]
