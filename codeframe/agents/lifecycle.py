"""A task's life, owned in one place: named transitions, each checked, written once, announced.

The lead agent and the workers change a task's status only through :class:`TaskLifecycle`.
Each transition checks that the task may make it from where it is (the check is part of the
write, so two writers cannot both win), writes the row and what belongs with it in one
transaction, and then sends its event. The write comes before the first ``await``: a
cancellation can cut an announcement short, never leave a half-made change.

A final transition (``complete``, ``block``, ``fail``) also records the task's
:class:`Outcome` here, so whoever supervises the worker learns how the task ended from one
place — even when the worker was cancelled while announcing it, or raised afterwards.

::

    pending ──assign──▶ assigned ──start──▶ in_progress ──complete──▶ completed
       │ ▲                 │                  │  │
       │ └────requeue──────┴──── cancelled ◀──┘  ├──block──▶ blocked ──release──▶ pending
       │                  (cancel)               └──fail───▶ failed ──requeue──▶ pending
       └──block (an upstream task cannot finish)──▶ blocked
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from codeframe.agents.seams import StatusStore
from codeframe.core.models import BlockerSeverity, BlockerType, Resolver, TaskStatus
from codeframe.errors import IllegalTransitionError
from codeframe.persistence.blockers import Answered
from codeframe.persistence.codec import Row
from codeframe.persistence.retry import retry_when_busy
from codeframe.persistence.task_status import NewBlocker, StatusWrite, StatusWritten
from codeframe.redaction import clean_text
from codeframe.ui.events import (
    BlockerCreated,
    TaskAssigned,
    TaskBlocked,
    TaskStatusChanged,
    TaskUnblocked,
)
from codeframe.ui.websocket_broadcasts import Emitter

logger = logging.getLogger(__name__)

P, A, R = TaskStatus.PENDING, TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS
DONE, BLOCKED, FAILED, CANCELLED = (
    TaskStatus.COMPLETED,
    TaskStatus.BLOCKED,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
)


class Transition(StrEnum):
    """The named moves of a task's life."""

    ASSIGN = "assign"
    START = "start"
    COMPLETE = "complete"
    BLOCK = "block"
    FAIL = "fail"
    CANCEL = "cancel"
    REQUEUE = "requeue"
    RELEASE = "release"


#: Each transition: the statuses it may start from, and where it leads. ``start`` accepts a
#: ``pending`` task because a worker may run one on its own, without a lead to assign it;
#: ``requeue`` takes back failed and cancelled tasks, and work a crash left running.
RULES: Final[Mapping[Transition, tuple[frozenset[TaskStatus], TaskStatus]]] = {
    Transition.ASSIGN: (frozenset({P}), A),
    Transition.START: (frozenset({P, A}), R),
    Transition.COMPLETE: (frozenset({R}), DONE),
    Transition.BLOCK: (frozenset({P, R}), BLOCKED),
    Transition.FAIL: (frozenset({A, R}), FAILED),
    Transition.CANCEL: (frozenset({A, R}), CANCELLED),
    Transition.REQUEUE: (frozenset({FAILED, CANCELLED, A, R}), P),
    Transition.RELEASE: (frozenset({BLOCKED}), P),
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one execution of a task ended, as its final transition wrote it."""

    status: TaskStatus
    error: str | None = None
    retryable: bool = False
    tokens: int | None = None
    #: A retryable failure the run's retry policy took back: the row is ``pending`` already.
    requeued: bool = False


class TaskLifecycle:
    """The only code that moves a task from one status to another (see the module docstring).

    One per run (the lead's) or per worker used on its own. ``run_id`` goes into the
    assignment history.
    """

    def __init__(self, store: StatusStore, emit: Emitter, *, run_id: int | None = None) -> None:
        self.store = store
        self.emit = emit
        self.run_id = run_id
        #: Whether a retryable failure of a task is run again (the run's retry budget): if
        #: so, ``fail`` writes it back to ``pending`` at once — one write, so no interrupt or
        #: kill can land between a failure and its retry and lose the retry.
        self.retry_policy: Callable[[int], bool] | None = None
        #: Tasks whose passing work is being committed and integrated right now: a stop
        #: waits for these, since the branch may already hold their work.
        self.delivering: set[int] = set()
        self._outcomes: dict[int, Outcome] = {}

    @property
    def project_id(self) -> int:
        return self.emit.project_id

    def outcome(self, task_id: int) -> Outcome | None:
        """How the task's latest execution ended; ``None`` while it runs or if it never ended."""
        return self._outcomes.get(task_id)

    async def _write(
        self,
        task_id: int,
        transition: Transition,
        *,
        fields: Mapping[str, object] | None = None,
        blocker: NewBlocker | None = None,
        note: str | None = None,
        assignment: tuple[str, int | None] | None = None,
        expected: Collection[TaskStatus] | None = None,
        full_row: bool = False,
    ) -> StatusWritten:
        sources, target = RULES[transition]
        change = StatusWrite(
            target,
            expected=sources if expected is None else expected,
            fields=fields or {},
            blocker=blocker,
            note=note,
            assignment=assignment,
            full_row=full_row,
        )
        try:
            # The first try happens at once; only a lock held by another process waits.
            return await retry_when_busy(
                functools.partial(self.store.write_status, task_id, change)
            )
        except IllegalTransitionError as exc:
            raise IllegalTransitionError(task_id, exc.current, exc.target, transition) from None

    def _settle(self, task_id: int, outcome: Outcome) -> Outcome:
        self._outcomes[task_id] = outcome
        return outcome

    # -- the transitions ---------------------------------------------------------------

    async def assign(self, task_id: int, agent_id: str) -> Row:
        """``pending → assigned``: hand the task to ``agent_id``; returns the row as written."""
        self._outcomes.pop(task_id, None)
        row = (
            await self._write(
                task_id,
                Transition.ASSIGN,
                fields={"assigned_to": agent_id},
                assignment=(agent_id, self.run_id),
                full_row=True,  # the worker is handed the task as it now stands
            )
        ).task
        await self.emit(TaskAssigned(self.project_id, task_id, agent_id, row["title"]))
        return row

    async def start(self, task_id: int, agent_id: str | None) -> Row:
        """``pending|assigned → in_progress``: a worker begins; the event carries the title."""
        self._outcomes.pop(task_id, None)
        row = (await self._write(task_id, Transition.START, fields={"assigned_to": agent_id})).task
        await self.emit(
            TaskStatusChanged(self.project_id, task_id, R, agent_id, task_title=row["title"])
        )
        return row

    async def complete(self, task_id: int, *, agent_id: str | None, output: str) -> Outcome:
        """``in_progress → completed``."""
        row = (
            await self._write(
                task_id, Transition.COMPLETE, fields={"output": output, "error": None}
            )
        ).task
        outcome = self._settle(task_id, Outcome(DONE, tokens=row["actual_tokens"]))
        await self.emit(
            TaskStatusChanged(
                self.project_id,
                task_id,
                DONE,
                agent_id,
                actual_tokens=row["actual_tokens"],
                cost_usd=row["cost_usd"],
            )
        )
        return outcome

    async def block(
        self,
        task_id: int,
        *,
        reason: str,
        question: str,
        error: str | None = None,
        severity: str = BlockerSeverity.SYNC,
        blocker_type: str = BlockerType.QUESTION,
        blocked_by: Sequence[int] = (),
        upstream_task_id: int | None = None,
        agent_id: str | None = None,
        output: str | None = None,
    ) -> Outcome:
        """``in_progress|pending → blocked``, with its blocker row: a question for a human.

        ``blocked_by`` names the upstream tasks when the task is blocked because of them;
        ``upstream_task_id`` is the one whose completion releases a dependency blocker.
        """
        # Masked once here, so the row and the event carry the same text.
        reason, question = clean_text(reason), clean_text(question)
        fields: dict[str, object] = {"error": error or reason}
        if output is not None:
            fields["output"] = output
        written = await self._write(
            task_id,
            Transition.BLOCK,
            fields=fields,
            blocker=NewBlocker(reason, question, severity, blocker_type, upstream_task_id),
        )
        row = written.task
        outcome = self._settle(
            task_id, Outcome(BLOCKED, error=row["error"], tokens=row["actual_tokens"])
        )
        await self.emit(
            BlockerCreated(
                self.project_id,
                written.blocker_id or 0,
                task_id,
                severity,
                reason,
                question,
                blocker_type=blocker_type,
            )
        )
        await self.emit(TaskBlocked(self.project_id, task_id, tuple(blocked_by), row["title"]))
        await self.emit(
            TaskStatusChanged(
                self.project_id,
                task_id,
                BLOCKED,
                agent_id,
                actual_tokens=row["actual_tokens"],
                cost_usd=row["cost_usd"],
            )
        )
        return outcome

    async def fail(
        self,
        task_id: int,
        *,
        error: str,
        retryable: bool,
        agent_id: str | None = None,
        output: str | None = None,
    ) -> Outcome:
        """``assigned|in_progress → failed``; ``retryable`` says whether a rerun could help.

        A retryable failure the retry policy takes back goes straight to ``pending`` (the
        failure kept as the task's error, both announced): see :attr:`retry_policy`.
        """
        fields: dict[str, object] = {"error": error}
        if output is not None:
            fields["output"] = output
        requeue = retryable and self.retry_policy is not None and self.retry_policy(task_id)
        if requeue:
            fields["assigned_to"] = None
            note = f"failed, to be run again: {error}"
            written = await self._write(task_id, Transition.REQUEUE, fields=fields, note=note)
        else:
            written = await self._write(task_id, Transition.FAIL, fields=fields)
        row = written.task
        outcome = self._settle(
            task_id,
            Outcome(
                FAILED,
                error=row["error"],
                retryable=retryable,
                tokens=row["actual_tokens"],
                requeued=requeue,
            ),
        )
        await self.emit(
            TaskStatusChanged(
                self.project_id,
                task_id,
                FAILED,
                agent_id,
                actual_tokens=row["actual_tokens"],
                cost_usd=row["cost_usd"],
            )
        )
        if requeue:
            await self.emit(TaskStatusChanged(self.project_id, task_id, P))
        return outcome

    async def cancel(
        self, task_id: int, *, agent_id: str | None = None, output: str | None = None
    ) -> None:
        """``assigned|in_progress → cancelled``: the run was stopped while the task ran."""
        fields: dict[str, object] = {} if output is None else {"output": output}
        await self._write(task_id, Transition.CANCEL, fields=fields)
        logger.info("task %s cancelled", task_id)
        await self.emit(TaskStatusChanged(self.project_id, task_id, CANCELLED, agent_id))

    async def cancel_many(self, task_ids: Sequence[int]) -> None:
        """Cancel several active tasks (a stopped run): every row is written before the first
        announcement, so a second interrupt cannot leave some of them running."""
        for task_id in task_ids:
            await self._write(task_id, Transition.CANCEL)
            logger.info("task %s cancelled", task_id)
        for task_id in task_ids:
            await self.emit(TaskStatusChanged(self.project_id, task_id, CANCELLED))

    async def requeue(self, task_id: int, *, note: str | None = None) -> Row:
        """``failed|cancelled → pending`` (a retry, or work a stopped run left): queue it again."""
        self._outcomes.pop(task_id, None)
        row = (
            await self._write(task_id, Transition.REQUEUE, fields={"assigned_to": None}, note=note)
        ).task
        await self.emit(TaskStatusChanged(self.project_id, task_id, P))
        return row

    async def release(
        self, task_id: int, *, unblocked_by: int | None = None, note: str | None = None
    ) -> Row:
        """``blocked → pending``: every blocker of the task is resolved."""
        self._outcomes.pop(task_id, None)
        row = (await self._write(task_id, Transition.RELEASE, note=note)).task
        await self.emit(TaskUnblocked(self.project_id, task_id, unblocked_by, row["title"]))
        return row

    async def answer(
        self, blocker_id: int, text: str, *, resolved_by: str = Resolver.HUMAN
    ) -> Answered | None:
        """Resolve a blocker with ``text``; if it was its task's last, ``release`` the task.

        ``None`` when the blocker was already resolved. A budget blocker's answer holds the
        task's new budget in dollars.
        """
        write = functools.partial(
            self.store.answer_blocker, blocker_id, text, resolved_by=resolved_by
        )
        answered = await retry_when_busy(write)
        if answered is not None and answered.released:
            await self._released(answered, unblocked_by=None)
        return answered

    async def release_dependents(self, upstream_task_id: int) -> list[int]:
        """``blocked → pending`` for every task that waited only for a task now completed:
        its dependency blockers are resolved by the system. Returns the released ids."""
        write = functools.partial(self.store.release_dependency_blockers, upstream_task_id)
        released = [a for a in await retry_when_busy(write) if a.released]
        for answered in released:
            await self._released(answered, unblocked_by=upstream_task_id)
        return [a.task_id for a in released]

    async def _released(self, answered: Answered, *, unblocked_by: int | None) -> None:
        self._outcomes.pop(answered.task_id, None)
        event = TaskUnblocked(self.project_id, answered.task_id, unblocked_by, answered.task_title)
        await self.emit(event)


__all__ = ["RULES", "Outcome", "TaskLifecycle", "Transition"]
