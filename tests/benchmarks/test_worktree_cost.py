"""benchmarks/worktree_cost.py at toy size: both modes run and every part is measured.

No figure is judged against a time; the real run is ``python -m benchmarks.worktree_cost``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import worktree_cost


async def test_both_modes_measure_every_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    result = await worktree_cost.measure(files=30, tasks=3, think=0.0, tmp_dir=str(tmp_path))
    assert set(result["modes"]) == {"reuse", "fresh add"}
    for rows in result["modes"].values():
        assert set(rows) == {*worktree_cost.PARTS, "worktree+commit+merge", "all four"}
        for figures in rows.values():
            assert 0 < figures["min"] <= figures["median"] <= figures["max"]
            assert figures["cpu_median"] >= 0
    worktree_cost.print_report(result)
    out = capsys.readouterr().out
    assert "load average before" in out and "worktree+commit+merge" in out
    assert list(tmp_path.iterdir()) == []  # the repositories are gone
