"""Real ``anthropic.types.Message`` objects for offline clients, and reading them back.

Offline clients return the SDK's own types so that everything downstream (parsing, token
accounting, cassettes) sees exactly what a live call would give it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any, Protocol

from anthropic.types import Message, StopReason, TextBlock, ToolUseBlock, Usage

OFFLINE_MODEL = "codeframe-offline"

# Ids only need to be unique within a process; a counter is cheaper than uuid4.
_ids = itertools.count(1)


class MessagesAPI(Protocol):
    """The one method of ``client.messages`` that codeframe uses."""

    # ``*args: Any, **kwargs: Any`` accepts any signature: the SDK's overloads included.
    async def create(self, *args: Any, **kwargs: Any) -> Any: ...


class ClaudeClient(Protocol):
    """Anything shaped like ``anthropic.AsyncAnthropic`` as far as agents care."""

    @property
    def messages(self) -> MessagesAPI: ...


def _usage(usage: tuple[int, int]) -> Usage:
    return Usage(input_tokens=usage[0], output_tokens=usage[1])


def make_text_message(
    text: str,
    *,
    model: str = OFFLINE_MODEL,
    usage: tuple[int, int] = (0, 0),
    stop_reason: StopReason = "end_turn",
    message_id: str | None = None,
) -> Message:
    """A one-text-block assistant reply, as the Messages API would return it."""
    return Message(
        id=message_id or f"msg_offline_{next(_ids):06d}",
        type="message",
        role="assistant",
        model=model,
        content=[TextBlock(type="text", text=text)],
        stop_reason=stop_reason,
        usage=_usage(usage),
    )


def make_tool_message(
    name: str,
    input: Mapping[str, Any],
    *,
    model: str = OFFLINE_MODEL,
    usage: tuple[int, int] = (0, 0),
    stop_reason: StopReason = "tool_use",
    message_id: str | None = None,
    tool_use_id: str | None = None,
) -> Message:
    """An assistant reply that calls tool ``name`` with ``input`` (a forced tool call)."""
    n = next(_ids)
    return Message(
        id=message_id or f"msg_offline_{n:06d}",
        type="message",
        role="assistant",
        model=model,
        content=[
            ToolUseBlock(
                type="tool_use",
                id=tool_use_id or f"toolu_offline_{n:06d}",
                name=name,
                input=dict(input),
            )
        ],
        stop_reason=stop_reason,
        usage=_usage(usage),
    )


def block_field(block: Any, name: str, default: Any = None) -> Any:
    """Read a content block field whether it is an SDK model or a plain dict."""
    if isinstance(block, Mapping):
        return block.get(name, default)
    return getattr(block, name, default)


def message_text(message: Any) -> str:
    """The concatenated text blocks of a reply (tool calls and other blocks ignored)."""
    content = block_field(message, "content", None) or ()
    if isinstance(content, str):
        return content
    return "".join(
        block_field(block, "text", "") or ""
        for block in content
        if block_field(block, "type") == "text"
    )


def reply_record(message: Any) -> str:
    """The whole reply as text for the call ledger: its text, then each tool call as JSON.

    ``message_text`` alone would store nothing for a forced tool call, which is how workers
    ask for their changes.
    """
    text = message_text(message)
    parts = [text] if text else []
    content = block_field(message, "content", None) or ()
    for block in () if isinstance(content, str) else content:
        if block_field(block, "type") == "tool_use":
            call = {"tool": block_field(block, "name"), "input": block_field(block, "input")}
            parts.append(json.dumps(call, ensure_ascii=False, default=str))
    return "\n".join(parts)


__all__ = [
    "OFFLINE_MODEL",
    "ClaudeClient",
    "MessagesAPI",
    "block_field",
    "make_text_message",
    "make_tool_message",
    "message_text",
    "reply_record",
]
