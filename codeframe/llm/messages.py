"""Real ``anthropic.types.Message`` objects for offline clients, and reading them back.

Offline clients return the SDK's own types so that everything downstream (parsing, token
accounting, cassettes) sees exactly what a live call would give it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


_reply_models_ready = False


def prepare_reply_models() -> None:
    """Build the validators of the SDK types offline replies are made of, once per process.

    anthropic defers building them to their first use, which costs 10-15 ms; an offline
    client calls this when it is made, so the cost is not paid inside a run's first reply,
    where it would hold the event loop (and every other task) for that long.
    """
    global _reply_models_ready
    if _reply_models_ready:
        return
    Message(
        id="msg_prepare",
        type="message",
        role="assistant",
        model=OFFLINE_MODEL,
        content=[
            TextBlock(type="text", text=""),
            ToolUseBlock(type="tool_use", id="toolu_prepare", name="prepare", input={}),
        ],
        stop_reason="end_turn",
        usage=_usage((0, 0)),
    )
    _reply_models_ready = True


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


def is_offline(client: object) -> bool:
    """Whether ``client`` simulates Claude (its calls cost nothing): it says so with a class
    or instance attribute ``offline = True``, as the scripted and replay clients do."""
    return getattr(client, "offline", False) is True


def block_field(block: Any, name: str, default: Any = None) -> Any:
    """Read a content block field whether it is an SDK model or a plain dict."""
    if isinstance(block, Mapping):
        return block.get(name, default)
    return getattr(block, name, default)


def content_blocks(message: Any) -> Sequence[Any]:
    """The content blocks of a reply; anything but a list of blocks holds none."""
    content = block_field(message, "content", None)
    return content if isinstance(content, list | tuple) else ()


def _block_text(block: Any) -> str:
    text = block_field(block, "text", None)
    if not isinstance(text, str):
        return ""
    kind = block_field(block, "type", None)
    # Replies built as the original design's tests build them (``Mock(text=...)``) have no
    # real ``type``; their text is the reply. A real type other than "text" is not text.
    return text if not isinstance(kind, str) or kind == "text" else ""


def message_text(message: Any) -> str:
    """The concatenated text blocks of a reply (tool calls and other blocks ignored)."""
    content = block_field(message, "content", None)
    if isinstance(content, str):
        return content
    return "".join(_block_text(block) for block in content_blocks(message))


def reply_stop_reason(message: Any) -> str | None:
    """The reply's ``stop_reason`` if it is a real string, else None (e.g. a Mock's)."""
    reason = block_field(message, "stop_reason", None)
    return reason if isinstance(reason, str) else None


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """A reply's token figures, each None when the reply did not give a real count.

    Kept apart because each kind is priced differently (cache writes cost more than input,
    cache reads much less).
    """

    input: int | None = None
    output: int | None = None
    cache_creation_input: int | None = None
    cache_read_input: int | None = None

    @property
    def total(self) -> int:
        """All tokens the reply reports, missing figures counting 0."""
        figures = (self.input, self.output, self.cache_creation_input, self.cache_read_input)
        return sum(figure for figure in figures if figure is not None)


def _count(value: Any) -> int | None:
    # bool is an int subclass and a Mock is anything; neither is a token count.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return int(value)
    return None


def token_usage(message: Any) -> TokenUsage:
    """The token figures of a reply (an SDK message, a dict or a duck-typed object)."""
    usage = block_field(message, "usage", None)
    if usage is None:
        return TokenUsage()
    return TokenUsage(
        input=_count(block_field(usage, "input_tokens", None)),
        output=_count(block_field(usage, "output_tokens", None)),
        cache_creation_input=_count(block_field(usage, "cache_creation_input_tokens", None)),
        cache_read_input=_count(block_field(usage, "cache_read_input_tokens", None)),
    )


def reply_record(message: Any) -> str:
    """The whole reply as text for the call ledger: its text, then each tool call as JSON.

    ``message_text`` alone would store nothing for a forced tool call, which is how workers
    ask for their changes.
    """
    text = message_text(message)
    parts = [text] if text else []
    for block in content_blocks(message):
        if block_field(block, "type") == "tool_use":
            call = {"tool": block_field(block, "name"), "input": block_field(block, "input")}
            parts.append(json.dumps(call, ensure_ascii=False, default=str))
    return "\n".join(parts)


__all__ = [
    "OFFLINE_MODEL",
    "ClaudeClient",
    "MessagesAPI",
    "TokenUsage",
    "block_field",
    "content_blocks",
    "is_offline",
    "make_text_message",
    "make_tool_message",
    "message_text",
    "prepare_reply_models",
    "reply_record",
    "reply_stop_reason",
    "token_usage",
]
