"""ConsoleProgress: the line each event gets in a terminal, or none."""

from __future__ import annotations

import io
from typing import Any

from codeframe.cli import ConsoleProgress


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


async def lines_for(messages: list[dict[str, Any]], **options: Any) -> list[str]:
    out = io.StringIO()
    printer = ConsoleProgress(out, clock=lambda: 0.0, **options)
    for message in messages:
        await printer.broadcast(message)
    assert printer.lines == len(out.getvalue().splitlines())
    return [line.removeprefix("[   0.0s] ") for line in out.getvalue().splitlines()]


async def test_progress_lines_carry_elapsed_seconds_and_task_titles():
    clock, out = Clock(), io.StringIO()
    printer = ConsoleProgress(out, clock=clock)
    clock.now = 51.25
    await printer.broadcast(
        {
            "type": "task_assigned",
            "task_id": 4,
            "agent_id": "backend-1",
            "task_title": "Validate ISBN-13 check digits",
        }
    )
    await printer.broadcast(
        {
            "type": "task_status_changed",
            "task_id": 4,
            "status": "in_progress",
            "agent_id": "backend-1",
        }
    )
    await printer.broadcast(
        {
            "type": "correction_attempt",
            "task_id": 4,
            "attempt_number": 2,
            "max_attempts": 3,
            "status": "success",
        }
    )
    await printer.broadcast(
        {"type": "agent_status_changed", "agent_id": "backend-1", "status": "idle"}
    )
    for _ in range(2):
        await printer.broadcast(
            {"type": "progress_update", "completed": 9, "total": 9, "percentage": 100}
        )
    assert out.getvalue().splitlines() == [
        "[   1.2s] #4 Validate ISBN-13 check digits: started by backend-1",
        "[   1.2s] #4 Validate ISBN-13 check digits: self-correction attempt 2/3 made the "
        "tests pass",
        "[   1.2s] progress 9/9 tasks done (100%)",
    ]
    assert printer.lines == 3


def completed(**extra: Any) -> dict[str, Any]:
    return {
        "type": "task_status_changed",
        "task_id": 2,
        "status": "completed",
        "task_title": "Add multiply",
        "actual_tokens": 1234,
        **extra,
    }


async def test_a_completed_task_shows_its_cost_live_and_simulated_tokens_offline():
    assert await lines_for([completed(cost_usd=0.0123)]) == [
        "#2 Add multiply: completed (1,234 tokens, $0.0123)"
    ]
    assert await lines_for([completed(cost_usd=0.0)], simulated=True) == [
        "#2 Add multiply: completed (1,234 simulated tokens)"
    ]
    # A model with no price: the tokens, and no made-up figure.
    assert await lines_for([completed()]) == ["#2 Add multiply: completed (1,234 tokens)"]


async def test_blockers_show_their_id_and_released_tasks_say_why():
    lines = await lines_for(
        [
            {"type": "task_blocked", "task_id": 3, "blocked_by": [], "task_title": "Export CSV"},
            {
                "type": "blocker_created",
                "blocker_id": 7,
                "task_id": 3,
                "severity": "sync",
                "reason": "Tests still failing\nafter 3 attempts",
                "question": "What should it do?",
                "blocker_type": "tests",
            },
            {"type": "task_unblocked", "task_id": 3, "unblocked_by": None},
            {"type": "task_unblocked", "task_id": 5, "unblocked_by": 3, "task_title": "Import"},
        ]
    )
    assert lines == [
        "#3 Export CSV: blocker 7 (sync) — Tests still failing after 3 attempts",
        "#3 Export CSV: pending again (its blocker was answered)",
        "#5 Import: pending again (task #3 completed)",
    ]


async def test_a_key_quoted_in_an_event_is_masked(monkeypatch):
    key = "sk-ant-api03-secret-value-0123456789"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    (line,) = await lines_for(
        [
            {
                "type": "blocker_created",
                "blocker_id": 1,
                "task_id": 1,
                "severity": "sync",
                "reason": f"test printed {key}",
                "question": "",
            }
        ]
    )
    assert key not in line
    assert "<redacted>" in line


async def test_events_that_are_not_ours_or_not_whole_print_nothing():
    assert await lines_for([{"type": "no_such_event"}, {"type": "task_status_changed"}]) == []
