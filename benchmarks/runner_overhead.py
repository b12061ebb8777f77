"""What one TestRunner run costs before any test runs: plugin auto-loading on vs off.

Runs a one-test project N times per setting and prints the median wall time per run,
with a bare ``python -c pass`` start beside it for reference::

    .venv/bin/python benchmarks/runner_overhead.py --runs 10
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from codeframe.testing import TestRunner

ONE_TEST = "def test_one():\n    assert 1 + 1 == 2\n"


async def python_start(python: str) -> None:
    proc = await asyncio.create_subprocess_exec(python, "-c", "pass")
    if await proc.wait() != 0:
        raise RuntimeError(f"{python} -c pass failed")


async def one_run(runner: TestRunner) -> None:
    result = await runner.run_tests()
    if result.status != "passed":
        raise RuntimeError(f"expected a passing run, got {result.status}:\n{result.output}")


async def timings(job: Callable[[], Awaitable[None]], runs: int) -> list[float]:
    await job()  # warm the OS file cache so the first run does not skew the median
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await job()
        samples.append(time.perf_counter() - started)
    return samples


async def main(runs: int, python: str) -> None:
    with tempfile.TemporaryDirectory(prefix="codeframe-bench-") as folder:
        root = Path(folder)
        (root / "tests").mkdir()
        (root / "tests" / "test_one.py").write_text(ONE_TEST)
        rows = {
            "python -c pass": await timings(lambda: python_start(python), runs),
            "run_tests, plugin_autoload=False": await timings(
                lambda: one_run(TestRunner(root, python=python, plugin_autoload=False)), runs
            ),
            "run_tests, plugin_autoload=True": await timings(
                lambda: one_run(TestRunner(root, python=python, plugin_autoload=True)), runs
            ),
        }
    print(f"TestRunner start-up, one-test project, {runs} runs each, python={python}")
    print(f"{'case':<34}{'median s':>10}{'min s':>10}{'max s':>10}")
    for name, samples in rows.items():
        print(
            f"{name:<34}{statistics.median(samples):>10.3f}"
            f"{min(samples):>10.3f}{max(samples):>10.3f}"
        )
    off = statistics.median(rows["run_tests, plugin_autoload=False"])
    on = statistics.median(rows["run_tests, plugin_autoload=True"])
    print(f"auto-loading plugins adds {on - off:+.3f} s per run ({on / off:.1f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per case")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run pytest")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.runs, arguments.python))
