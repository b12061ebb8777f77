"""Run a project's pytest suite in a subprocess without ever blocking the event loop.

Each run is one ``python -m pytest`` in its own process group, so a timeout or a
cancellation can kill pytest *and* anything its tests started. Results come from the
JUnit XML pytest writes to a temporary folder outside the project.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path

from codeframe.core.models import CaseOutcome, TestCase, TestResult, TestStatus
from codeframe.errors import InvalidInputError, UnsupportedPlatformError
from codeframe.testing.environment import build_child_env
from codeframe.testing.junit import JUnitFormatError, last_error_line, parse_junit_xml

logger = logging.getLogger(__name__)

PathArg = str | os.PathLike[str]

_REPORT_NAME = "report.xml"
# A kill is final, but clean-up after it must not hang a cancelled run.
_REAP_TIMEOUT = 2.0
_HEAD_LINES = 5

_USAGE_ERROR = 4
_STATUS_BY_EXIT = {
    0: TestStatus.PASSED.value,
    1: TestStatus.FAILED.value,
    2: TestStatus.ERROR.value,  # interrupted, e.g. by collection errors
    3: TestStatus.ERROR.value,  # internal error
    _USAGE_ERROR: TestStatus.ERROR.value,
    5: TestStatus.NO_TESTS.value,
}
_NO_PYTEST = re.compile(r"No module named '?pytest'?\s*$", re.MULTILINE)
_CONFTEST_FAILURE = re.compile(r"ImportError while loading conftest '([^']+)'")


class TestRunner:
    """Runs pytest for one project; every :meth:`run_tests` call is its own subprocess.

    ``plugin_autoload=True`` (the default) lets the project's installed pytest plugins
    load, as users expect; ``False`` skips the third-party ones this interpreter has,
    which makes each run start several times faster (see ``benchmarks/runner_overhead.py``).
    """

    __test__ = False

    def __init__(
        self,
        project_root: PathArg = Path("."),
        timeout: float | None = 300,
        *,
        python: PathArg | None = None,
        plugin_autoload: bool = True,
        env: Mapping[str, str] | None = None,
        extra_args: Iterable[str] = (),
        output_limit: int = 20_000,
    ) -> None:
        if os.name != "posix":
            raise UnsupportedPlatformError(
                "codeframe's test runner needs POSIX process groups and signals: "
                "use Linux, macOS or Windows through WSL"
            )
        if timeout is not None and timeout <= 0:
            raise InvalidInputError(f"timeout must be positive seconds or None, got {timeout!r}")
        if output_limit < 1:
            raise InvalidInputError(f"output_limit must be at least 1, got {output_limit!r}")
        self.project_root = Path(project_root)
        self.timeout = timeout
        self.python = os.fspath(python) if python is not None else sys.executable
        self.plugin_autoload = plugin_autoload
        self.env = dict(env or {})
        self.extra_args = tuple(extra_args)
        self.output_limit = output_limit

    async def run_tests(self, test_paths: Iterable[PathArg] | PathArg | None = None) -> TestResult:
        """Run pytest on ``test_paths`` (relative to the root; None or empty: the whole suite)."""
        started = time.monotonic()
        if not self.project_root.is_dir():
            reason = f"project root {self.project_root} does not exist or is not a directory"
            logger.debug("not running pytest: %s", reason)
            return TestResult(status=TestStatus.ERROR.value, output=reason, runner_error=reason)
        with tempfile.TemporaryDirectory(prefix="codeframe-pytest-") as report_dir:
            report = Path(report_dir) / _REPORT_NAME
            result = await self._run(self._command(test_paths, report), report)
        result.duration = time.monotonic() - started
        logger.debug(
            "pytest in %s: %s (passed=%d failed=%d errors=%d skipped=%d) in %.2fs",
            self.project_root, result.status, result.passed, result.failed,
            result.errors, result.skipped, result.duration,
        )  # fmt: skip
        return result

    def _command(self, test_paths: Iterable[PathArg] | PathArg | None, report: Path) -> list[str]:
        return [
            *_launcher(self.python), *_path_args(test_paths), "-q", "--color=no",
            "-o", "junit_family=xunit1", f"--junitxml={report}",
            "-p", "no:cacheprovider", *self.extra_args,
        ]  # fmt: skip

    async def _run(self, argv: list[str], report: Path) -> TestResult:
        env = build_child_env(os.environ, plugin_autoload=self.plugin_autoload, overrides=self.env)
        output = _OutputTail(self.output_limit)
        logger.debug("running %s in %s", shlex.join(argv), self.project_root)
        scope = asyncio.timeout(self.timeout)
        spawned: tuple[asyncio.SubprocessTransport, _PytestProtocol] | None = None
        timed_out = False
        try:
            async with scope:
                try:
                    spawned = await _spawn(argv, self.project_root, env, output)
                except OSError as exc:
                    reason = f"cannot start {self.python}: {exc}"
                    return TestResult(
                        status=TestStatus.ERROR.value, output=reason, runner_error=reason
                    )
                # Shielded: a timeout or cancel must not cancel the protocol's own future.
                await asyncio.shield(spawned[1].exited)
        except TimeoutError:
            if not scope.expired():
                raise
            # Judged before the kill: a pytest that had just exited finished in time.
            timed_out = spawned is None or not spawned[1].exited.done()
        finally:
            if spawned is not None:
                # Outside the timeout: a run that ended in time is not a timeout because
                # its clean-up (killing what its tests left behind) took a moment.
                await _stop(*spawned)
        returncode = None if spawned is None else spawned[0].get_returncode()
        if timed_out or returncode is None:
            return self._timed_out(output.getvalue())
        logger.debug("pytest exited with code %d", returncode)
        return self._interpret(returncode, report, output.getvalue())

    def _timed_out(self, output: str) -> TestResult:
        note = (
            f"[codeframe: pytest timed out after {self.timeout:g} s; its process group was killed]"
        )
        return TestResult(
            status=TestStatus.TIMEOUT.value, output=f"{output}\n{note}" if output else note
        )

    def _interpret(self, returncode: int, report: Path, output: str) -> TestResult:
        try:
            data = report.read_bytes()
        except FileNotFoundError:
            return self._without_report(returncode, output)
        try:
            parsed = parse_junit_xml(data)
        except JUnitFormatError as exc:
            return TestResult(
                status=TestStatus.ERROR.value,
                output=output,
                runner_error=f"pytest wrote a report codeframe cannot read: {exc}",
            )
        status = _STATUS_BY_EXIT.get(returncode)
        runner_error = None
        if status is None:
            status = TestStatus.ERROR.value
            runner_error = f"pytest exited with unexpected code {returncode}"
        elif returncode == _USAGE_ERROR and not parsed.cases:
            # e.g. a test path that does not exist: no test code ran, so nothing to correct
            runner_error = _with_head("pytest reported a usage error (exit code 4)", output)
        return TestResult(
            status=status,
            passed=parsed.passed,
            failed=parsed.failed,
            errors=parsed.errors,
            skipped=parsed.skipped,
            output=output,
            cases=parsed.cases,
            runner_error=runner_error,
        )

    def _without_report(self, returncode: int, output: str) -> TestResult:
        conftest = _CONFTEST_FAILURE.search(output)
        if conftest is not None:
            # A broken conftest.py is project code the model can fix, so no runner_error.
            case = TestCase(
                node_id=self._relative(conftest.group(1)),
                outcome=CaseOutcome.ERROR.value,
                message=last_error_line(output[conftest.end() :]),
            )
            return TestResult(status=TestStatus.ERROR.value, errors=1, output=output, cases=(case,))
        if _NO_PYTEST.search(output):
            reason = f"pytest is not installed for {self.python}"
        elif returncode < 0:
            reason = f"pytest was killed by {_signal_name(-returncode)} and wrote no report"
        else:
            reason = f"pytest exited with code {returncode} and wrote no report"
        return TestResult(
            status=TestStatus.ERROR.value, output=output, runner_error=_with_head(reason, output)
        )

    def _relative(self, path: str) -> str:
        try:
            return Path(path).relative_to(self.project_root.resolve()).as_posix()
        except ValueError:
            return path


class _PytestProtocol(asyncio.SubprocessProtocol):
    """Feeds pytest's output to a tail, and turns its exit and its pipe's close into futures.

    The two are separate events: a test's leftover child can hold the pipe open long after
    pytest has exited, so waiting for exit must not wait for the pipe too.
    """

    def __init__(self, output: _OutputTail, loop: asyncio.AbstractEventLoop) -> None:
        self.output = output
        self.exited: asyncio.Future[None] = loop.create_future()
        self.output_closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.output.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if not self.output_closed.done():
            self.output_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


# One spawn per loop at a time: each spawn holds the loop for a moment, and several workers
# reaching their tests together would otherwise add those moments up in one loop turn.
_spawn_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def _spawn(
    argv: list[str], cwd: Path, env: dict[str, str], output: _OutputTail
) -> tuple[asyncio.SubprocessTransport, _PytestProtocol]:
    """Start pytest as the leader of a new process group (its pgid is its pid)."""
    loop = asyncio.get_running_loop()
    lock = _spawn_locks.setdefault(loop, asyncio.Lock())
    async with lock:
        transport, protocol = await loop.subprocess_exec(
            lambda: _PytestProtocol(output, loop),
            *argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            await asyncio.sleep(0)  # let the loop serve others before the next spawn
        except asyncio.CancelledError:
            await _stop(transport, protocol)  # nobody else will
            raise
    return transport, protocol


async def _stop(transport: asyncio.SubprocessTransport, pytest: _PytestProtocol) -> None:
    """Kill pytest's whole group (whatever its tests left running) and reap it, within a bound.

    The kill comes first, outside the shield, so a second interrupt cannot skip it; the
    reaping is shielded so a cancellation cannot stop it halfway.
    """
    _kill_group(transport.get_pid())
    await asyncio.shield(_reap(transport, pytest))


async def _reap(transport: asyncio.SubprocessTransport, pytest: _PytestProtocol) -> None:
    """Wait for pytest's exit and the end of its output; then release the pipe."""
    # asyncio.wait leaves the futures alone when it times out.
    _, pending = await asyncio.wait({pytest.exited, pytest.output_closed}, timeout=_REAP_TIMEOUT)
    if pytest.exited in pending:
        pid = transport.get_pid()
        logger.warning("pytest (pid %d) has not exited %.0f s after SIGKILL", pid, _REAP_TIMEOUT)
    elif pending:
        # Only a process that left our group (setsid) can still hold the pipe.
        logger.warning(
            "pytest (pid %d) has exited but its output pipe is still open after %.0f s: "
            "a process outside its group holds it",
            transport.get_pid(),
            _REAP_TIMEOUT,
        )
    transport.close()


def _kill_group(pgid: int) -> None:
    """SIGKILL pytest's whole process group: tests' children die with it."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        logger.debug("process group %d already gone", pgid)
    except PermissionError:
        # macOS answers EPERM when only zombies are left in the group.
        logger.debug("process group %d: nothing left that we may signal", pgid)


# On Linux, pytest starts through this two-line prelude, which asks the kernel to SIGKILL
# it when we die (a killed notebook kernel). Doing it in the child after exec, rather than in
# a ``preexec_fn``, keeps the spawn a cheap vfork: a ``preexec_fn`` forces a full fork of the
# whole notebook process on the event loop's thread (measured: 5-25 ms of loop lag a run).
_PDEATHSIG_PRELUDE = (
    "import ctypes, os, signal, sys; parent = int(sys.argv.pop(1)); "
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0); "
    "os.getppid() == parent or os._exit(1); "  # we died before the signal was armed
    "import runpy; sys.argv[0] = 'pytest'; "
    "runpy.run_module('pytest', run_name='__main__', alter_sys=True)"
)


def _launcher(python: str) -> list[str]:
    """The interpreter and arguments that start pytest (with the prelude where it works)."""
    if sys.platform.startswith("linux"):
        return [python, "-c", _PDEATHSIG_PRELUDE, str(os.getpid())]
    return [python, "-m", "pytest"]


class _OutputTail:
    """Keeps the last ``limit`` characters of a stream without ever holding much more."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._size = 0
        self._cut = 0

    def feed(self, data: bytes) -> None:
        self._append(self._decoder.decode(data))

    def getvalue(self) -> str:
        """The kept text, headed by a line saying how much was cut from the front."""
        self._append(self._decoder.decode(b"", final=True))
        self._compact()
        text = "".join(self._parts)
        if self._cut:
            return f"[... {self._cut} characters cut ...]\n{text}"
        return text

    def _append(self, text: str) -> None:
        if text:
            self._parts.append(text)
            self._size += len(text)
            if self._size > 2 * self._limit:
                self._compact()

    def _compact(self) -> None:
        text = "".join(self._parts)
        excess = len(text) - self._limit
        if excess > 0:
            self._cut += excess
            text = text[excess:]
        self._parts = [text] if text else []
        self._size = len(text)


def _path_args(test_paths: Iterable[PathArg] | PathArg | None) -> list[str]:
    if test_paths is None:
        return []
    if isinstance(test_paths, str | os.PathLike):
        test_paths = [test_paths]
    # A relative path that starts with "-" would be read as an option.
    paths = [os.fspath(path) for path in test_paths]
    return [f"./{path}" if path.startswith("-") else path for path in paths]


def _with_head(reason: str, output: str) -> str:
    head = "\n".join(line for line in output.strip().splitlines()[:_HEAD_LINES])
    return f"{reason}:\n{head}" if head else reason


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


__all__ = ["TestResult", "TestRunner"]
