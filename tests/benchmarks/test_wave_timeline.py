"""The wave timeline splits a run's wall time into parts that add up."""

from __future__ import annotations

import pytest

from benchmarks import wave_timeline


def test_the_parts_of_a_made_up_run() -> None:
    # Two waves of two calls, L = 1 s: the second wave starts 0.25 s late and is spread 0.5 s.
    calls = [(0.5, 1.5), (0.75, 1.75), (1.75, 2.75), (2.25, 3.25)]
    parts = wave_timeline.decompose(calls, began=0.0, ended=3.5, c=2, latency=1.0)
    assert parts["lead_in_s"] == 0.5
    assert parts["drift_s"] == [0.25]
    assert parts["spreads_s"] == [0.25, 0.5]
    assert parts["tail_s"] == 0.25
    assert parts["wall_s"] == 3.5


def test_a_real_run_is_timed_call_by_call(capsys: pytest.CaptureFixture[str]) -> None:
    assert wave_timeline.main(["-n", "6", "-c", "3", "--latency", "0.01", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "efficiency 0." in out or "efficiency 1." in out
    assert "drift" in out and "last wave's spread" in out
