"""Record the demo once, replay it with no client at all: the path notebook 04 takes offline."""

from __future__ import annotations

from pathlib import Path

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
    recorder = RecordingClient(demo_client(latency=0.0), cassette,
                               root=first_dir.resolve() / PROJECT_DIR)
    recorded = await run_demo(first_dir, client=recorder)

    replay = ReplayClient(cassette, root=second_dir.resolve() / PROJECT_DIR)
    replayed = await run_demo(second_dir, client=replay)

    assert replayed.summary["completed"] == recorded.summary["completed"] == 6
    assert replayed.summary["blocked"] == recorded.summary["blocked"] == 3
    assert _outcome(replayed.db_path, replayed.project_id) == _outcome(
        recorded.db_path, recorded.project_id
    )
    assert replay.remaining == 0  # every recorded call was asked for again
