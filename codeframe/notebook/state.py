"""What the panel knows about a run: events folded into a plain, JSON-ready snapshot.

This is the panel's core in the tqdm sense: it knows nothing of Jupyter or widgets. Each
message is read back into its typed event (:mod:`codeframe.ui.events`) and folded in by a
``match`` on its class; folding is O(1) and does no I/O, so agents can broadcast thousands
of events cheaply. :meth:`PanelState.refresh` re-reads the database — the truth about a
task's status — through one read model when a run ends or when the panel is created for an
existing project.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from codeframe.core.models import FINAL_STATUSES, TaskStatus
from codeframe.errors import InvalidInputError
from codeframe.persistence.read_models import PanelOverview
from codeframe.ui.events import (
    ActivityUpdate,
    AgentCreated,
    AgentRetired,
    AgentStatusChanged,
    BlockerCreated,
    CommitCreated,
    CorrectionAttemptUpdate,
    Event,
    ProgressUpdate,
    TaskAssigned,
    TaskBlocked,
    TaskStatusChanged,
    TaskUnblocked,
    TestResultReported,
    event_from_message,
)

logger = logging.getLogger(__name__)

ACTIVITY_LINES = 200
_LINE_CHARS = 300
_CORRECTION_DONE = frozenset({"success", "failed"})

Mode = Literal["offline", "live"]
Clock = Callable[[], float]


def default_mode() -> Mode:
    """``live`` when an API key is set (agents would call Claude), else ``offline``."""
    return "live" if os.environ.get("ANTHROPIC_API_KEY") else "offline"


@dataclass(slots=True)
class _TaskView:
    title: str
    status: str = TaskStatus.PENDING.value
    agent: str | None = None
    last_test_status: str | None = None
    attempts: int = 0
    tokens: int = 0
    cost: float = 0.0
    placeholder: bool = False  # the title is "Task #<id>" until a real one arrives

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "status": self.status,
            "agent": self.agent,
            "last_test_status": self.last_test_status,
            "attempts": self.attempts,
        }


@dataclass(slots=True)
class _AgentView:
    type: str
    status: str = "idle"
    task_id: int | None = None
    task_title: str | None = None
    tasks_completed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "task_id": self.task_id,
            "task_title": self.task_title,
            "tasks_completed": self.tasks_completed,
        }


def _one_line(text: object) -> str:
    # Messages can carry model output or tracebacks: one bounded line each in the log.
    line = " ".join(str(text).split())
    return line if len(line) <= _LINE_CHARS else line[: _LINE_CHARS - 1] + "…"


def _clock_time(stamp: object) -> str:
    """``HH:MM:SS`` from an event's ISO timestamp (``2025-11-08T14:30:45.123Z``)."""
    if isinstance(stamp, str) and "T" in stamp:
        return stamp.split("T", 1)[1][:8]
    return ""


class PanelState:
    """Folds broadcast events into the panel's snapshot; optionally re-reads a database.

    ``clock`` is injectable so tests can drive elapsed time; ``mode`` defaults to
    :func:`default_mode`.
    """

    def __init__(
        self,
        project_id: int | None = None,
        *,
        mode: Mode | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if mode is not None and mode not in ("offline", "live"):
            raise InvalidInputError(f"mode must be 'offline' or 'live', got {mode!r}")
        self.project_id = project_id
        self.mode: Mode = mode or default_mode()
        self.running = False
        self.events = 0
        self._clock = clock
        self._tasks: dict[int, _TaskView] = {}
        self._agents: dict[str, _AgentView] = {}
        self._blockers: dict[int, dict[str, Any]] = {}  # blocker id -> row, oldest first
        self._activity: deque[str] = deque(maxlen=ACTIVITY_LINES)
        self._reported_done = 0
        self._reported_total = 0
        self._began: float | None = None
        self._last: float | None = None

    # -- folding events ----------------------------------------------------------------

    def apply(self, message: Mapping[str, Any]) -> bool:
        """Fold one event in; False (and nothing changed) when it belongs to another project."""
        project_id = message.get("project_id")
        if self.project_id is None and isinstance(project_id, int):
            self.project_id = project_id
        elif project_id is not None and project_id != self.project_id:
            logger.debug("ignoring an event for project %s", project_id)
            return False
        self.events += 1
        now = self._clock()
        if self._began is None:
            self._began = now
        self._last = now
        if not isinstance(project_id, int):
            message = {**message, "project_id": self.project_id or 0}
        event = event_from_message(message)
        if event is not None:
            self._fold(event)
        return True

    def _task(self, task_id: int, title: object = None) -> _TaskView:
        view = self._tasks.get(task_id)
        placeholder = f"Task #{task_id}"
        real = bool(title) and title != placeholder  # broadcasts default titles to "Task #<id>"
        if view is None:
            view = self._tasks[task_id] = _TaskView(
                str(title) if real else placeholder, placeholder=not real
            )
        elif real and view.placeholder:
            view.title, view.placeholder = str(title), False
        return view

    def _agent(self, agent_id: str) -> _AgentView:
        view = self._agents.get(agent_id)
        if view is None:
            # Agent ids are "<type>-<n>": the type survives a missed agent_created.
            view = self._agents[agent_id] = _AgentView(agent_id.rsplit("-", 1)[0])
        return view

    def _log(self, event: Event, text: str) -> None:
        when = _clock_time(event.timestamp)
        self._activity.append(_one_line(f"{when} {text}" if when else text))

    def _fold(self, event: Event) -> None:
        match event:
            case TaskStatusChanged(task_id=task_id, status=status, agent_id=agent_id):
                task = self._task(task_id, event.task_title)
                task.status = str(status)
                if agent_id:
                    task.agent = agent_id
                if event.actual_tokens is not None:
                    task.tokens = int(event.actual_tokens)
                if event.cost_usd is not None:
                    task.cost = float(event.cost_usd)
                if task.status != TaskStatus.IN_PROGRESS:  # "started task" activity says it
                    self._log(event, f"task #{task_id} {task.status}")
            case AgentStatusChanged(agent_id=agent_id, status=status):
                self._fold_agent_status(event, self._agent(agent_id), str(status))
            case TestResultReported(task_id=task_id, status=status):
                self._task(task_id).last_test_status = str(status)
                self._log(
                    event,
                    f"task #{task_id} tests {status}: {event.passed} passed, "
                    f"{event.failed} failed, {event.errors} errors",
                )
            case CorrectionAttemptUpdate(task_id=task_id, status=status):
                task = self._task(task_id)
                if status in _CORRECTION_DONE:
                    task.attempts += 1  # one correction_attempts row per finished attempt
                self._log(
                    event,
                    f"task #{task_id} correction {event.attempt_number}/{event.max_attempts} "
                    f"{status}",
                )
            case ActivityUpdate(activity_type=kind, message=text, task_id=task_id):
                if kind == "task_retry" and task_id:
                    self._task(task_id).status = TaskStatus.PENDING.value
                who = event.agent_id
                self._log(event, f"{who}: {text}" if who else str(text))
            case ProgressUpdate(completed=done, total=total):
                self._reported_done = int(done or 0)
                self._reported_total = int(total or 0)
            case BlockerCreated(blocker_id=blocker_id, task_id=task_id):
                self._task(task_id)
                self._blockers[int(blocker_id)] = {
                    "blocker_id": int(blocker_id),
                    "task_id": task_id,
                    "blocker_type": str(event.blocker_type or ""),
                    "reason": str(event.reason),
                    "question": str(event.question),
                }
                self._log(event, f"task #{task_id} blocked: {event.reason}")
            case TaskBlocked(task_id=task_id, task_title=title):
                self._task(task_id, title).status = TaskStatus.BLOCKED.value
            case TaskUnblocked(task_id=task_id, task_title=title):
                self._task(task_id, title).status = TaskStatus.PENDING.value
                for blocker_id in [
                    b for b, row in self._blockers.items() if row["task_id"] == task_id
                ]:
                    del self._blockers[blocker_id]
                self._log(event, f"task #{task_id} unblocked")
            case AgentCreated(agent_id=agent_id):
                agent = self._agent(agent_id)
                agent.type = str(event.agent_type or agent.type)
                agent.status = "idle"
                agent.tasks_completed = int(event.tasks_completed or 0)
                self._log(event, f"{agent_id} created")
            case AgentRetired(agent_id=agent_id):
                agent = self._agent(agent_id)
                agent.status = "retired"
                agent.task_id = agent.task_title = None
                agent.tasks_completed = int(event.tasks_completed or 0)
                self._log(event, f"{agent_id} retired after {agent.tasks_completed} task(s)")
            case TaskAssigned(task_id=task_id, agent_id=agent_id):
                task = self._task(task_id, event.task_title)
                task.status = TaskStatus.ASSIGNED.value
                task.agent = agent_id
                agent = self._agent(agent_id)
                agent.task_id = task_id
                agent.task_title = task.title
                self._log(event, f"task #{task_id} assigned to {agent_id}")
            case CommitCreated(task_id=task_id):
                self._log(
                    event,
                    f"task #{task_id} commit {str(event.commit_hash)[:8]}: {event.commit_message}",
                )

    def _fold_agent_status(self, event: AgentStatusChanged, agent: _AgentView, status: str) -> None:
        if status == "idle" and agent.status == "busy":
            agent.tasks_completed += 1  # the pool counts every task an agent finishes
        agent.status = status
        if event.current_task_id:
            agent.task_id = event.current_task_id
            agent.task_title = event.current_task_title
            self._task(event.current_task_id, event.current_task_title)
        elif status == "idle":
            agent.task_id = agent.task_title = None

    # -- the run and the database --------------------------------------------------------

    def mark_started(self) -> None:
        """A background run began: elapsed time counts from here."""
        self.running = True
        self._began = self._last = self._clock()

    def mark_finished(self) -> None:
        self.running = False
        self._last = self._clock()

    def refresh(self, db: PanelSource) -> None:
        """Re-read this project's tasks and open blockers, so the snapshot equals the database.

        One read model, two queries however many tasks; agents are left as the events built
        them.
        """
        if self.project_id is None:
            return
        overview = db.panel_overview(self.project_id)
        self._tasks = {
            row["task_id"]: _TaskView(
                title=row["title"],
                status=row["status"],
                agent=row["assigned_to"],
                last_test_status=row["last_test_status"],
                attempts=row["attempts"],
                tokens=row["actual_tokens"] or 0,
                cost=row["cost_usd"] or 0.0,
            )
            for row in overview["tasks"]
        }
        self._blockers = {
            row["blocker_id"]: {
                "blocker_id": row["blocker_id"],
                "task_id": row["task_id"],
                "blocker_type": row["blocker_type"],
                "reason": row["reason"],
                "question": row["question"],
            }
            for row in overview["blockers"]
        }
        self._reported_done = self._reported_total = 0  # the rows are the whole truth now

    # -- the snapshot --------------------------------------------------------------------

    def open_blockers(self) -> list[dict[str, Any]]:
        """The open blockers with their ids and types, oldest first (what answering needs)."""
        return [dict(row) for row in self._blockers.values()]

    def elapsed(self) -> float:
        """Seconds from the first event (or the start) to now while running, else to the last."""
        if self._began is None:
            return 0.0
        end = self._clock() if self.running else (self._last or self._began)
        return max(0.0, end - self._began)

    def snapshot(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict of everything the panel shows."""
        by_status = {status.value: 0 for status in TaskStatus}
        for task in self._tasks.values():
            by_status[task.status] = by_status.get(task.status, 0) + 1
        done = sum(by_status.get(status.value, 0) for status in FINAL_STATUSES)
        return {
            "project_id": self.project_id,
            "mode": self.mode,
            "progress": {
                "done": max(done, self._reported_done),
                "total": max(len(self._tasks), self._reported_total),
                "by_status": by_status,
            },
            "elapsed_s": round(self.elapsed(), 3),
            "tokens": sum(task.tokens for task in self._tasks.values()),
            "cost_usd": round(sum(task.cost for task in self._tasks.values()), 6),
            "agents": {agent_id: a.as_dict() for agent_id, a in self._agents.items()},
            "tasks": {task_id: t.as_dict() for task_id, t in sorted(self._tasks.items())},
            "blockers": [
                {key: row[key] for key in ("task_id", "reason", "question")}
                for row in self._blockers.values()
            ],
            "activity": list(self._activity),
            "events": self.events,
            "running": self.running,
        }


class PanelSource(Protocol):
    """What the panel re-reads: one project's overview (a :class:`Database` fits)."""

    def panel_overview(self, project_id: int) -> PanelOverview: ...


__all__ = ["ACTIVITY_LINES", "Mode", "PanelState", "default_mode"]
