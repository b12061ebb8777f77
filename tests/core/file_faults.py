"""Shared pieces of the file-change fault tests: a small world, its snapshot, a group that
exercises every kind of step, and an injector that raises at the k-th filesystem call.

Trial counts are small by default so ``tests/core`` stays fast; a long run sets
``CODEFRAME_FAULT_TRIALS`` (trials of the cheapest test; the costly ones run a fraction of
it) and, to collect the figures, ``CODEFRAME_FAULT_REPORT`` (a JSON-lines file).
``CODEFRAME_FAULT_SEED`` shifts every seed, so a failure is reproduced by its seed alone.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

# The os functions the file-change code calls (directly or through os.path and shutil).
PATCHED = (
    "open",
    "write",
    "close",
    "fsync",
    "fdatasync",
    "fchmod",
    "link",
    "replace",
    "mkdir",
    "rmdir",
    "unlink",
    "stat",
    "lstat",
    "listdir",
)


def trials(default: int, cost: int = 1) -> int:
    """``default``, or ``CODEFRAME_FAULT_TRIALS // cost`` (at least ``default``) when set."""
    wanted = os.environ.get("CODEFRAME_FAULT_TRIALS")
    return max(default, int(wanted) // cost) if wanted else default


def seed_base() -> int:
    return int(os.environ.get("CODEFRAME_FAULT_SEED", "0"))


def report(name: str, counts: Counter[str], **extra: Any) -> None:
    """Print the tally (shown with ``-s``/``-rA``) and append it to the report file if set."""
    line = {"test": name, "trials": sum(counts.values()), "outcomes": dict(counts), **extra}
    print(json.dumps(line))
    target = os.environ.get("CODEFRAME_FAULT_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


FILES = {
    "app.py": ("print('app')\n", 0o644),
    "run.sh": ("#!/bin/sh\n", 0o751),
    "pkg/__init__.py": ("", 0o644),
    "pkg/mod.py": ("X = 1\n", 0o600),
    "pkg/util.py": ("def f():\n    pass\n", 0o644),
    "docs/readme.md": ("# readme\n", 0o644),
    "tests/test_app.py": ("def test_x():\n    pass\n", 0o644),
}

# Every kind of step: new folders (nested, shared), new files, a replaced file keeping its
# mode, a write through an in-tree link, a create over an existing file, deletes of a
# file and of a link.
GROUP = [
    {"path": "src/deep/new_mod.py", "action": "create", "content": "def g():\n    return 1\n"},
    {"path": "src/deep/second.py", "action": "create", "content": ""},
    {"path": "src/other/x/y.py", "action": "create", "content": "Y = 2\n"},
    {"path": "run.sh", "action": "modify", "content": "#!/bin/sh\necho hi\n"},
    {"path": "alias.py", "action": "modify", "content": "print('via link')\n"},
    {"path": "pkg/util.py", "action": "create", "content": "def f():\n    return 2\n"},
    {"path": "pkg/__init__.py", "action": "modify", "content": "from .util import f\n"},
    {"path": "pkg/link.py", "action": "delete"},
    {"path": "docs/readme.md", "action": "delete"},
    {"path": "tests/test_new.py", "action": "create", "content": "def test_y():\n    pass\n"},
]


def build_world(base: Path) -> Path:
    """``base/project`` (the root) with files, modes and links, beside ``base/outside``."""
    root = base / "project"
    for rel, (text, mode) in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    (root / "alias.py").symlink_to("app.py")
    (root / "pkg" / "link.py").symlink_to("mod.py")
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_text("secret\n")
    (root / "escape").symlink_to("../outside", target_is_directory=True)
    return root


def snapshot(base: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``base`` (links not followed): content and mode, or link target."""
    found: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, base)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                with open(path, "rb") as handle:
                    found[rel] = ("file", handle.read(), stat.S_IMODE(info.st_mode))
    return found


class FaultInjector:
    """Counts calls to the :data:`PATCHED` os functions; at chosen call numbers it raises.

    A fault is ``"before"`` (KeyboardInterrupt instead of the call), ``"after"`` (the call
    happens, then KeyboardInterrupt - the interrupt between a syscall and the line after it)
    or ``"oserror"`` (an I/O error instead of the call).
    """

    def __init__(self, faults: dict[int, str] | None = None) -> None:
        self.faults = faults or {}
        self.calls = 0
        self.trace: list[str] = []  # the name of every call, in order
        self.hits: list[tuple[int, str, str]] = []
        self._stranded: list[int] = []

    @contextmanager
    def armed(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultInjector]:
        reals = {name: getattr(os, name) for name in PATCHED}
        with monkeypatch.context() as patch:
            for name, real in reals.items():
                patch.setattr(os, name, self._wrap(name, real))
            yield self
        for fd in self._stranded:  # descriptors a fault took from the code: test hygiene
            with suppress(OSError):
                os.close(fd)

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.trace.append(name)
            fault = self.faults.get(self.calls)
            if fault is None:
                return real(*args, **kwargs)
            self.hits.append((self.calls, name, fault))
            if fault == "oserror":
                raise OSError(errno.EIO, f"Input/output error (injected in os.{name})")
            if fault == "before":
                if name == "close":
                    self._stranded.append(args[0])
                raise KeyboardInterrupt(f"injected before os.{name}")
            result = real(*args, **kwargs)
            if name == "open":
                self._stranded.append(result)  # the caller never receives it
            raise KeyboardInterrupt(f"injected after os.{name}")

        return call


def notes(exc: BaseException | None) -> str:
    return "\n".join(getattr(exc, "__notes__", [])) if exc is not None else ""
