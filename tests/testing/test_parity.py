"""A warm run's result is a cold run's result: every corpus runs both ways and must agree on
status, counts, each case's outcome and message, runner_error, and the output itself (up to
pytest's own timings).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from codeframe.core.models import TestResult
from codeframe.testing import TestRunner
from codeframe.testing.warm import WARM_SUPPORTED
from tests.testing.processes import make_project

pytestmark = pytest.mark.skipif(not WARM_SUPPORTED, reason="warm runs are Linux's")

PASSING = "def test_one():\n    assert 1 + 1 == 2\n"
MIXED = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture boom")

def test_pass():
    pass

def test_fail():
    raise ValueError("body boom")

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

def test_error(broken):
    pass

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False

@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n != 2

class TestGroup:
    def test_method(self):
        print("visible because it fails")
        assert [1, 2] == [1, 3]
"""
WARNS = """
import warnings

def test_warns():
    warnings.warn("careful", UserWarning)
"""
THREADS_AND_ATEXIT = """
import atexit, threading, time

def test_leaves_a_thread_and_an_exit_hook():
    atexit.register(print, "atexit ran")
    threading.Thread(target=time.sleep, args=(0.2,)).start()
"""
ASSERTION_REWRITE = """
def helper():
    return {"a": 1, "b": [1, 2]}

def test_rewritten():
    assert helper() == {"a": 1, "b": [1, 3]}
"""
CRASH = """
import os

def test_before():
    pass

def test_crash():
    os._exit(3)
"""
KILLS_PARENT = """
import os, signal, time

def test_kills_its_parent():
    os.kill(os.getppid(), signal.SIGTERM)
    time.sleep(5)
"""
SKIPPED = """
import pytest

pytestmark = pytest.mark.skip("later")

def test_later():
    pass
"""
ASYNC = """
import asyncio

async def test_sleeps():
    await asyncio.sleep(0)
"""
HANGS = "import time\n\ndef test_hangs():\n    time.sleep(30)\n"

CORPORA: dict[str, tuple[dict[str, str], dict[str, object]]] = {
    "pass": ({"tests/test_a.py": PASSING}, {}),
    "mixed": ({"tests/test_mixed.py": MIXED}, {}),
    "collection-error": (
        {"tests/test_ok.py": PASSING, "tests/test_broken.py": "def test_x(:\n"},
        {},
    ),
    "skipped": ({"test_s.py": SKIPPED}, {}),
    "no-tests": ({"tests/helpers.py": "VALUE = 1\n"}, {}),
    "broken-conftest": (
        {"tests/conftest.py": "import no_such_module_here\n", "tests/test_ok.py": PASSING},
        {},
    ),
    "warnings": ({"test_w.py": WARNS}, {}),
    "threads-and-atexit": ({"test_t.py": THREADS_AND_ATEXIT}, {"extra_args": ["-s"]}),
    "assertion-rewrite": ({"test_r.py": ASSERTION_REWRITE}, {}),
    "crash": ({"test_c.py": CRASH}, {}),
    "kills-parent": ({"test_k.py": KILLS_PARENT}, {}),
    "timeout": ({"test_h.py": HANGS}, {"timeout": 3}),
    # The default plugin choice: pytest-asyncio, asked for by a setting.
    "asyncio-asked-for": (
        {"pytest.ini": "[pytest]\nasyncio_mode = auto\n", "test_async.py": ASYNC},
        {"plugin_autoload": None},
    ),
    "asyncio-not-asked-for": ({"test_async.py": ASYNC}, {"plugin_autoload": None}),
    "missing-path": ({"test_a.py": PASSING}, {"paths": ["tests/test_gone.py"]}),
}

_TIMINGS = re.compile(r"\bin \d+(\.\d+)?s\b")
_ADDRESSES = re.compile(r"\b0x[0-9a-f]+\b")  # differ between any two runs, cold or warm


def normalised(output: str) -> str:
    return _ADDRESSES.sub("0x<address>", _TIMINGS.sub("in <time>", output))


def summary(result: TestResult) -> dict[str, object]:
    return {
        "status": result.status,
        "counts": (result.passed, result.failed, result.errors, result.skipped),
        "cases": [(case.node_id, case.outcome, case.message) for case in result.cases],
        "runner_error": result.runner_error and normalised(result.runner_error),
        "output": normalised(result.output),
    }


async def both_ways(
    root: Path, options: dict[str, object], caplog: pytest.LogCaptureFixture
) -> tuple[TestResult, TestResult]:
    paths = options.pop("paths", None)
    options.setdefault("timeout", 60)
    cold = await TestRunner(root, warm=False, **options).run_tests(paths)  # type: ignore[arg-type]
    caplog.clear()
    runner = TestRunner(root, **options)  # type: ignore[arg-type]
    try:
        warm = await runner.run_tests(paths)  # type: ignore[arg-type]
    finally:
        await runner.aclose()
    assert any(r.getMessage().startswith("warm run via helper") for r in caplog.records)
    return cold, warm


@pytest.mark.parametrize("name", sorted(CORPORA))
async def test_a_warm_run_gives_what_a_cold_run_gives(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="codeframe.testing")
    files, options = CORPORA[name]
    root = make_project(tmp_path, files)

    cold, warm = await both_ways(root, {"plugin_autoload": False, **options}, caplog)

    assert summary(warm) == summary(cold)


async def test_with_every_installed_plugin_loaded_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # hypothesis, nbmake, pytest-asyncio, pytest-timeout: imported by the helper's warm-up,
    # registered again by each fork, with no extra warning (e.g. "already imported").
    caplog.set_level(logging.DEBUG, logger="codeframe.testing")
    root = make_project(tmp_path, {"tests/test_mixed.py": MIXED, "tests/test_w.py": WARNS})

    cold, warm = await both_ways(root, {"plugin_autoload": True}, caplog)

    assert summary(warm) == summary(cold)
    assert cold.status == "failed" and cold.passed == 4
