"""ScriptedClient: the offline Claude chosen by rules on the prompt (SPEC §7.4)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest
from anthropic.types import Message

from codeframe.errors import CodeframeError, ScriptMissError
from codeframe.llm import (
    CHANGES_TOOL,
    ScriptedClient,
    make_text_message,
    message_text,
    parse_changes,
    tool_choice_for_changes,
)

CHANGES = {
    "files": [{"path": "a.py", "action": "create", "content": "x = 1\n"}],
    "explanation": "e",
}


def system_for(worker: str) -> str:
    return f"You are a coding agent.\nWorker type: {worker}\nAnswer with JSON."


async def ask(
    client: ScriptedClient, prompt: Any, *, system: Any = "You are helpful.", **extra: Any
) -> Message:
    return await client.messages.create(
        model="claude-test",
        max_tokens=1000,
        system=system,
        messages=[{"role": "user", "content": prompt}],
        **extra,
    )


async def test_substring_rule_replies_with_text() -> None:
    client = ScriptedClient([("user model", "made the model")])
    reply = await ask(client, "Task: add the user model")
    assert isinstance(reply, Message)
    assert message_text(reply) == "made the model"
    assert reply.model == "claude-test"


async def test_regex_rule_and_first_match_wins() -> None:
    client = ScriptedClient([(re.compile(r"task #\d+ login"), "regex"), ("login", "substring")])
    assert message_text(await ask(client, "do task #12 login")) == "regex"
    assert message_text(await ask(client, "do task #x login")) == "substring"


async def test_dict_rules() -> None:
    client = ScriptedClient({"alpha": "A", "beta": "B"})
    assert message_text(await ask(client, "beta please")) == "B"


async def test_rules_match_the_system_prompt_and_block_content() -> None:
    client = ScriptedClient([("SECRET-SYSTEM", "sys"), ("in a tool result", "tool")])
    assert (
        message_text(await ask(client, "hi", system=[{"type": "text", "text": "SECRET-SYSTEM"}]))
        == "sys"
    )
    blocks = [
        {"type": "text", "text": "tests failed:"},
        {
            "type": "tool_result",
            "tool_use_id": "t1",
            "content": [{"type": "text", "text": "error in a tool result"}],
        },
    ]
    assert message_text(await ask(client, blocks)) == "tool"


async def test_worker_type_matches_the_system_line_only() -> None:
    client = ScriptedClient(
        [("login", "frontend reply", "frontend"), ("login", "backend reply", "backend")]
    )
    # "frontend" in the task text must not select the frontend rule.
    reply = await ask(client, "login form for the frontend", system=system_for("backend"))
    assert message_text(reply) == "backend reply"
    reply = await ask(client, "login", system=system_for("frontend"))
    assert message_text(reply) == "frontend reply"
    with pytest.raises(ScriptMissError):
        await ask(client, "login", system=system_for("test"))


async def test_list_reply_counts_calls_per_rule() -> None:
    client = ScriptedClient([("fix", ["first", "second", "last"]), ("other", "o")])
    replies = []
    for prompt in ["fix", "other", "fix", "fix", "other", "fix"]:
        replies.append(message_text(await ask(client, prompt)))
    assert replies == ["first", "o", "second", "last", "o", "last"]


async def test_exception_reply_is_raised_each_time() -> None:
    client = ScriptedClient([("boom", RuntimeError("API down"))])
    for _ in range(2):
        with pytest.raises(RuntimeError, match="API down"):
            await ask(client, "boom")
    client = ScriptedClient([("boom", TimeoutError)])
    with pytest.raises(TimeoutError):
        await ask(client, "boom")


async def test_message_reply_returned_as_is() -> None:
    truncated = make_text_message('{"files": [', model="m", stop_reason="max_tokens")
    client = ScriptedClient([("x", truncated)])
    assert await ask(client, "x") is truncated


async def test_callable_replies_sync_and_async() -> None:
    def sync_reply(kwargs: dict[str, Any]) -> str:
        return f"{len(kwargs['messages'])} message(s)"

    async def async_reply(kwargs: dict[str, Any]) -> dict[str, Any]:
        return CHANGES

    client = ScriptedClient([("plain", sync_reply), ("coroutine", async_reply)])
    assert message_text(await ask(client, "plain")) == "1 message(s)"
    assert parse_changes(await ask(client, "coroutine")) == CHANGES


async def test_dict_reply_is_a_tool_call_when_the_tool_is_forced() -> None:
    client = ScriptedClient([("go", CHANGES)])
    reply = await ask(client, "go", tools=[CHANGES_TOOL], tool_choice=tool_choice_for_changes())
    assert reply.stop_reason == "tool_use"
    assert reply.content[0].type == "tool_use"
    assert reply.content[0].name == "submit_changes"
    assert parse_changes(reply) == CHANGES


async def test_dict_reply_is_json_text_otherwise() -> None:
    client = ScriptedClient([("go", CHANGES)])
    reply = await ask(client, "go")
    assert reply.content[0].type == "text"
    assert json.loads(message_text(reply)) == CHANGES


async def test_default_reply() -> None:
    client = ScriptedClient([("never", "no")], default="fallback")
    assert message_text(await ask(client, "anything")) == "fallback"


async def test_miss_error_quotes_the_last_user_message() -> None:
    client = ScriptedClient([("never", "no")])
    long_prompt = "Implement the payment webhook " + "x" * 300
    with pytest.raises(ScriptMissError) as info:
        await client.messages.create(
            model="m",
            max_tokens=10,
            messages=[
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": long_prompt},
            ],
        )
    text = str(info.value)
    assert "Implement the payment webhook xxx" in text
    assert "first question" not in text
    assert "x" * 200 not in text, "the quote is trimmed to about 120 characters"
    assert isinstance(info.value, CodeframeError)


async def test_latency_is_an_asyncio_sleep() -> None:
    client = ScriptedClient([("x", "y")], latency=0.2)
    started = time.perf_counter()
    await asyncio.gather(ask(client, "x"), ask(client, "x"))
    elapsed = time.perf_counter() - started
    assert 0.2 <= elapsed < 0.35


async def test_usage_figures() -> None:
    reply = await ask(ScriptedClient([("x", "y")], usage=(7, 3)), "x")
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (7, 3)
    reply = await ask(ScriptedClient([("x", "y")]), "x")
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (120, 80)


async def test_history_keeps_what_was_sent() -> None:
    client = ScriptedClient([("x", "y")])
    messages = [{"role": "user", "content": "x"}]
    await client.messages.create(
        model="m", max_tokens=5, system="s", messages=messages, temperature=0
    )
    messages.append({"role": "assistant", "content": "later"})
    assert client.history == [
        {
            "model": "m",
            "max_tokens": 5,
            "system": "s",
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 0,
        }
    ]


async def test_requires_the_sdk_arguments() -> None:
    client = ScriptedClient(default="y")
    with pytest.raises(TypeError):
        await client.messages.create(messages=[{"role": "user", "content": "x"}])  # type: ignore[call-arg]


def test_bad_rules_fail_at_construction() -> None:
    with pytest.raises(TypeError, match="scripted reply"):
        ScriptedClient([("x", 42)])
    with pytest.raises(ValueError, match="empty reply list"):
        ScriptedClient([("x", [])])
    with pytest.raises(TypeError, match="match must be"):
        ScriptedClient([(3, "x")])


async def test_close_is_harmless() -> None:
    async with ScriptedClient(default="y") as client:
        await client.close()
    await client.aclose()
    assert message_text(await ask(client, "still works")) == "y"


def test_malformed_rule_tuple() -> None:
    with pytest.raises(TypeError, match=r"\(match, reply\) or \(match, reply, worker_type\)"):
        ScriptedClient([("only-a-match",)])


def test_a_rule_for_an_unknown_worker_type_is_refused_at_creation():
    from codeframe.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="worker type 'designer'"):
        ScriptedClient([("Draw", {"files": [], "explanation": ""}, "designer")])
