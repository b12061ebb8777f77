"""What the pytest process runs: pytest itself, plus a note of how far it got.

Given to the interpreter with ``-c`` for a cold run and executed in a freshly forked child
for a warm one, so both start pytest the same way. The first argument is a progress file;
the rest are pytest's. Each progress line is a JSON list: how far start-up got, which test
is running, how each finished. When pytest dies without writing its JUnit report (a test
called ``os._exit``, segfaulted, or killed pytest or its parent), these lines tell the agent
whether the project's code was running, and which test it was.

Kept to the standard library and to syntax old interpreters accept: it runs under the
project's own interpreter.
"""

from __future__ import annotations

import json
import os
import sys


def _main() -> None:
    progress = sys.argv.pop(1)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    progress_fd = os.open(progress, flags, 0o600)

    def note(*fields: object) -> None:
        os.write(progress_fd, json.dumps(fields).encode() + b"\n")

    note("python")
    import pytest

    note("pytest")

    class CodeframeProgress:
        """Notes each stage; never changes what pytest does."""

        @pytest.hookimpl(tryfirst=True)
        def pytest_load_initial_conftests(self) -> None:
            note("conftest")  # plugins are loaded: from here on the project's code runs

        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionstart(self) -> None:
            note("session")

        def pytest_collectstart(self, collector: pytest.Collector) -> None:
            if collector.nodeid:
                note("collect", collector.nodeid)

        def pytest_runtest_logstart(self, nodeid: str) -> None:
            note("test", nodeid)

        def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
            if report.when == "call" or report.outcome != "passed":
                note("report", report.nodeid, report.when, report.outcome, _message(report))

        def pytest_runtest_logfinish(self) -> None:
            note("idle")

        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionfinish(self) -> None:
            note("finish")

    code = pytest.main(plugins=[CodeframeProgress()])
    note("returned", int(code))
    raise SystemExit(code)


def _message(report: object) -> str:
    """The one line that says why a test did not pass (its crash line or skip reason)."""
    longrepr = getattr(report, "longrepr", None)
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)[:300]
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])[:300]
    return ""


_main()
