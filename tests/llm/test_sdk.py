"""The real AsyncAnthropic, driven through httpx2.MockTransport: our parsing and cassettes
must handle exactly what the SDK returns, with no network."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import Message

from codeframe.errors import ResponseFormatError
from codeframe.llm import (
    CHANGES_TOOL,
    RecordingClient,
    ReplayClient,
    parse_changes,
    tool_choice_for_changes,
    usage_tokens,
)

KEY = "sk-ant-test-SECRET-abcdef"
CHANGES = {
    "files": [{"path": "app/api.py", "action": "create", "content": "def ping():\n    return 1\n"}],
    "explanation": "Add the ping endpoint.",
}


def api_reply(content: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    """A Messages API response body as the service sends it."""
    return {
        "id": "msg_01XYZ",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 512, "output_tokens": 128},
    }


TOOL_REPLY = api_reply(
    [{"type": "tool_use", "id": "toolu_01A", "name": "submit_changes", "input": CHANGES}],
    "tool_use",
)


@pytest.fixture
async def sdk() -> AsyncIterator[Callable[[dict[str, Any]], Any]]:
    """A factory for a real client whose transport answers with a canned body."""
    http_clients: list[httpx2.AsyncClient] = []
    seen: list[httpx2.Request] = []

    def make(body: dict[str, Any]) -> tuple[anthropic.AsyncAnthropic, list[httpx2.Request]]:
        def handler(request: httpx2.Request) -> httpx2.Response:
            seen.append(request)
            return httpx2.Response(200, json=body)

        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        http_clients.append(http)
        client = anthropic.AsyncAnthropic(
            api_key=KEY, base_url="http://claude.invalid", http_client=http, max_retries=0
        )
        return client, seen

    yield make
    for http in http_clients:
        await http.aclose()


def request_kwargs() -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 4096,
        "system": "Worker type: backend",
        "messages": [{"role": "user", "content": "Add a ping endpoint"}],
        "tools": [CHANGES_TOOL],
        "tool_choice": tool_choice_for_changes(),
    }


async def test_parse_changes_reads_the_sdk_message(sdk: Callable[..., Any]) -> None:
    client, seen = sdk(TOOL_REPLY)
    message = await client.messages.create(**request_kwargs())
    assert isinstance(message, Message)
    assert parse_changes(message) == CHANGES
    assert usage_tokens(message) == (512, 128)

    (request,) = seen
    assert request.url.path == "/v1/messages"
    # anthropic 2.x sends the key as a bearer token; older versions used x-api-key.
    sent = request.headers.get("authorization", "") + request.headers.get("x-api-key", "")
    assert KEY in sent
    body = json.loads(request.content)
    assert body["tool_choice"] == {"type": "tool", "name": "submit_changes"}
    assert body["tools"][0]["input_schema"]["required"] == ["files", "explanation"]


async def test_truncated_sdk_reply(sdk: Callable[..., Any]) -> None:
    client, _ = sdk(api_reply([{"type": "text", "text": '{"files": [{"pa'}], "max_tokens"))
    message = await client.messages.create(**request_kwargs())
    with pytest.raises(ResponseFormatError, match="max_tokens"):
        parse_changes(message)


async def test_record_the_sdk_and_replay_without_it(
    sdk: Callable[..., Any], tmp_path: Path
) -> None:
    client, _ = sdk(TOOL_REPLY)
    cassette = tmp_path / "live.json"
    recorder = RecordingClient(client, cassette, root=tmp_path)
    live = await recorder.messages.create(**request_kwargs())

    text = cassette.read_text()
    assert KEY not in text
    for header in ("x-api-key", "api_key", "authorization", "bearer"):
        assert header not in text.lower()

    replayed = await ReplayClient(cassette).messages.create(**request_kwargs())
    assert replayed == live
    assert parse_changes(replayed) == CHANGES
