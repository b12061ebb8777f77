"""Record the demo once, replay it with no client at all: the path notebook 04 takes offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeframe.demo import demo_client, run_demo
from codeframe.demo.runner import PROJECT_DIR
from codeframe.llm import RecordingClient, ReplayClient
from codeframe.persistence.database import Database


def _outcome(db_path: Path, project_id: int) -> list[tuple[str, str, int]]:
    with Database(db_path) as db:
        return [
            (t["title"], t["status"], len(db.get_test_results_by_task(t["id"])))
            for t in db.get_project_tasks(project_id)
        ]


async def test_a_recorded_demo_replays_to_the_same_outcome(tmp_path: Path):
    cassette = tmp_path / "demo.json"
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    # The cassette stores the project root as <root>, so another folder replays it.
    recorder = RecordingClient(
        demo_client(latency=0.0), cassette, root=first_dir.resolve() / PROJECT_DIR
    )
    recorded = await run_demo(first_dir, client=recorder)

    # "turn": the second run may interleave differently, and prompts carry shared context.
    replay = ReplayClient(cassette, root=second_dir.resolve() / PROJECT_DIR, match="turn")
    replayed = await run_demo(second_dir, client=replay)

    assert replayed.summary["completed"] == recorded.summary["completed"] == 6
    assert replayed.summary["blocked"] == recorded.summary["blocked"] == 3
    assert _outcome(replayed.db_path, replayed.project_id) == _outcome(
        recorded.db_path, recorded.project_id
    )
    assert replay.remaining == 0  # every recorded call was asked for again


BUNDLED = Path(__file__).resolve().parents[2] / "notebooks" / "cassettes" / "bookshelf-demo.json"


@pytest.mark.parametrize("max_concurrent", [1, 4])
async def test_the_bundled_cassette_replays_whatever_the_interleaving(
    tmp_path: Path, max_concurrent: int
):
    # One task at a time changes every later prompt's context (related code, the tree's
    # test summary) from the concurrent run it was recorded in: exact keys miss there.
    replay = ReplayClient(BUNDLED, root=tmp_path.resolve() / PROJECT_DIR, match="turn")
    result = await run_demo(tmp_path, client=replay, max_concurrent=max_concurrent)

    assert (result.summary["completed"], result.summary["blocked"]) == (6, 3)
    assert result.summary["failed"] == 0
    assert replay.remaining == 0


async def test_exact_replay_of_a_serial_run_misses_and_fails_the_task_clearly(tmp_path: Path):
    replay = ReplayClient(BUNDLED, root=tmp_path.resolve() / PROJECT_DIR)
    result = await run_demo(tmp_path, client=replay, max_concurrent=1)

    assert result.summary["failed"] >= 1
    with Database(result.db_path) as db:
        errors = [
            t["error"] or ""
            for t in db.get_project_tasks(result.project_id)
            if t["status"] == "failed"
        ]
    assert any("never recorded" in error for error in errors), errors
