"""Helpers for tests that start real processes: small projects, and waiting for deaths."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import textwrap
import time
from collections.abc import Iterable
from pathlib import Path


def make_project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return not sys.platform.startswith("linux")
    return state != "Z"  # a zombie is dead, only not yet reaped by init


async def is_gone(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` is dead, polling for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def wait_for_file(path: Path, within: float = 30.0) -> str:
    """The text of ``path`` once something has written it (atomically), within a bound."""
    deadline = time.monotonic() + within
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} was not written within {within:g} s")
        await asyncio.sleep(0.02)
    return path.read_text()


def pids_in(files: Iterable[Path]) -> list[int]:
    return [int(pid) for path in files if path.exists() for pid in path.read_text().split()]


def kill_quietly(pids: Iterable[int]) -> None:
    """Tidy up after a failing test: processes it meant to see killed."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def child_env(temp: Path | None = None) -> dict[str, str]:
    """Our environment without the Claude key, for a child interpreter playing the agent.

    ``temp`` becomes its TMPDIR: an agent a test kills leaves its run's report folder there.
    """
    env = {name: value for name, value in os.environ.items() if name != "ANTHROPIC_API_KEY"}
    if temp is not None:
        env["TMPDIR"] = str(temp)
    return env


def descendants(ancestor: int) -> list[int]:
    """Every process below ``ancestor`` now, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [ancestor]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found
