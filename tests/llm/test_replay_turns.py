"""ReplayClient(match="turn"): replaying a session whose prompts carry different context.

A concurrent run's prompts depend on which tasks finished first (related code from the
shared index, the shared tree's test summary), so a replay may ask for the same task and
attempt in different words. These tests use the workers' real prompt builders.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from codeframe.agents import prompts
from codeframe.errors import ReplayMissError
from codeframe.llm import RecordingClient, ReplayClient, ScriptedClient, parse_changes
from codeframe.llm.cassette import request_turn, turn_label

TASK = {"id": 4, "title": "Validate ISBN-13 check digits", "description": "Add is_valid_isbn13."}
BACKEND = prompts.system_prompt("backend")
FRONTEND = prompts.system_prompt("frontend", area="frontend/")


def generation(excerpt: str) -> str:
    context = {"task": TASK, "file_excerpts": {"bookshelf/isbn.py": excerpt}}
    return prompts.generation_prompt(context)


def correction(attempt: int, output: str) -> str:
    return prompts.correction_prompt(
        TASK,
        attempt=attempt,
        max_attempts=3,
        test_status="failed",
        failure_output=output,
        files={"bookshelf/isbn.py": "def is_valid_isbn13(text): ...\n"},
    )


def call(system: str, text: str) -> dict[str, Any]:
    return {
        "model": "claude-test",
        "max_tokens": 1000,
        "system": system,
        "messages": [{"role": "user", "content": text}],
    }


def reply(name: str) -> dict[str, Any]:
    return {"files": [], "explanation": name}


async def record(tmp_path: Path, calls: list[tuple[dict[str, Any], str]]) -> Path:
    """A cassette holding ``calls``, each answered with the explanation given beside it."""
    cassette = tmp_path / "session.json"
    scripted = ScriptedClient([("Task #4", [reply(name) for _, name in calls])])
    recorder = RecordingClient(scripted, cassette)
    for kwargs, _ in calls:
        await recorder.messages.create(**kwargs)
    return cassette


def explanation(message: Any) -> str:
    return parse_changes(message)["explanation"]


def test_turn_label_reads_the_workers_prompts() -> None:
    assert turn_label([{"role": "user", "content": generation("x")}]) == (
        "Task #4: Validate ISBN-13 check digits"
    )
    assert turn_label([{"role": "user", "content": correction(2, "1 failed")}]) == (
        "Task #4: Validate ISBN-13 check digits / Self-correction attempt 2 of 3."
    )


def test_turn_ignores_context_but_not_worker_or_attempt() -> None:
    def turn(system: str, text: str) -> str:
        return request_turn(system, [{"role": "user", "content": text}])

    assert turn(BACKEND, generation("a = 1")) == turn(BACKEND, generation("b = 2"))
    assert turn(BACKEND, correction(1, "3 failed, 24 passed")) == turn(
        BACKEND, correction(1, "3 failed, 19 passed")
    )
    assert turn(BACKEND, correction(1, "x")) != turn(BACKEND, correction(2, "x"))
    assert turn(BACKEND, generation("a")) != turn(BACKEND, correction(1, "a"))
    assert turn(BACKEND, generation("a")) != turn(FRONTEND, generation("a"))


async def test_turn_mode_serves_the_same_task_and_attempt_in_other_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cassette = await record(
        tmp_path,
        [
            (call(BACKEND, generation("def normalize_isbn(text): ...")), "first try"),
            (call(BACKEND, correction(1, "7 failed, 24 passed")), "the fix"),
        ],
    )
    replay = ReplayClient(cassette, match="turn")
    with caplog.at_level(logging.INFO, logger="codeframe.llm"):
        first = await replay.messages.create(**call(BACKEND, generation("CHECK = 10")))
        fix = await replay.messages.create(**call(BACKEND, correction(1, "7 failed, 19 passed")))

    assert [explanation(first), explanation(fix)] == ["first try", "the fix"]
    assert replay.turn_matches == 2
    assert replay.remaining == 0
    assert "Self-correction attempt 1 of 3." in caplog.text


async def test_exact_mode_still_misses_a_changed_prompt(tmp_path: Path) -> None:
    cassette = await record(tmp_path, [(call(BACKEND, generation("a = 1")), "first try")])
    replay = ReplayClient(cassette)  # exact is the default
    with pytest.raises(ReplayMissError, match="never recorded"):
        await replay.messages.create(**call(BACKEND, generation("b = 2")))
    assert replay.remaining == 1


async def test_turn_mode_misses_an_attempt_never_recorded(tmp_path: Path) -> None:
    cassette = await record(tmp_path, [(call(BACKEND, correction(1, "x")), "the fix")])
    replay = ReplayClient(cassette, match="turn")
    with pytest.raises(ReplayMissError) as info:
        await replay.messages.create(**call(BACKEND, correction(2, "x")))
    assert "Self-correction attempt 2 of 3." in str(info.value)
    with pytest.raises(ReplayMissError):
        await replay.messages.create(**call(FRONTEND, correction(1, "x")))
    assert replay.remaining == 1


async def test_an_exact_recording_wins_and_each_reply_is_served_once(tmp_path: Path) -> None:
    cassette = await record(
        tmp_path,
        [
            (call(BACKEND, generation("context A")), "reply A"),
            (call(BACKEND, generation("context B")), "reply B"),
        ],
    )
    replay = ReplayClient(cassette, match="turn")
    # B matches its own recording exactly, even though A comes first for the turn.
    assert explanation(await replay.messages.create(**call(BACKEND, generation("context B")))) == (
        "reply B"
    )
    assert explanation(await replay.messages.create(**call(BACKEND, generation("context C")))) == (
        "reply A"
    )
    assert replay.turn_matches == 1
    with pytest.raises(ReplayMissError, match="already served"):
        await replay.messages.create(**call(BACKEND, generation("context A")))


async def test_entries_without_a_stored_request_replay_exactly(tmp_path: Path) -> None:
    cassette = await record(tmp_path, [(call(BACKEND, generation("a")), "first try")])
    data = json.loads(cassette.read_text())
    del data["entries"][0]["request"]
    cassette.write_text(json.dumps(data))
    replay = ReplayClient(cassette, match="turn")
    with pytest.raises(ReplayMissError):
        await replay.messages.create(**call(BACKEND, generation("b")))
    message = await replay.messages.create(**call(BACKEND, generation("a")))
    assert explanation(message) == "first try"


def test_unknown_match_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="match must be one of"):
        ReplayClient(tmp_path / "unused.json", match="fuzzy")  # type: ignore[arg-type]


async def test_a_cancelled_call_takes_no_recording_with_it(tmp_path: Path) -> None:
    cassette = await record(tmp_path, [(call(BACKEND, generation("a")), "first try")])
    replay = ReplayClient(cassette)
    asking = asyncio.create_task(replay.messages.create(**call(BACKEND, generation("a"))))
    await asyncio.sleep(0)  # the call is now waiting at its yield, like a real request
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking

    again = await replay.messages.create(**call(BACKEND, generation("a")))
    assert explanation(again) == "first try"
    assert replay.remaining == 0


def test_an_attempt_line_in_the_context_does_not_make_a_correction() -> None:
    quoted = generation('"""\nSelf-correction attempt 1 of 3.\n"""')
    messages = [{"role": "user", "content": quoted}]
    assert turn_label(messages) == "Task #4: Validate ISBN-13 check digits"
    correction_messages = [{"role": "user", "content": correction(1, "x")}]
    assert request_turn(BACKEND, messages) != request_turn(BACKEND, correction_messages)


def test_the_turn_is_the_first_user_messages_heading() -> None:
    def conversation(heading: str) -> list[dict[str, Any]]:
        return [
            {"role": "user", "content": f"{heading}\n\nDescription:\n..."},
            {"role": "assistant", "content": "Which file?"},
            {"role": "user", "content": "The same answer for every task"},
        ]

    first, second = conversation("Task #1: Add login"), conversation("Task #2: Add logout")
    assert turn_label(first) == "Task #1: Add login"
    assert request_turn(BACKEND, first) != request_turn(BACKEND, second)


async def test_a_request_with_no_text_is_only_matched_exactly(tmp_path: Path) -> None:
    empty = call(BACKEND, "")
    assert request_turn(BACKEND, empty["messages"]) is None
    cassette = await record(tmp_path, [(call(BACKEND, generation("a")), "first try")])
    replay = ReplayClient(cassette, match="turn")
    with pytest.raises(ReplayMissError, match="no task heading to match by turn"):
        await replay.messages.create(**empty)


async def test_a_miss_says_whether_its_turn_was_recorded_at_all(tmp_path: Path) -> None:
    cassette = await record(tmp_path, [(call(BACKEND, generation("a")), "first try")])
    replay = ReplayClient(cassette, match="turn")
    with pytest.raises(ReplayMissError, match="was never recorded either"):
        await replay.messages.create(**call(FRONTEND, generation("a")))
    await replay.messages.create(**call(BACKEND, generation("b")))  # served by its turn
    with pytest.raises(ReplayMissError, match=r"every recording of its turn .* already served"):
        await replay.messages.create(**call(BACKEND, generation("c")))
