"""Run a project's pytest suite in a supervised subprocess without ever blocking the event loop.

Each run is one pytest process under a supervisor that contains everything the tests start
(see :mod:`codeframe.testing.child.reaper`), so a timeout, a cancellation or the agent's own
death kills pytest *and* whatever its tests left running, however it detached. Results come
from the JUnit XML pytest writes to a temporary folder outside the project.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

from codeframe.core.models import TestResult, TestStatus
from codeframe.errors import InvalidInputError, UnsupportedPlatformError
from codeframe.testing.child import ENTRY_PATH
from codeframe.testing.environment import build_child_env
from codeframe.testing.output import OutputTail
from codeframe.testing.plugins import (
    PluginChoice,
    choose_plugins,
    installed_plugins,
    missing_plugin_hint,
)
from codeframe.testing.results import RunContext, interpret, timed_out
from codeframe.testing.supervision import RunEnd, RunHandle, start_cold
from codeframe.testing.warm import POOL, WARM_SUPPORTED, Helper, HelperKey, start_warm

logger = logging.getLogger(__name__)

PathArg = str | os.PathLike[str]

_REPORT_NAME = "report.xml"
_PROGRESS_NAME = "progress.jsonl"


class TestRunner:
    """Runs pytest for one project; every :meth:`run_tests` call is its own supervised process.

    ``plugin_autoload=None`` (the default) loads the pytest plugins the project asks for
    (:mod:`codeframe.testing.plugins`), or everything installed when ``python`` is another
    environment's interpreter; ``True`` loads every plugin installed, ``False`` none.

    ``warm=True`` (the default, on Linux) runs each pytest as a fresh fork of a helper that
    has already imported pytest and its plugins (:mod:`codeframe.testing.warm`); results are
    those of a cold run, which is used whenever the helper cannot serve (and with
    ``warm=False``). :meth:`aclose` shuts the helper down; it also exits on its own when
    idle or when this process exits.
    """

    __test__ = False

    def __init__(
        self,
        project_root: PathArg = Path("."),
        timeout: float | None = 300,
        *,
        python: PathArg | None = None,
        plugin_autoload: bool | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: Iterable[str] = (),
        output_limit: int = 20_000,
        warm: bool = True,
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
        self.warm = warm and WARM_SUPPORTED
        self._replace: tuple[HelperKey, dict[str, str]] | None = None
        # Listing the installed pytest plugins reads every package's metadata (10-20 ms):
        # done here, before a run, rather than on the event loop at the first test run.
        installed_plugins()

    def for_root(self, project_root: PathArg) -> TestRunner:
        """A runner with these settings for another copy of the project (a task's worktree)."""
        return TestRunner(
            project_root,
            self.timeout,
            python=self.python,
            plugin_autoload=self.plugin_autoload,
            env=self.env,
            extra_args=self.extra_args,
            output_limit=self.output_limit,
            warm=self.warm,
        )

    async def aclose(self) -> None:
        """Shut down the warm helpers no other runner uses, and wait for them to exit."""
        await POOL.release(self)

    async def __aenter__(self) -> TestRunner:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def run_tests(self, test_paths: Iterable[PathArg] | PathArg | None = None) -> TestResult:
        """Run pytest on ``test_paths`` (relative to the root; None or empty: the whole suite)."""
        started = time.monotonic()
        if not self.project_root.is_dir():
            reason = f"project root {self.project_root} does not exist or is not a directory"
            logger.debug("not running pytest: %s", reason)
            return TestResult(status=TestStatus.ERROR.value, output=reason, runner_error=reason)
        with tempfile.TemporaryDirectory(prefix="codeframe-pytest-") as report_dir:
            report = Path(report_dir) / _REPORT_NAME
            progress = Path(report_dir) / _PROGRESS_NAME
            choice = choose_plugins(
                self.project_root,
                self.python,
                self.plugin_autoload,
                {**os.environ, **self.env},
                self.extra_args,
            )
            pytest_args = self._pytest_args(test_paths, report, choice)
            result = await self._run(pytest_args, report, progress, choice)
        result.duration = time.monotonic() - started
        logger.debug(
            "pytest in %s: %s (passed=%d failed=%d errors=%d skipped=%d) in %.2fs",
            self.project_root, result.status, result.passed, result.failed,
            result.errors, result.skipped, result.duration,
        )  # fmt: skip
        return result

    def _pytest_args(
        self, test_paths: Iterable[PathArg] | PathArg | None, report: Path, choice: PluginChoice
    ) -> list[str]:
        return [
            *_path_args(test_paths), "-q", "--color=no",
            "-o", "junit_family=xunit1", f"--junitxml={report}",
            "-p", "no:cacheprovider", *choice.args, *self.extra_args,
        ]  # fmt: skip

    async def _run(
        self, pytest_args: list[str], report: Path, progress: Path, choice: PluginChoice
    ) -> TestResult:
        env = build_child_env(os.environ, plugin_autoload=choice.autoload, overrides=self.env)
        args = [str(progress), *pytest_args]
        output = OutputTail(self.output_limit)
        logger.debug("running %s in %s", shlex.join(pytest_args), self.project_root)
        scope = asyncio.timeout(self.timeout)
        handle: RunHandle | None = None
        helper: Helper | None = None
        end: RunEnd | None = None
        timed_out_now = False
        try:
            async with scope:
                try:
                    handle, helper = await self._start(args, env, output, choice.args)
                except OSError as exc:
                    reason = f"cannot start codeframe's test supervisor ({sys.executable}): {exc}"
                    return TestResult(
                        status=TestStatus.ERROR.value, output=reason, runner_error=reason
                    )
                end = await handle.wait()
        except TimeoutError:
            if not scope.expired():
                raise
            # Judged before the stop: a run that had just ended finished in time.
            timed_out_now = handle is None or not handle.finished
        finally:
            try:
                if handle is not None:
                    # Outside the timeout: a run that ended in time is not a timeout because
                    # its clean-up (killing what its tests left behind) took a moment.
                    end = await handle.settle()
            finally:  # even when a second cancel cuts the settle short
                if helper is not None:
                    helper.in_flight -= 1
        self._start_replacement()
        context = RunContext(self.python, self.project_root, self.timeout)
        if timed_out_now or end is None:
            return timed_out(context, output.getvalue())
        logger.debug("pytest ended: %s", end)
        result = interpret(context, end, report, progress, output.getvalue())
        if result.status != TestStatus.PASSED.value and result.runner_error is None:
            hint = missing_plugin_hint(result.output, choice)
            if hint is not None:
                result.output = f"{result.output}\n{hint}"
        return result

    async def _start(
        self, args: list[str], env: dict[str, str], output: OutputTail, preload: tuple[str, ...]
    ) -> tuple[RunHandle, Helper | None]:
        """A warm run if a helper can take it, else a cold one."""
        if self.warm:
            key = HelperKey.of(self.python, self.project_root, env, preload)
            helper, why = POOL.helper_for(key, env, self)
            if helper is None:
                logger.debug("no warm run (%s)", why)
                if why.endswith("has died"):
                    self._replace = key, env
            else:
                request = {"args": args, "cwd": key.root, "env": env, "preload": [*key.preload]}
                helper.in_flight += 1
                try:
                    handle, why = await start_warm(helper, request, output)
                except BaseException:
                    helper.in_flight -= 1
                    raise
                if handle is not None:
                    logger.debug("warm run via helper %d", helper.pid)
                    helper.served += 1
                    return handle, helper
                helper.in_flight -= 1
                logger.debug("warm helper %d refused the run (%s): cold run", helper.pid, why)
                # A helper that never served (its warm-up failed, or it could not even start)
                # would fail again: such keys stay cold for a while instead of respawning.
                failed = helper.served == 0 and not why.startswith("stale")
                POOL.retire(helper, failed=failed)
                if not failed:
                    self._replace = key, env
        command = [self.python, "-c", _entry_source(), *args]
        logger.debug("cold run")
        return await start_cold(command, self.project_root, env, output), None

    def _start_replacement(self) -> None:
        """After a cold fallback, start a fresh helper so that the next run is warm again."""
        if self._replace is not None:
            key, env = self._replace
            self._replace = None
            POOL.helper_for(key, env, self)


@cache
def _entry_source() -> str:
    """The pytest process's code, given with ``-c`` so nothing is added to its ``sys.path``."""
    return ENTRY_PATH.read_text(encoding="utf-8")


def _path_args(test_paths: Iterable[PathArg] | PathArg | None) -> list[str]:
    if test_paths is None:
        return []
    if isinstance(test_paths, str | os.PathLike):
        test_paths = [test_paths]
    # A relative path that starts with "-" would be read as an option.
    paths = [os.fspath(path) for path in test_paths]
    return [f"./{path}" if path.startswith("-") else path for path in paths]


__all__ = ["TestResult", "TestRunner"]
