"""The worker trace script runs end to end and reports the fail-then-fix rows."""

from __future__ import annotations

import pytest

from benchmarks import worker_trace


async def test_the_trace_shows_a_failed_run_a_fix_and_a_pass(capsys: pytest.CaptureFixture[str]):
    await worker_trace.main()
    out = capsys.readouterr().out
    assert "execute_task -> status='completed'" in out
    assert "attempt=0, status='failed'" in out
    assert "attempt=1, status='passed'" in out
    assert "correction_attempts  attempt_number=1, test_result_id=2" in out
    assert "loop lag while a 2 s CPU-bound suite ran (passed" in out
