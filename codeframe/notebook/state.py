"""What the panel knows about a run: events folded into a plain, JSON-ready snapshot.

This is the panel's core in the tqdm sense: it knows nothing of Jupyter or widgets. Folding
one event is O(1) and does no I/O, so agents can broadcast thousands of events cheaply;
:meth:`PanelState.refresh` re-reads the database (the truth, SPEC §4.1) when a run ends or
when the panel is created for an existing project.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from codeframe.core.models import FINAL_STATUSES, TaskStatus

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


def _clock_time(message: Mapping[str, Any]) -> str:
    """``HH:MM:SS`` from the event's ISO timestamp (``2025-11-08T14:30:45.123Z``)."""
    stamp = message.get("timestamp")
    if isinstance(stamp, str) and "T" in stamp:
        return stamp.split("T", 1)[1][:8]
    return ""


class PanelState:
    """Folds broadcast events into the panel's snapshot (SPEC §7.8); optionally re-reads a db.

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
            raise ValueError(f"mode must be 'offline' or 'live', got {mode!r}")
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
        handler = _HANDLERS.get(message.get("type", ""))
        if handler is not None:
            handler(self, message)
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
            # Agent ids are "<type>-<n>" (SPEC §7.5): the type survives a missed agent_created.
            view = self._agents[agent_id] = _AgentView(agent_id.rsplit("-", 1)[0])
        return view

    def _log(self, message: Mapping[str, Any], text: str) -> None:
        when = _clock_time(message)
        self._activity.append(_one_line(f"{when} {text}" if when else text))

    def _on_task_status(self, m: Mapping[str, Any]) -> None:
        task = self._task(m["task_id"])
        task.status = str(m["status"])
        if m.get("agent_id"):
            task.agent = m["agent_id"]
        if m.get("actual_tokens") is not None:
            task.tokens = int(m["actual_tokens"])
        if task.status != TaskStatus.IN_PROGRESS:  # "started task" activity says it already
            self._log(m, f"task #{m['task_id']} {task.status}")

    def _on_agent_status(self, m: Mapping[str, Any]) -> None:
        agent = self._agent(m["agent_id"])
        status = str(m["status"])
        if status == "idle" and agent.status == "busy":
            agent.tasks_completed += 1  # the pool counts every task an agent finishes
        agent.status = status
        current = m.get("current_task")
        if current:
            agent.task_id = current.get("id")
            agent.task_title = current.get("title")
            if agent.task_id is not None:
                self._task(agent.task_id, current.get("title"))
        elif status == "idle":
            agent.task_id = agent.task_title = None

    def _on_test_result(self, m: Mapping[str, Any]) -> None:
        self._task(m["task_id"]).last_test_status = str(m["status"])
        self._log(
            m,
            f"task #{m['task_id']} tests {m['status']}: {m.get('passed', 0)} passed, "
            f"{m.get('failed', 0)} failed, {m.get('errors', 0)} errors",
        )

    def _on_correction(self, m: Mapping[str, Any]) -> None:
        task = self._task(m["task_id"])
        if m["status"] in _CORRECTION_DONE:
            task.attempts += 1  # one correction_attempts row per finished attempt
        self._log(
            m,
            f"task #{m['task_id']} correction {m['attempt_number']}/{m['max_attempts']} "
            f"{m['status']}",
        )

    def _on_activity(self, m: Mapping[str, Any]) -> None:
        task_id = m.get("task_id")
        if m.get("activity_type") == "task_retry" and task_id:
            # The lead resets a failed task to pending without a status event.
            self._task(task_id).status = TaskStatus.PENDING.value
        who = m.get("agent_id")
        self._log(m, f"{who}: {m.get('message', '')}" if who else str(m.get("message", "")))

    def _on_progress(self, m: Mapping[str, Any]) -> None:
        self._reported_done = int(m.get("completed") or 0)
        self._reported_total = int(m.get("total") or 0)

    def _on_blocker(self, m: Mapping[str, Any]) -> None:
        self._task(m["task_id"])
        self._blockers[int(m["blocker_id"])] = {
            "task_id": m["task_id"],
            "reason": str(m.get("reason", "")),
            "question": str(m.get("question", "")),
        }
        self._log(m, f"task #{m['task_id']} blocked: {m.get('reason', '')}")

    def _on_task_blocked(self, m: Mapping[str, Any]) -> None:
        self._task(m["task_id"], m.get("task_title")).status = TaskStatus.BLOCKED.value

    def _on_task_unblocked(self, m: Mapping[str, Any]) -> None:
        task_id = m["task_id"]
        self._task(task_id, m.get("task_title"))
        for blocker_id in [b for b, row in self._blockers.items() if row["task_id"] == task_id]:
            del self._blockers[blocker_id]
        self._log(m, f"task #{task_id} unblocked")

    def _on_agent_created(self, m: Mapping[str, Any]) -> None:
        agent = self._agent(m["agent_id"])
        agent.type = str(m.get("agent_type") or agent.type)
        agent.status = str(m.get("status") or "idle")
        agent.tasks_completed = int(m.get("tasks_completed") or 0)
        self._log(m, f"{m['agent_id']} created")

    def _on_agent_retired(self, m: Mapping[str, Any]) -> None:
        agent = self._agent(m["agent_id"])
        agent.status = "retired"
        agent.task_id = agent.task_title = None
        agent.tasks_completed = int(m.get("tasks_completed") or 0)
        self._log(m, f"{m['agent_id']} retired after {agent.tasks_completed} task(s)")

    def _on_task_assigned(self, m: Mapping[str, Any]) -> None:
        task = self._task(m["task_id"], m.get("task_title"))
        task.status = TaskStatus.ASSIGNED.value
        task.agent = m["agent_id"]
        agent = self._agent(m["agent_id"])
        agent.task_id = m["task_id"]
        agent.task_title = task.title
        self._log(m, f"task #{m['task_id']} assigned to {m['agent_id']}")

    def _on_commit(self, m: Mapping[str, Any]) -> None:
        self._log(
            m,
            f"task #{m['task_id']} commit {str(m['commit_hash'])[:8]}: "
            f"{m.get('commit_message', '')}",
        )

    # -- the run and the database --------------------------------------------------------

    def mark_started(self) -> None:
        """A background run began: elapsed time counts from here."""
        self.running = True
        self._began = self._last = self._clock()

    def mark_finished(self) -> None:
        self.running = False
        self._last = self._clock()

    def refresh(self, db: Any) -> None:
        """Re-read this project's tasks and open blockers, so the snapshot equals the database.

        Uses only ``Database``'s public reads; agents are left as the events built them.
        """
        if self.project_id is None:
            return
        tasks: dict[int, _TaskView] = {}
        for row in db.get_project_tasks(self.project_id):
            task_id = int(row["id"])
            runs = db.get_test_results_by_task(task_id)
            tasks[task_id] = _TaskView(
                title=str(row["title"]),
                status=str(row["status"]),
                agent=row.get("assigned_to"),
                last_test_status=runs[-1]["status"] if runs else None,
                attempts=db.count_correction_attempts(task_id),
                tokens=int(row.get("actual_tokens") or 0),
            )
        self._tasks = tasks
        blockers = sorted(db.get_blockers(self.project_id), key=lambda b: b["id"])
        self._blockers = {
            int(b["id"]): {
                "task_id": b["task_id"],
                "reason": b.get("reason") or "",
                "question": b.get("question") or "",
            }
            for b in blockers
        }
        self._reported_done = self._reported_total = 0  # the rows are the whole truth now

    # -- the snapshot --------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds from the first event (or the start) to now while running, else to the last."""
        if self._began is None:
            return 0.0
        end = self._clock() if self.running else (self._last or self._began)
        return max(0.0, end - self._began)

    def snapshot(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict of everything the panel shows (SPEC §7.8)."""
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
            "agents": {agent_id: a.as_dict() for agent_id, a in self._agents.items()},
            "tasks": {task_id: t.as_dict() for task_id, t in sorted(self._tasks.items())},
            "blockers": [dict(row) for row in self._blockers.values()],
            "activity": list(self._activity),
            "events": self.events,
            "running": self.running,
        }


_HANDLERS: dict[str, Callable[[PanelState, Mapping[str, Any]], None]] = {
    "task_status_changed": PanelState._on_task_status,
    "agent_status_changed": PanelState._on_agent_status,
    "test_result": PanelState._on_test_result,
    "correction_attempt": PanelState._on_correction,
    "activity_update": PanelState._on_activity,
    "progress_update": PanelState._on_progress,
    "blocker_created": PanelState._on_blocker,
    "task_blocked": PanelState._on_task_blocked,
    "task_unblocked": PanelState._on_task_unblocked,
    "agent_created": PanelState._on_agent_created,
    "agent_retired": PanelState._on_agent_retired,
    "task_assigned": PanelState._on_task_assigned,
    "commit_created": PanelState._on_commit,
}

__all__ = ["ACTIVITY_LINES", "Mode", "PanelState", "default_mode"]
