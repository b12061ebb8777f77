"""client_from_env picks live or offline, says which, and never leaks the key."""

from __future__ import annotations

import logging
import socket
from typing import Any

import anthropic
import pytest

from codeframe.llm import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    ScriptedClient,
    client_from_env,
    default_model,
    parse_changes,
)

KEY = "sk-ant-test-DO-NOT-LOG-0123456789"


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("CODEFRAME_MODEL", raising=False)


def llm_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "codeframe.llm"]


async def test_live_when_the_key_is_set(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    caplog.set_level(logging.DEBUG, logger="codeframe")
    client = client_from_env(offline=ScriptedClient(default="unused"))
    try:
        assert isinstance(client, anthropic.AsyncAnthropic)
        assert client.api_key == KEY
    finally:
        await client.close()
    (record,) = llm_records(caplog)
    assert record.levelno == logging.INFO
    assert "live" in record.getMessage()
    assert KEY not in caplog.text


async def test_offline_without_a_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="codeframe")
    client = client_from_env()
    assert isinstance(client, ScriptedClient)
    reply = await client.messages.create(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "anything"}]
    )
    changes = parse_changes(reply)
    assert changes["files"] == []
    assert "ANTHROPIC_API_KEY" in changes["explanation"]
    (record,) = llm_records(caplog)
    assert record.levelno == logging.INFO
    assert "offline" in record.getMessage()


def test_offline_client_is_returned_as_given(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="codeframe")
    offline = ScriptedClient(default="x")
    assert client_from_env(offline=offline) is offline
    assert client_from_env(offline=offline) is offline
    assert len(llm_records(caplog)) == 2, "one line per call"
    assert all("offline" in r.getMessage() for r in llm_records(caplog))


async def test_api_key_argument_goes_live() -> None:
    client = client_from_env(api_key=KEY)
    try:
        assert isinstance(client, anthropic.AsyncAnthropic)
    finally:
        await client.close()


async def test_constructing_the_live_client_does_no_network_io(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(args)
        raise OSError("network used")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    client = client_from_env(api_key=KEY)
    try:
        assert client.messages is not None  # the resource is built lazily, still offline
    finally:
        await client.close()
    assert attempts == []


def test_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_model() == DEFAULT_MODEL == "claude-sonnet-4-20250514"
    monkeypatch.setenv("CODEFRAME_MODEL", "claude-from-env")
    assert default_model() == "claude-from-env"
    assert default_model("claude-explicit") == "claude-explicit"
    assert DEFAULT_MAX_TOKENS == 4096
