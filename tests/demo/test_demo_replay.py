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


async def _record(tmp_path: Path, cassette: Path, max_concurrent: int = 4):
    first_dir = tmp_path / "first"
    # The cassette stores the project root as <root>, so another folder replays it.
    recorder = RecordingClient(
        demo_client(latency=0.0), cassette, root=first_dir.resolve() / PROJECT_DIR
    )
    return await run_demo(first_dir, client=recorder, max_concurrent=max_concurrent)


@pytest.mark.parametrize("max_concurrent", [1, 4, 8])
async def test_a_recorded_demo_replays_exactly_at_any_concurrency(
    tmp_path: Path, max_concurrent: int
):
    """Each task works in its own worktree, based on its dependencies alone: its prompts
    never depend on which other task finished first, so exact matching replays any run."""
    cassette = tmp_path / "demo.json"
    recorded = await _record(tmp_path, cassette)
    second_dir = tmp_path / "second"
    replay = ReplayClient(cassette, root=second_dir.resolve() / PROJECT_DIR)  # exact keys
    replayed = await run_demo(second_dir, client=replay, max_concurrent=max_concurrent)

    assert (replayed.summary["completed"], replayed.summary["blocked"]) == (6, 3)
    assert replayed.summary["failed"] == 0
    assert _outcome(replayed.db_path, replayed.project_id) == _outcome(
        recorded.db_path, recorded.project_id
    )
    assert replay.remaining == 0  # every recorded call was asked for again
    assert replay.turn_matches == 0


BUNDLED = Path(__file__).resolve().parents[2] / "notebooks" / "cassettes" / "bookshelf-demo.json"


@pytest.mark.parametrize("max_concurrent", [1, 4, 8])
async def test_the_bundled_cassette_replays_exactly_at_any_concurrency(
    tmp_path: Path, max_concurrent: int
):
    replay = ReplayClient(BUNDLED, root=tmp_path.resolve() / PROJECT_DIR)
    result = await run_demo(tmp_path, client=replay, max_concurrent=max_concurrent)

    assert (result.summary["completed"], result.summary["blocked"]) == (6, 3)
    assert result.summary["failed"] == 0
    assert replay.remaining == 0
    with Database(result.db_path) as db:
        statuses = {t["title"]: t["status"] for t in db.get_project_tasks(result.project_id)}
    assert statuses["Export the catalogue as CSV for the accounting service"] == "blocked"


async def test_the_bundled_cassette_replays_on_a_python_that_draws_no_position_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Python 3.11+ draws "^^^^" under a traceback's source line unless the build or the
    environment turns position info off; the prompt must read the same either way."""
    monkeypatch.setenv("PYTHONNODEBUGRANGES", "1")
    replay = ReplayClient(BUNDLED, root=tmp_path.resolve() / PROJECT_DIR)
    result = await run_demo(tmp_path, client=replay, max_concurrent=4)

    assert (result.summary["completed"], result.summary["blocked"]) == (6, 3)
    assert replay.remaining == 0


async def test_the_bundled_cassette_replays_on_a_ci_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """pytest stops cutting its summary lines to the width when CI is set; CI machines
    set it, and the prompt quoting that summary must not change with it."""
    monkeypatch.setenv("CI", "true")
    replay = ReplayClient(BUNDLED, root=tmp_path.resolve() / PROJECT_DIR)
    result = await run_demo(tmp_path, client=replay, max_concurrent=4)

    assert (result.summary["completed"], result.summary["blocked"]) == (6, 3)
