"""AgentPanel: the live ipywidgets face of a run, a broadcast target, with a Stop button.

The panel is a thin front end over :class:`~codeframe.notebook.state.PanelState` (tqdm's
split): ``broadcast`` only folds the event into the state and, if no redraw is pending,
arms one timer, so a flood of events costs a dict update each and redraws stay at most one
per ``redraw_interval``. The timer also keeps the event loop waking while events flow, which
is what lets a kernel interrupt land during a top-level ``await``. A redraw that
fails is logged and never reaches an agent. ipywidgets is imported here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable
from typing import Any

import ipywidgets as widgets

from codeframe.errors import CodeframeError, InvalidInputError
from codeframe.notebook import html as views
from codeframe.notebook.answers import BlockerAnswers
from codeframe.notebook.outcome import cleanup_line, close_unstarted, failure_line, run_outcome
from codeframe.notebook.state import Clock, Mode, PanelSource, PanelState

logger = logging.getLogger(__name__)

#: How long ``stop()`` waits for a cancelled run to finish its clean-up.
STOP_TIMEOUT = 20.0  # above the lead agent's own clean-up bounds (5 s to cancel, 5 s to retire)
_MAX_REMEMBERED_ERRORS = 100


class AgentPanel:
    """A live view of a run that agents broadcast to; ``display(panel)`` shows it.

    ``db`` and ``project_id`` let the panel show the task list before a run and make its
    final redraw equal the database. ``clock`` is injectable for tests; ``mode`` defaults to
    ``live`` when ``ANTHROPIC_API_KEY`` is set, else ``offline``.
    """

    broadcast_timeout = None  # broadcast only folds the event into memory; it never waits

    def __init__(
        self,
        db: PanelSource | None = None,
        project_id: int | None = None,
        *,
        mode: Mode | None = None,
        clock: Clock = time.monotonic,
        redraw_interval: float = 0.1,
        title: str = "codeframe",
    ) -> None:
        if redraw_interval <= 0:
            raise InvalidInputError(f"redraw_interval must be positive, got {redraw_interval}")
        self.db = db
        self.title = title
        self.redraw_interval = redraw_interval
        self.events: list[dict[str, Any]] = []
        #: Redraws so far (throttled, final and on demand); tests and curious users read it.
        self.redraws = 0
        self._clock = clock
        self._state = PanelState(project_id, mode=mode, clock=clock)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._last_redraw = -math.inf
        self._errors_seen: set[tuple[str, str]] = set()
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._status = ""
        self._status_error = False
        self._lead: Any = None
        self._run_options: dict[str, Any] = {}
        #: The clean-up the **Clean up** button started, to await from code.
        self.cleanup_task: asyncio.Task[list[Any]] | None = None
        self._build_widgets()
        if db is not None and project_id is not None:
            self._refresh_from_db()  # show the task list before any run
        self._redraw()

    # -- widgets -----------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self._header = widgets.HTML()
        self._bar = widgets.IntProgress(value=0, min=0, max=1)
        self._count = widgets.Label()
        self.stop_button = widgets.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True,
            tooltip="Cancel the run started with panel.start()",
        )  # fmt: skip
        self.stop_button.on_click(self._on_stop_clicked)
        self.resume_button = widgets.Button(
            description="Resume", button_style="success", icon="play", disabled=True,
            tooltip="Start a run of the connected lead agent (panel.connect(lead))",
        )  # fmt: skip
        self.resume_button.on_click(self._on_resume_clicked)
        self.cleanup_button = widgets.Button(
            description="Clean up", icon="trash", disabled=True,
            tooltip="Remove the worktrees and branches kept for finished tasks",
        )  # fmt: skip
        self.cleanup_button.on_click(self._on_cleanup_clicked)
        self._agents = widgets.HTML()
        self._tasks = widgets.HTML()
        self._blockers = widgets.HTML()
        #: Each open blocker's question with a text box and an Answer button (once connected).
        self.answers = BlockerAnswers()
        self._activity = widgets.HTML()
        controls = widgets.HBox(
            [self._bar, self._count, self.stop_button, self.resume_button, self.cleanup_button]
        )
        #: The root widget: what ``display(panel)`` shows.
        self.widget = widgets.VBox(
            [
                self._header,
                controls,
                self._agents,
                self._tasks,
                self._blockers,
                self.answers.widget,
                self._activity,
            ]
        )

    def _render(self, snapshot: dict[str, Any]) -> None:
        """Push a snapshot into the widgets; only changed values reach the front end."""
        progress = snapshot["progress"]
        self._header.value = views.header(snapshot, self.title, self._status, self._status_error)
        self._bar.max = max(progress["total"], 1)
        self._bar.value = min(progress["done"], self._bar.max)
        finished = progress["total"] and progress["done"] == progress["total"]
        self._bar.bar_style = "danger" if self._status_error else "success" if finished else ""
        self._count.value = f"{progress['done']}/{progress['total']}"
        self.stop_button.disabled = not self.running or self._stopping
        self.resume_button.disabled = self._lead is None or self.running
        self.cleanup_button.disabled = self._lead is None or self.running or self.cleaning
        self._agents.value = views.agents_table(snapshot)
        self._tasks.value = views.task_board(snapshot)
        if self.answers.answer is None:  # read-only until a lead is connected
            self._blockers.value = views.blockers_list(snapshot)
        else:
            self._blockers.value = views.section_title("Blockers") if snapshot["blockers"] else ""
        self.answers.show(self._state.open_blockers())
        self._activity.value = views.activity_log(snapshot)

    # -- the broadcast target ------------------------------------------------------------

    async def broadcast(self, message: dict[str, Any]) -> None:
        """Take one event: fold it into the state and make sure a redraw is coming."""
        self.events.append(message)
        try:
            self._state.apply(message)
        except Exception as exc:  # a malformed event must not fail the agent that sent it
            self._report(exc, "could not read an event")
        loop = asyncio.get_running_loop()
        # A timer armed on another loop (one asyncio.run per run_sync call) will never fire.
        if self._timer is None or self._timer_loop is not loop:
            self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        delay = max(0.0, self._last_redraw + self.redraw_interval - self._clock())
        self._timer = loop.call_later(delay, self._on_timer, loop)
        self._timer_loop = loop

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if self._clock() - self._last_redraw < self.redraw_interval:
            # Our clock and the loop's can differ (an injected clock): ours decides.
            self._arm(loop)
            return
        self._redraw()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_loop = None

    def _redraw(self) -> None:
        self._last_redraw = self._clock()
        self.redraws += 1
        try:
            self._render(self._state.snapshot())
        except Exception as exc:
            self._report(exc, "redraw failed")

    def _report(self, exc: Exception, what: str) -> None:
        """Log an error once per distinct kind and message; a broken view must stay quiet."""
        key = (type(exc).__name__, str(exc))
        if key in self._errors_seen:
            return
        if len(self._errors_seen) < _MAX_REMEMBERED_ERRORS:
            self._errors_seen.add(key)
        logger.error("AgentPanel: %s: %s: %s", what, key[0], key[1], exc_info=exc)

    def _refresh_from_db(self) -> None:
        if self.db is None:
            return
        try:
            self._state.refresh(self.db)
        except Exception as exc:  # e.g. the database was closed under us
            self._report(exc, "could not re-read the database")

    async def flush(self) -> None:
        """Redraw now, re-reading the database first: the final picture of an awaited run."""
        self._cancel_timer()
        self._refresh_from_db()
        self._redraw()

    # -- what the panel shows --------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict of what the panel shows: progress, agents, tasks,
        blockers, activity, token and event counts, whether a run is live."""
        return self._state.snapshot()

    @property
    def running(self) -> bool:
        """True while a run started with :meth:`start` has not finished."""
        return self._task is not None and not self._task.done()

    def to_html(self) -> str:
        """The static form, for places with no widget front end (exports, GitHub, nbconvert)."""
        return views.render_html(self.snapshot(), self.title, self._status, self._status_error)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # The live widget where a widget manager runs, the static HTML everywhere else.
        live = getattr(self.widget, "_repr_mimebundle_", None)
        bundle = dict((live(**kwargs) if callable(live) else None) or {})
        bundle["text/html"] = self.to_html()
        return bundle

    # -- humans in the loop ------------------------------------------------------------------

    def connect(self, lead: Any, **run_options: Any) -> None:
        """Let the panel act for ``lead``: answer blockers, and resume with ``run_options``
        (the keywords of ``lead.start_multi_agent_execution``)."""
        self._lead = lead
        self._run_options = dict(run_options)
        self.answers.answer = self._answer
        self._redraw()

    def _connected_lead(self) -> Any:
        if self._lead is None:
            raise CodeframeError("connect the panel to a lead agent first: panel.connect(lead)")
        return self._lead

    def _show_status(self, text: str, *, error: bool = False) -> None:
        self._status, self._status_error = text, error
        self._redraw()

    async def _answer(self, blocker_id: int, text: str) -> object:
        answered = await self._connected_lead().answer_blocker(blocker_id, text)
        self._refresh_from_db()
        self._redraw()
        return answered

    def resume(self) -> asyncio.Task[Any]:
        """Start a run of the connected lead in the background (what Resume does)."""
        lead = self._connected_lead()
        return self.start(lead.start_multi_agent_execution(**self._run_options))

    def _on_resume_clicked(self, _button: Any) -> None:
        if self._lead is None or self.running:
            return
        try:
            self.resume()
        except CodeframeError as exc:  # e.g. no event loop in this context
            self._show_status(str(exc), error=True)

    @property
    def cleaning(self) -> bool:
        """True while a clean-up started by the **Clean up** button has not finished."""
        return self.cleanup_task is not None and not self.cleanup_task.done()

    async def cleanup_workspaces(self) -> list[Any]:
        """Remove the worktrees and branches kept for finished tasks (what Clean up does):
        ``lead.cleanup_workspaces()``, with the outcome in the header."""
        lead = self._connected_lead()
        try:
            removed: list[Any] = await lead.cleanup_workspaces()
        except CodeframeError as exc:  # e.g. a run started meanwhile, or git failed
            self._show_status(failure_line("clean-up", exc), error=True)
            raise
        self._show_status(cleanup_line(removed))
        return removed

    def _on_cleanup_clicked(self, _button: Any) -> None:
        if self._lead is None or self.running or self.cleaning:
            return
        try:
            self.cleanup_task = asyncio.get_running_loop().create_task(self.cleanup_workspaces())
        except RuntimeError:  # a click with no event loop running: nowhere to clean up from
            self._show_status("clean-up needs a running event loop", error=True)
            return
        self.cleanup_task.add_done_callback(self._on_cleanup_done)
        self._redraw()

    def _on_cleanup_done(self, task: asyncio.Task[list[Any]]) -> None:
        # The header already says what went wrong; retrieving the error keeps asyncio quiet.
        if not task.cancelled():
            task.exception()
        self._redraw()  # the button is enabled again

    # -- background runs -------------------------------------------------------------------

    def start(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``work`` (e.g. ``lead.start_multi_agent_execution()``) in the background.

        Returns its asyncio task, so the cell finishes and the panel (and its Stop button)
        stays live. One run at a time: a second ``start`` while one runs is refused.
        """
        if self.running:
            close_unstarted(work)
            raise CodeframeError(
                "a run is already in progress on this panel; await panel.stop() first"
            )
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            close_unstarted(work)
            raise CodeframeError(
                "panel.start() needs a running event loop: call it in a notebook cell or from "
                "async code, or use run_sync() / await for a run in the foreground"
            ) from None
        task = asyncio.ensure_future(work)
        self._task, self._loop, self._stopping = task, loop, False
        self._status, self._status_error = "running…", False
        self._refresh_from_db()
        self._state.mark_started()
        task.add_done_callback(self._on_run_done)
        self._redraw()
        return task

    def _on_run_done(self, task: asyncio.Task[Any]) -> None:
        """The final redraw: outcome in the header (red on error, like tqdm), db re-read."""
        self._state.mark_finished()
        self._stopping = False
        try:
            self._status, self._status_error = run_outcome(task)
        except Exception as exc:  # an odd result must not leave the panel "running…"
            self._status, self._status_error = "finished", False
            self._report(exc, "could not summarise the run")
        self._cancel_timer()
        self._refresh_from_db()
        self._redraw()

    async def wait(self) -> Any:
        """Wait for the background run (started here or by Resume) and return its result.

        Shielded: cancelling the waiter does not cancel the run (that is Stop's job).
        """
        task = self._task
        if task is None:
            return None
        return await asyncio.shield(task)

    async def stop(self) -> None:
        """Cancel the background run and return once its clean-up is done (bounded)."""
        task = self._task
        if task is None or task.done():
            return
        if asyncio.get_running_loop() is not self._loop:
            # An asyncio task is cancelled and awaited from its own loop only.
            raise CodeframeError(
                "panel.stop() must be awaited on the event loop the run was started on "
                "(the Stop button works from anywhere)"
            )
        self._cancel_run()
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        if not done:
            logger.warning("the run did not finish its clean-up within %s s of Stop", STOP_TIMEOUT)

    def _cancel_run(self) -> None:
        # Cancelling is all Stop needs to do: the run cleans up on its own (tasks marked
        # cancelled, pytest killed) and its done-callback makes the final redraw.
        task = self._task
        if task is None or task.done() or self._stopping:
            return
        self._stopping = True
        task.cancel()
        self._show_status("stopping…")

    def _on_stop_clicked(self, _button: Any) -> None:
        # The click comes from the kernel's comm handler; the run belongs to its loop.
        loop = self._loop
        if loop is None or loop.is_closed() or not self.running:
            return
        loop.call_soon_threadsafe(self._cancel_run)

    def __repr__(self) -> str:
        snap = self._state
        return (
            f"AgentPanel(project_id={snap.project_id}, events={snap.events}, "
            f"running={self.running})"
        )


__all__ = ["STOP_TIMEOUT", "AgentPanel"]
