"""What one TestRunner run costs before any test runs: cold vs warm, and plugin loading.

``plugin_autoload=None`` is the default (the plugins the project asks for: none here);
``True`` loads every plugin of the environment (the old default), ``False`` none.

Runs a one-test project N times per setting and prints the median and the min-max of the
wall time per run, with a bare ``python -c pass`` start beside it and the machine's load
average (the figures move with it on a shared machine)::

    .venv/bin/python benchmarks/runner_overhead.py --runs 15

A warm runner's first run (its helper's warm-up) is left out of the timings, as is each
setting's first run (the OS file cache); warm helpers are shut down after each setting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
    await job()  # warm the OS file cache (and a warm runner's helper): not timed
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await job()
        samples.append(time.perf_counter() - started)
    return samples


async def runner_timings(root: Path, runs: int, python: str, **options: object) -> list[float]:
    """One runner for the whole setting, as a worker keeps one; closed after."""
    runner = TestRunner(root, python=python, **options)  # type: ignore[arg-type]
    try:
        return await timings(lambda: one_run(runner), runs)
    finally:
        await runner.aclose()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


async def main(runs: int, python: str) -> None:
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="codeframe-bench-") as folder:
        root = Path(folder)
        (root / "tests").mkdir()
        (root / "tests" / "test_one.py").write_text(ONE_TEST)
        rows = {"python -c pass": await timings(lambda: python_start(python), runs)}
        for mode in ("cold", "warm"):
            for autoload in (None, False, True):
                name = f"{mode}, plugin_autoload={autoload}"
                rows[name] = await runner_timings(
                    root, runs, python, warm=mode == "warm", plugin_autoload=autoload
                )
    print(f"TestRunner start-up, one-test project, {runs} runs each, python={python}")
    print(f"before: {load_before}; after: {load_average()}")
    print(f"{'case':<34}{'median s':>10}{'min s':>10}{'max s':>10}")
    for name, samples in rows.items():
        print(
            f"{name:<34}{statistics.median(samples):>10.3f}"
            f"{min(samples):>10.3f}{max(samples):>10.3f}"
        )
    for autoload in (None, False, True):
        cold = statistics.median(rows[f"cold, plugin_autoload={autoload}"])
        warm = statistics.median(rows[f"warm, plugin_autoload={autoload}"])
        print(
            f"plugin_autoload={autoload}: warm saves {cold - warm:.3f} s a run ({cold / warm:.1f}x)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per case")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run pytest")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.runs, arguments.python))
