"""ScriptedClient: an offline Claude whose replies are chosen by rules on the prompt.

It has the SDK's shape (``await client.messages.create(**kwargs)`` returning a real
``anthropic.types.Message``), so agents cannot tell it from ``AsyncAnthropic``. Demos,
notebooks, tests and benchmarks all use it; benchmarks push hundreds of calls a second
through it, so the per-call path is kept to a string join, a few searches and one Message.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from anthropic.types import Message

from codeframe.core.models import WorkerType
from codeframe.errors import InvalidInputError, ScriptMissError
from codeframe.llm.messages import (
    block_field,
    make_text_message,
    make_tool_message,
    prepare_reply_models,
)

Match = str | re.Pattern[str]
# str | files-contract dict | exception | Message | callable(kwargs) -> one of those
Reply = Any

_QUOTE_CHARS = 120
# Accept the assigner's spellings too, so a script can reuse them.
_WORKER_TYPES = frozenset(WorkerType)
_WORKER_ALIASES = {
    "backend-worker": "backend",
    "frontend-specialist": "frontend",
    "test-engineer": "test",
}


def _content_text(content: Any, parts: list[str]) -> None:
    """Append the prompt text of one message's content (str or a list of blocks)."""
    if isinstance(content, str):
        parts.append(content)
        return
    for block in content or ():
        kind = block_field(block, "type")
        if kind == "text":
            parts.append(block_field(block, "text", "") or "")
        elif kind == "tool_result":
            # Test output usually comes back as a tool result, and scripts match on it.
            _content_text(block_field(block, "content", ""), parts)


def system_text(system: Any) -> str:
    """The system prompt as one string (it may be a str or a list of text blocks)."""
    if not system:
        return ""
    if isinstance(system, str):
        return system
    parts: list[str] = []
    _content_text(system, parts)
    return "\n".join(parts)


def prompt_text(system: Any, messages: Iterable[Any]) -> str:
    """System text plus the text of every message: what rules are matched against."""
    parts = [system_text(system)]
    for message in messages:
        _content_text(block_field(message, "content", ""), parts)
    return "\n".join(parts)


def user_texts(messages: Iterable[Any]) -> list[str]:
    """The whole text of each user message, in order."""
    texts = []
    for message in messages:
        if block_field(message, "role") == "user":
            parts: list[str] = []
            _content_text(block_field(message, "content", ""), parts)
            texts.append("\n".join(parts))
    return texts


def last_user_text(messages: Sequence[Any], limit: int = _QUOTE_CHARS) -> str:
    """The start of the last user message, for error messages that must identify a call."""
    texts = user_texts(messages)
    text = " ".join(texts[-1].split()) if texts else ""
    return text if len(text) <= limit else text[:limit] + "…"


def _check_reply(reply: Any) -> None:
    if isinstance(reply, str | Mapping | BaseException | Message) or callable(reply):
        return
    raise TypeError(
        "a scripted reply must be a str, a files-contract dict, an exception, an "
        f"anthropic Message or a callable, got {type(reply).__name__}"
    )


class _Rule:
    """One ``(match, reply[, worker_type])`` rule and how many calls it has answered."""

    __slots__ = ("calls", "match", "pattern", "replies", "substring", "worker")

    def __init__(self, match: Match, reply: Reply, worker_type: str | None = None) -> None:
        if isinstance(match, re.Pattern):
            self.pattern: re.Pattern[str] | None = match
            self.substring: str | None = None
        elif isinstance(match, str):
            self.pattern, self.substring = None, match
        else:
            raise TypeError(f"a rule's match must be a str or compiled regex, got {match!r}")
        self.match = match
        self.replies: list[Reply] = list(reply) if isinstance(reply, list) else [reply]
        if not self.replies:
            raise InvalidInputError(f"rule {match!r} has an empty reply list")
        for item in self.replies:
            _check_reply(item)
        self.worker: re.Pattern[str] | None = None
        if worker_type is not None:
            kind = _WORKER_ALIASES.get(worker_type, worker_type)
            if kind not in _WORKER_TYPES:
                known = ", ".join(sorted(_WORKER_TYPES))
                raise InvalidInputError(
                    f"rule {match!r} names worker type {worker_type!r}; expected one of {known}"
                )
            # Workers put a "Worker type: backend" line in their system prompt; matching the
            # whole line keeps "backend" in a task description from selecting the rule.
            self.worker = re.compile(
                rf"^[ \t]*Worker type:[ \t]*{re.escape(kind)}[ \t]*$", re.MULTILINE | re.IGNORECASE
            )
        self.calls = 0

    def matches(self, system: str, prompt: str) -> bool:
        if self.worker is not None and self.worker.search(system) is None:
            return False
        if self.substring is not None:
            return self.substring in prompt
        assert self.pattern is not None
        return self.pattern.search(prompt) is not None

    def next_reply(self) -> Reply:
        """The k-th matching call gets the k-th reply; the last one repeats."""
        reply = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        return reply


def _make_rule(rule: Any) -> _Rule:
    if not isinstance(rule, tuple | list) or len(rule) not in (2, 3):
        raise TypeError(f"a rule is (match, reply) or (match, reply, worker_type), got {rule!r}")
    return _Rule(*rule)


def _forced_tool(kwargs: Mapping[str, Any]) -> str | None:
    """The tool the request forces the model to call, if any."""
    choice = kwargs.get("tool_choice")
    if not isinstance(choice, Mapping):
        return None
    if choice.get("type") == "tool":
        return choice.get("name")
    if choice.get("type") == "any":
        tools = kwargs.get("tools") or ()
        return block_field(tools[0], "name") if tools else None
    return None


class _ScriptedMessages:
    """``client.messages``: the SDK's resource shape."""

    __slots__ = ("_client",)

    def __init__(self, client: ScriptedClient) -> None:
        self._client = client

    async def create(
        self, *, model: str, max_tokens: int, messages: Sequence[Any], **kwargs: Any
    ) -> Message:
        """Answer like ``AsyncAnthropic.messages.create`` (model, max_tokens, messages required)."""
        return await self._client._create(model, max_tokens, messages, kwargs)


class ScriptedClient:
    """An offline Claude: rules on the prompt pick each reply.

    ``rules`` is a list of ``(match, reply)`` or ``(match, reply, worker_type)`` tuples, or a
    dict ``{match: reply}``; the first rule that matches answers. A list reply answers the
    rule's k-th call with its k-th item (the last repeats) — that is how attempts are scripted.
    """

    #: Its replies are simulated: their tokens cost nothing (priced as ``OFFLINE_MODEL``).
    offline = True

    def __init__(
        self,
        rules: Iterable[tuple[Any, ...]] | Mapping[Match, Reply] = (),
        default: Reply = None,
        latency: float = 0.0,
        usage: tuple[int, int] = (120, 80),
    ) -> None:
        items = rules.items() if isinstance(rules, Mapping) else rules
        self._rules = [_make_rule(rule) for rule in items]
        if default is not None:
            _check_reply(default)
        self.default = default
        self.latency = latency
        self.usage = usage
        self.history: list[dict[str, Any]] = []
        self.messages = _ScriptedMessages(self)
        prepare_reply_models()

    def _choose(self, system: Any, messages: Sequence[Any]) -> Reply:
        sys_text = system_text(system)
        prompt = prompt_text(sys_text, messages)
        for rule in self._rules:
            if rule.matches(sys_text, prompt):
                return rule.next_reply()
        if self.default is not None:
            return self.default
        raise ScriptMissError(
            "no scripted reply matches this request and there is no default; last user "
            f"message: {last_user_text(messages)!r}"
        )

    def _to_message(self, reply: Reply, kwargs: Mapping[str, Any], model: str) -> Message:
        if isinstance(reply, Message):
            return reply
        if isinstance(reply, str):
            return make_text_message(reply, model=model, usage=self.usage)
        if isinstance(reply, Mapping):
            tool = _forced_tool(kwargs)
            if tool is not None:
                return make_tool_message(tool, reply, model=model, usage=self.usage)
            return make_text_message(json.dumps(reply), model=model, usage=self.usage)
        raise TypeError(
            "a scripted callable must return a str, a files-contract dict, an exception or "
            f"an anthropic Message, got {type(reply).__name__}"
        )

    async def _create(
        self, model: str, max_tokens: int, messages: Sequence[Any], kwargs: dict[str, Any]
    ) -> Message:
        # The caller may keep appending to its messages list; history shows what was sent.
        kwargs["model"] = model
        kwargs["max_tokens"] = max_tokens
        kwargs["messages"] = list(messages)
        self.history.append(kwargs)
        # Chosen before the simulated wait, so list replies follow call order, not
        # completion order, and stay deterministic under concurrency.
        reply = self._choose(kwargs.get("system"), messages)
        await asyncio.sleep(self.latency)
        if isinstance(reply, type) and issubclass(reply, BaseException):
            raise reply()
        if callable(reply) and not isinstance(reply, BaseException | Message):
            reply = reply(kwargs)
            if inspect.isawaitable(reply):
                reply = await reply
        if isinstance(reply, BaseException):
            # A fresh traceback each time, so a repeated reply does not grow one forever.
            raise reply.with_traceback(None)
        return self._to_message(reply, kwargs, model)

    async def close(self) -> None:
        """Nothing to release; present so agents can close any client the same way."""

    async def aclose(self) -> None:
        """Alias of :meth:`close`."""

    async def __aenter__(self) -> ScriptedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


__all__ = ["ScriptedClient", "last_user_text", "prompt_text", "system_text"]
