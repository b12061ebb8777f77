"""A test runner that answers at once with a fixed result: the offline seam for benchmarks.

Outcomes that matter (passed, corrected, blocked) come from the real :class:`TestRunner`;
this one exists so orchestration can be measured and tested without pytest's start-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from codeframe.core.models import TestResult, TestStatus


class FixedResultRunner:
    """``run_tests`` returns a copy of ``result`` after ``latency`` seconds; counts its calls."""

    def __init__(self, result: TestResult | None = None, *, latency: float = 0.0) -> None:
        self.result = result or TestResult(TestStatus.NO_TESTS, output="tests are off")
        self.latency = latency
        self.calls: list[list[str] | None] = []

    async def run_tests(self, test_paths: Sequence[str] | None = None) -> TestResult:
        self.calls.append(None if test_paths is None else list(test_paths))
        if self.latency:
            await asyncio.sleep(self.latency)
        return replace(self.result)


__all__ = ["FixedResultRunner"]
