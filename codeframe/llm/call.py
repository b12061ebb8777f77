"""One request to Claude for file changes: bounded in time, parsed, and recorded.

The worker decides what to ask; this module asks it once. The call runs inside the
worker's timeout (our own deadline, told apart from a client's), its reply is turned into
the files contract by :func:`parse_changes`, and what happened — the request, the reply or
the error, the latency — is handed to a ``record`` callback whatever the outcome, a
cancellation included. A record that cannot be written is logged, never allowed to hide
the call's own outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codeframe.core.models import GenerationResult
from codeframe.errors import ClaudeTimeoutError
from codeframe.llm.messages import ClaudeClient
from codeframe.llm.parsing import CHANGES_TOOL, parse_changes, tool_choice_for_changes
from codeframe.redaction import redact, redacted_traceback

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """What one call asks: the model, its output bound, the system prompt and the messages."""

    model: str
    max_tokens: int
    system: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of_prompt(cls, model: str, max_tokens: int, system: str, prompt: str) -> ChangeRequest:
        """A one-turn request: the user ``prompt`` after the ``system`` prompt."""
        return cls(model, max_tokens, system, [{"role": "user", "content": prompt}])

    def create_kwargs(self) -> dict[str, Any]:
        """``client.messages.create``'s keyword arguments (the answer is a forced tool call)."""
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": self.system,
            "messages": self.messages,
            "tools": [CHANGES_TOOL],
            "tool_choice": tool_choice_for_changes(),
        }


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What one call did: its request, the reply (if any), the error (if any), how long."""

    request: ChangeRequest
    reply: Any | None
    error: BaseException | None
    latency_s: float


Recorder = Callable[[CallRecord], None]


async def ask_for_changes(
    client: ClaudeClient,
    request: ChangeRequest,
    *,
    timeout: float | None,  # noqa: ASYNC109  # our own bound, told apart from a client's
    record: Recorder | None = None,
    secrets: tuple[str | None, ...] = (),
) -> GenerationResult:
    """Ask once and return the parsed changes; raises on API errors and unusable replies.

    ``timeout`` bounds the call: passing it raises :class:`ClaudeTimeoutError` (a timeout
    the client raises on its own is passed on as it is). The reply's explanation is model
    output shown and stored everywhere, so any key value in it is masked here.
    """
    started = time.monotonic()
    reply: Any = None
    error: BaseException | None = None
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            reply = await client.messages.create(**request.create_kwargs())
        changes = parse_changes(reply)
        changes["explanation"] = redact(changes.get("explanation", ""), secrets)
        return changes
    except TimeoutError as exc:
        if not scope.expired():
            error = exc
            raise
        error = ClaudeTimeoutError(f"Claude did not answer within {timeout:g} s")
        raise error from exc
    except BaseException as exc:  # recorded, then re-raised unchanged (cancellation too)
        error = exc
        raise
    finally:
        if record is not None:
            try:
                record(CallRecord(request, reply, error, time.monotonic() - started))
            except Exception as ledger_error:
                logger.error(
                    "could not record a Claude call:\n%s",
                    redacted_traceback(ledger_error, secrets),
                )


__all__ = ["CallRecord", "ChangeRequest", "Recorder", "ask_for_changes"]
