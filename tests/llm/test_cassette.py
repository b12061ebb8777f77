"""Record a session to a cassette, replay it elsewhere (SPEC §7.4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codeframe.errors import CodeframeError, ReplayMissError
from codeframe.llm import (
    CHANGES_TOOL,
    RecordingClient,
    ReplayClient,
    ScriptedClient,
    make_tool_message,
    parse_changes,
    request_key,
    tool_choice_for_changes,
)

SYSTEM = "You write code.\nWorker type: backend"


def changes_for(root: Path) -> dict[str, Any]:
    return {
        "files": [{"path": "app.py", "action": "create", "content": "print('hi')\n"}],
        "explanation": f"Created {root}/app.py",
    }


def request(root: Path, text: str, *, model: str = "claude-a") -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 2000,
        "system": f"{SYSTEM}\nProject root: {root}",
        "messages": [{"role": "user", "content": f"{text} in {root}/app.py"}],
        "tools": [CHANGES_TOOL],
        "tool_choice": tool_choice_for_changes(),
    }


async def record(tmp_path: Path, root: Path, prompts: list[str]) -> tuple[Path, list[Any]]:
    scripted = ScriptedClient(
        [("Add greeting", [changes_for(root), {"files": [], "explanation": "second"}])],
        default={"files": [], "explanation": "other"},
    )
    cassette = tmp_path / "cassettes" / "session.json"
    recorder = RecordingClient(scripted, cassette, root=root)
    replies = [await recorder.messages.create(**request(root, p)) for p in prompts]
    return cassette, replies


async def test_round_trip_on_another_root(tmp_path: Path) -> None:
    root_a, root_b = tmp_path / "machine-a" / "proj", tmp_path / "elsewhere" / "proj"
    cassette, recorded = await record(tmp_path, root_a, ["Add greeting", "Refactor"])

    replay = ReplayClient(cassette, root=root_b)
    # Model is not part of the key: a different CODEFRAME_MODEL still replays.
    first = await replay.messages.create(**request(root_b, "Add greeting", model="claude-b"))
    second = await replay.messages.create(**request(root_b, "Refactor"))

    assert parse_changes(first) == changes_for(root_b)  # <root> mapped to the new root
    assert second.content == recorded[1].content
    assert first.usage == recorded[0].usage
    assert replay.remaining == 0


async def test_cassette_file_is_portable_and_keyless(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    cassette, _ = await record(tmp_path, root, ["Add greeting"])
    data = json.loads(cassette.read_text())
    assert data["version"] == 1
    (entry,) = data["entries"]
    assert set(entry) == {"key", "request", "response"}
    assert set(entry["request"]) == {
        "system",
        "messages",
        "model",
        "max_tokens",
        "tools",
        "tool_choice",
    }
    text = cassette.read_text()
    assert str(root) not in text
    assert "<root>/app.py" in text
    assert "api_key" not in text and "x-api-key" not in text
    assert entry["key"] == request_key(**_key_args(request(root, "Add greeting")), root=root)
    assert not list(cassette.parent.glob("*.tmp")), "temp files are replaced, not left behind"


def _key_args(req: dict[str, Any]) -> dict[str, Any]:
    return {"system": req["system"], "messages": req["messages"]}


async def test_identical_requests_served_in_recorded_order_then_miss(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    cassette, recorded = await record(tmp_path, root, ["Add greeting", "Add greeting"])
    replay = ReplayClient(cassette, root=root)
    first = await replay.messages.create(**request(root, "Add greeting"))
    second = await replay.messages.create(**request(root, "Add greeting"))
    assert [first.content, second.content] == [recorded[0].content, recorded[1].content]
    assert parse_changes(second)["explanation"] == "second"

    key = request_key(**_key_args(request(root, "Add greeting")), root=root)
    with pytest.raises(ReplayMissError, match=rf"{key[:12]}.*already served") as info:
        await replay.messages.create(**request(root, "Add greeting"))
    assert f"Add greeting in {root}" in str(info.value)
    assert isinstance(info.value, CodeframeError)


async def test_unknown_request_names_hash_and_prompt(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    cassette, _ = await record(tmp_path, root, ["Add greeting"])
    replay = ReplayClient(cassette, root=root)
    unknown = request(root, "Something never recorded")
    key = request_key(**_key_args(unknown), root=root)
    with pytest.raises(ReplayMissError) as info:
        await replay.messages.create(**unknown)
    message = str(info.value)
    assert key[:12] in message
    assert "never recorded" in message
    assert "Something never recorded in" in message


async def test_a_miss_names_the_first_line_where_its_turn_was_recorded_differently(
    tmp_path: Path,
) -> None:
    """One changed line of test output is the usual reason a replay misses: say which."""
    root = tmp_path / "proj"
    recorded = "Task #4: ISBNs\n\nSelf-correction attempt 1 of 3.\n\nE   ValueError: bad"
    cassette, _ = await record(tmp_path, root, [recorded])
    replay = ReplayClient(cassette, root=root)

    changed = request(root, recorded.replace("ValueError: bad", "ValueError: worse"))
    with pytest.raises(ReplayMissError) as info:
        await replay.messages.create(**changed)
    assert (
        "the recording of that turn differs at line 5, column 17: "
        "recorded 'E   ValueError: bad in <root>/app.py', "
        "asked 'E   ValueError: worse in <root>/app.py'"
    ) in str(info.value)

    other_system = {**request(root, recorded), "system": "Another system prompt"}
    with pytest.raises(ReplayMissError, match="same user text: its system prompt"):
        await replay.messages.create(**other_system)


async def test_key_ignores_sdk_block_objects_vs_dicts() -> None:
    # A worker may echo the SDK's blocks back as the assistant turn; the key must not care.
    reply = make_tool_message("submit_changes", {"files": []}, model="m", tool_use_id="toolu_1")
    as_objects = [{"role": "assistant", "content": reply.content}]
    as_dicts = [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "submit_changes",
                    "input": {"files": []},
                }
            ],
        }
    ]
    assert request_key("s", as_objects) == request_key("s", as_dicts)
    assert request_key("s", as_dicts) != request_key("t", as_dicts)


async def test_recording_does_not_record_failed_calls(tmp_path: Path) -> None:
    cassette = tmp_path / "c.json"
    recorder = RecordingClient(ScriptedClient([("x", RuntimeError("overloaded"))]), cassette)
    with pytest.raises(RuntimeError, match="overloaded"):
        await recorder.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert not cassette.exists()
    assert recorder.entries == []


def test_missing_cassette(tmp_path: Path) -> None:
    with pytest.raises(CodeframeError, match="cassette not found"):
        ReplayClient(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not readable JSON"),
        ('{"version": 2, "entries": []}', "not a version-1 cassette"),
        ('{"version": 1}', "no 'entries' list"),
        ('{"version": 1, "entries": [{"key": "k", "response": {"id": 1}}]}', "entry 0 is invalid"),
    ],
)
def test_invalid_cassette(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CodeframeError, match=message):
        ReplayClient(path)


async def test_a_token_given_in_code_is_masked_in_the_cassette(tmp_path: Path) -> None:
    token = "sk-ant-oat-token-0123456789abcdef"

    class TokenClient:  # like AsyncAnthropic(auth_token=...), with the token echoed back
        auth_token = token
        api_key = None

        def __init__(self) -> None:
            self.messages = ScriptedClient(default=f"the token was {token}").messages

    cassette = tmp_path / "c.json"
    recorder = RecordingClient(TokenClient(), cassette)
    await recorder.messages.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": f"use {token}"}]
    )
    text = cassette.read_text()
    assert token not in text
    assert text.count("<redacted>") == 2
