"""Run the ``git`` command line from the event loop: bounded, cancellable, in a clean environment.

Every git call is one subprocess started with ``asyncio.create_subprocess_exec`` in its own
process group. A timeout or a cancellation stops it with SIGTERM first, because git removes
its ``*.lock`` files on SIGTERM (almost always: a lock taken a moment before the signal can
stay) and never on SIGKILL; SIGKILL follows only if it (or something it started) does not
exit within a grace period. Either way the process is reaped before the caller sees the
error. Commands that must not be cut short use :func:`run_git_uncancelled`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from codeframe.core.cancel_shield import finish_then_reraise
from codeframe.errors import GitError, GitNotFoundError, GitTimeoutError, GitVersionError
from codeframe.testing.environment import is_secret_name

logger = logging.getLogger(__name__)

PathArg = str | os.PathLike[str]

# merge-tree --write-tree (a merge computed without a working tree) arrived in 2.38.
MIN_GIT_VERSION = (2, 38)
DEFAULT_TIMEOUT = 60.0
# How long git gets to remove its lock files after SIGTERM, and how long reaping may take.
_TERM_GRACE = 2.0
_REAP_TIMEOUT = 2.0
_GROUP_POLL = 0.02

# Settings for every call, whatever the user's configuration says: no hooks (user scripts
# must not run on every task commit, nor see model-written trees as their own), no automatic
# gc or maintenance in the background holding locks, no fsmonitor daemon per worktree, no
# signing prompt, output a program can parse.
SAFE_CONFIG: tuple[str, ...] = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "commit.gpgSign=false",
    "-c", "gc.auto=0",
    "-c", "maintenance.auto=false",
    "-c", "core.quotePath=false",
    "-c", "color.ui=false",
    "-c", "advice.detachedHead=false",
)  # fmt: skip

# Variables that point git at another repository, index or object store (the list of
# `git rev-parse --local-env-vars`): inherited from a hook or a shell, they would redirect
# every command we run.
_REPOSITORY_VARIABLES = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_INTERNAL_SUPER_PREFIX",
        "GIT_SHALLOW_FILE",
        "GIT_COMMON_DIR",
    }
)
_CONFIG_PAIR = re.compile(r"^GIT_CONFIG_(KEY|VALUE)_\d+$")
_VERSION = re.compile(r"git version (\d+)\.(\d+)(?:\.(\d+))?")

_FIXED_ENVIRONMENT = {
    # Messages we parse (refusals, conflicts) are in English whatever the user's locale.
    "LC_ALL": "C",
    "LANGUAGE": "C",
    # Never wait for a person: no credential prompt, no pager, no editor.
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
    "GIT_MERGE_AUTOEDIT": "no",
    # Read-only commands (status in the user's checkout) must not take index.lock.
    "GIT_OPTIONAL_LOCKS": "0",
}


@dataclass(frozen=True, slots=True)
class GitIdentity:
    """Author and committer of the commits codeframe makes.

    Applied through ``GIT_AUTHOR_*``/``GIT_COMMITTER_*`` on our own git calls only, so it
    works on a machine with no git configuration and never changes the user's.
    """

    name: str = "codeframe"
    email: str = "codeframe@localhost"

    def environment(self) -> dict[str, str]:
        """The variables that make git use this identity for author and committer."""
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


@dataclass(frozen=True, slots=True)
class GitResult:
    """What one git command returned; output is decoded UTF-8 (undecodable bytes escaped)."""

    returncode: int
    stdout: str
    stderr: str


def git_environment(
    base: Mapping[str, str] | None = None, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment git runs in: ``base`` (default ``os.environ``) made safe and quiet.

    Secrets are dropped (git needs none of them for local work), as are the variables that
    would point git at another repository; ``overrides`` (an identity, fixed dates) come last.
    """
    source = os.environ if base is None else base
    env = {
        name: value
        for name, value in source.items()
        if name not in _REPOSITORY_VARIABLES
        and _CONFIG_PAIR.match(name) is None
        and not is_secret_name(name)
    }
    env.update(_FIXED_ENVIRONMENT)
    if overrides:
        env.update(overrides)
    return env


async def run_git(
    *args: str,
    cwd: PathArg | None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,  # noqa: ASYNC109  # killing git needs the bound here
    check: bool = True,
    stdin: str | None = None,
) -> GitResult:
    """Run ``git <args>`` in ``cwd`` and return its result.

    ``env`` adds to (never replaces) the clean environment of :func:`git_environment`.
    With ``check`` a non-zero exit raises :class:`GitError`. A command still running after
    ``timeout`` seconds is killed and :class:`GitTimeoutError` raised; a cancelled call kills
    its command the same way and re-raises ``CancelledError``. ``stdin`` is fed to git's input.
    """
    spawning = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            "git", *SAFE_CONFIG, *args,
            cwd=cwd,
            env=git_environment(overrides=env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    )  # fmt: skip
    try:
        # Shielded: cancelled half way, asyncio would SIGKILL a git that may hold a lock.
        process = await asyncio.shield(spawning)
    except asyncio.CancelledError:
        await _stop_once_started(spawning)
        raise
    except FileNotFoundError as exc:
        if cwd is not None and not _is_folder(cwd):
            raise GitError(f"cannot run git in {os.fspath(cwd)}: no such folder") from exc
        raise GitNotFoundError(_NOT_FOUND) from exc
    data = None if stdin is None else stdin.encode()
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate(data)
    except TimeoutError:
        await asyncio.shield(_stop(process))
        raise GitTimeoutError(
            f"git {' '.join(args)} did not finish within {timeout:g} s and was killed",
            command=tuple(args),
        ) from None
    except BaseException:
        # Cancelled (or interrupted): git must not outlive the call, nor leave its locks.
        await asyncio.shield(_stop(process))
        raise
    returncode = process.returncode
    assert returncode is not None  # communicate() returns only after the exit
    result = GitResult(
        returncode, out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape")
    )
    if check and returncode != 0:
        raise command_error(args, result)
    return result


async def run_git_uncancelled(
    *args: str,
    cwd: PathArg | None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,  # noqa: ASYNC109  # passed on to run_git
    check: bool = True,
    stdin: str | None = None,
) -> GitResult:
    """:func:`run_git` for a command that must not be interrupted: a cancel waits for its end.

    For commands on shared state (the user's checkout, the integration branch, the list of
    worktrees): git removes its lock files on SIGTERM, but not reliably (a lock taken a
    moment before the signal can stay), and a checkout interrupted half way is left between
    two states. The command stays bounded by ``timeout``; ``CancelledError`` is re-raised
    once it has finished (its own failure, if any, is logged then).
    """
    return await finish_then_reraise(
        run_git(*args, cwd=cwd, env=env, timeout=timeout, check=check, stdin=stdin),
        what=f"git {' '.join(args)}",
    )


def command_error(args: tuple[str, ...], result: GitResult) -> GitError:
    """The :class:`GitError` for a failed command, with git's own words in the message."""
    said = result.stderr.strip() or result.stdout.strip() or "no message"
    return GitError(
        f"git {' '.join(args)} failed (exit {result.returncode}): {said}",
        command=tuple(args),
        returncode=result.returncode,
        stderr=result.stderr,
    )


async def _stop_once_started(spawning: asyncio.Future[asyncio.subprocess.Process]) -> None:
    """A cancel came while git was starting: let the start finish, then stop git our way."""
    while not spawning.done():
        try:
            await asyncio.shield(spawning)
        except asyncio.CancelledError:
            continue  # cancelled again; starting takes milliseconds, keep waiting for it
        except Exception as exc:
            logger.debug("git did not start (%s); nothing to stop", exc)
            return
    if not spawning.cancelled() and spawning.exception() is None:
        await asyncio.shield(_stop(spawning.result()))


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM git's group, give it a moment to remove its locks, then SIGKILL what is left."""
    pid = process.pid
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _TERM_GRACE
    if process.returncode is None:
        _signal_group(pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), _TERM_GRACE)
        except TimeoutError:
            logger.warning("git (pid %d) ignored SIGTERM for %.0f s; killing it", pid, _TERM_GRACE)
    # git's own children (`git worktree add` runs `git update-ref`, a filter, a hook) got the
    # SIGTERM too and may still be removing their locks: SIGKILL now would leave those behind.
    # Nothing signals that a process group has emptied, so poll, within the same grace period.
    while _group_exists(pid) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(_GROUP_POLL)
    _signal_group(pid, signal.SIGKILL)
    try:
        await asyncio.wait_for(process.wait(), _REAP_TIMEOUT)
    except TimeoutError:
        logger.warning("git (pid %d) has not exited %.0f s after SIGKILL", pid, _REAP_TIMEOUT)


def _group_exists(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting to be reaped aside)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False  # gone; EPERM: only zombies left (macOS)
    return _live_member(pgid)


def _live_member(pgid: int) -> bool:
    """Linux: scan /proc, as an orphaned zombie can wait a long time for init to reap it.

    Elsewhere there is no cheap way to tell, so the group counts as alive.
    """
    try:
        names = os.listdir("/proc")
    except OSError:
        return True
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[-1].split()
        except OSError:
            continue  # exited meanwhile
        # After the command name: state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False


def _is_folder(path: PathArg) -> bool:
    return os.path.isdir(path)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        logger.debug("git's process group %d is already gone", pgid)
    except PermissionError:
        # Only zombies left in the group (macOS answers EPERM then).
        logger.debug("git's process group %d: nothing left that we may signal", pgid)


_NOT_FOUND = "git is not installed or not on PATH; install git, or use isolation='shared'"


def parse_git_version(text: str) -> tuple[int, int, int]:
    """``(2, 39, 5)`` from ``git version 2.39.5`` (also ``2.39.5.windows.1``, ``2.40.GIT``)."""
    match = _VERSION.search(text)
    if match is None:
        raise GitVersionError(f"cannot read git's version from {text.strip()!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


async def require_git(
    min_version: tuple[int, ...] = MIN_GIT_VERSION,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109  # passed on to run_git
) -> tuple[int, int, int]:
    """The installed git's version; raises :class:`GitNotFoundError` or :class:`GitVersionError`."""
    result = await run_git("--version", cwd=None, timeout=timeout)
    version = parse_git_version(result.stdout)
    if version < tuple(min_version):
        wanted = ".".join(map(str, min_version))
        have = ".".join(map(str, version))
        raise GitVersionError(
            f"git {have} is too old: worktree isolation needs git >= {wanted} "
            "(for merge-tree --write-tree); upgrade git, or use isolation='shared'"
        )
    return version


__all__ = [
    "DEFAULT_TIMEOUT",
    "MIN_GIT_VERSION",
    "SAFE_CONFIG",
    "GitIdentity",
    "GitResult",
    "command_error",
    "git_environment",
    "parse_git_version",
    "require_git",
    "run_git",
    "run_git_uncancelled",
]
