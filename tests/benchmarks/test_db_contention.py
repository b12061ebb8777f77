"""The busy-timeout benchmark at toy size: every measurement runs and means what it says."""

from __future__ import annotations

from pathlib import Path

from benchmarks.db_contention import TIMEOUTS_MS, measure, render
from codeframe.persistence.store import BUSY_TIMEOUT_MS


def test_the_contention_benchmark_runs_and_reports(tmp_path: Path) -> None:
    # The holder keeps the lock well past our busy timeout, so each outcome is certain.
    hold_s = 3 * BUSY_TIMEOUT_MS / 1000
    figures = measure(peers=1, writes=30, hold_s=hold_s, tmp_dir=str(tmp_path))
    assert figures["busy_timeout_ms"] == BUSY_TIMEOUT_MS
    assert [row["timeout_ms"] for row in figures["with_peers"]] == list(TIMEOUTS_MS)
    outcomes = [(r["timeout_ms"], r["retry"], r["outcome"]) for r in figures["long_holder"]]
    assert outcomes == [
        (5000, False, "written"),  # waited the holder out, blocking the loop meanwhile
        (BUSY_TIMEOUT_MS, False, "failed (busy)"),
        (BUSY_TIMEOUT_MS, True, "written"),
    ]
    text = render(figures)
    assert "busy_timeout" in text and "loop max lag ms" in text
    assert list(tmp_path.iterdir()) == []  # its temporary folder is gone
