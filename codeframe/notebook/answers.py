"""The panel's blockers, answerable: each open blocker's question, a text box, an Answer button.

Rows are rebuilt only when the set of open blockers changes, so text a human is typing
survives the panel's redraws. A click schedules the answer on the event loop (the click
arrives from the kernel's comm handler); a refused answer (say, a budget blocker answered
without a figure) shows its reason in the row and leaves the row usable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets

from codeframe.errors import CodeframeError
from codeframe.notebook.html import esc

logger = logging.getLogger(__name__)

Answer = Callable[[int, str], Awaitable[object]]


class _Row:
    """One open blocker's widgets."""

    def __init__(self, blocker: Mapping[str, Any], on_click: Callable[[_Row], None]) -> None:
        self.blocker_id = int(blocker["blocker_id"])
        self.question = widgets.HTML()
        self.text = widgets.Text(placeholder="your answer", layout=widgets.Layout(width="50%"))
        self.button = widgets.Button(description="Answer", icon="reply", button_style="info")
        self.status = widgets.Label()
        self.button.on_click(lambda _button: on_click(self))
        self.widget = widgets.VBox(
            [self.question, widgets.HBox([self.text, self.button, self.status])]
        )
        self.update(blocker)

    def update(self, blocker: Mapping[str, Any]) -> None:
        kind = blocker.get("blocker_type") or "question"
        self.question.value = (
            f'<div style="font-size:12px"><b>#{esc(blocker["task_id"])}</b> '
            f"({esc(kind)}) {esc(blocker.get('reason'))}<br><i>{esc(blocker.get('question'))}</i>"
            "</div>"
        )


class BlockerAnswers:
    """The open blockers as rows a human can answer; ``answer`` does the work."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer
        #: The root widget of the rows.
        self.widget = widgets.VBox()
        self._rows: dict[int, _Row] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def show(self, blockers: Sequence[Mapping[str, Any]]) -> None:
        """Show these open blockers (one row each), keeping the rows that stay."""
        if self.answer is None:
            if self._rows:
                self._rows.clear()
                self.widget.children = ()
            return
        wanted = {int(b["blocker_id"]): b for b in blockers if "blocker_id" in b}
        for blocker_id, blocker in wanted.items():
            row = self._rows.get(blocker_id)
            if row is None:
                self._rows[blocker_id] = _Row(blocker, self._clicked)
            else:
                row.update(blocker)
        for gone in set(self._rows) - set(wanted):
            del self._rows[gone]
        children = tuple(self._rows[b].widget for b in sorted(self._rows))
        if children != self.widget.children:
            self.widget.children = children

    def row(self, blocker_id: int) -> _Row:
        """The row of one open blocker (for code that drives the panel, e.g. tests)."""
        return self._rows[blocker_id]

    def _clicked(self, row: _Row) -> None:
        text = row.text.value.strip()
        if not text:
            row.status.value = "type an answer first"
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            row.status.value = "no event loop runs here; await lead.answer_blocker(...)"
            return
        row.button.disabled = True
        row.status.value = "answering…"
        task = loop.create_task(self._send(row, text))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, row: _Row, text: str) -> None:
        assert self.answer is not None
        try:
            await self.answer(row.blocker_id, text)
        except CodeframeError as exc:  # e.g. a budget answer without a figure: say why
            row.status.value = str(exc)
            row.button.disabled = False
            return
        except Exception:
            logger.exception("answering blocker %s failed", row.blocker_id)
            row.status.value = "the answer could not be recorded (see the log)"
            row.button.disabled = False
            return
        row.status.value = "answered"

    async def settled(self) -> None:
        """Wait for the answers sent so far (what a test, or a cell, may want to await)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


__all__ = ["Answer", "BlockerAnswers"]
