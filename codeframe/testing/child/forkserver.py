"""The warm helper: pytest and its plugins imported once, a fresh fork for every run.

Started by the agent under the project's interpreter with the run's environment, from a
folder of its own; loaded by path (standard library only). It imports pytest and loads the
chosen plugins by running pytest once on an empty scratch folder (so the plugins are
imported exactly as in a real run, through pytest's assertion-rewriting hook, and no module
of the project is imported), then waits for requests on its control socket.

Each request carries the run's output pipe and channel socket. The helper checks that
nothing it was started from has changed (environment, plugin choice, the project's pytest
configuration and conftest files, the installed packages) and forks a run supervisor
(:mod:`reaper`) whose pytest child runs ``pytest_entry`` in-process, exactly as a cold run's
``python -c`` would; a pytest session is never reused. Otherwise it answers ``stale`` or
``unavailable`` and the agent runs cold.

The helper is a child subreaper too, so what a dead run supervisor leaves behind comes to
it and is killed. It exits when the agent closes the control socket or dies, or after
``idle`` seconds without a run.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import selectors
import signal
import socket
import sys
import tempfile
import time
import traceback
import types
from typing import Any, NoReturn

_CONFIG_FILES = (
    "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml",
    "pyproject.toml", "tox.ini", "setup.cfg",
)  # fmt: skip
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "build", "dist", "venv"})
_WALK_LIMIT = 20_000  # directory entries looked at for conftest files, at most
_REQUEST_SIZE = 1 << 20


def _load(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stat(path: str) -> list[int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_mtime_ns, info.st_size, info.st_ino]


def _conftests(root: str) -> list[Any]:
    """(path, stat) of every conftest.py under ``root``, skipping hidden, build and venv dirs."""
    found: list[Any] = []
    seen = 0
    stack = [root]
    while stack and seen < _WALK_LIMIT:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        seen += len(entries)
        names = {entry.name for entry in entries}
        if "pyvenv.cfg" in names and folder != root:
            continue  # a virtual environment inside the project
        for entry in entries:
            if entry.name == "conftest.py":
                found.append([entry.path, _stat(entry.path)])
            elif (
                entry.is_dir(follow_symlinks=False)
                and not entry.name.startswith(".")
                and entry.name not in _SKIP_DIRS
                and not entry.name.endswith(".egg-info")
            ):
                stack.append(entry.path)
    return sorted(found)


def fingerprint(root: str) -> dict[str, Any]:
    """What a warm helper's imports depend on: if any of it changes, the helper is stale."""
    inside = os.path.join(root, "")
    packages = [
        [entry, _stat(entry)]
        for entry in sys.path
        if entry and os.path.isdir(entry) and not os.path.abspath(entry).startswith(inside)
    ]
    return {
        "config": [[name, _stat(os.path.join(root, name))] for name in _CONFIG_FILES],
        "conftest": _conftests(root),
        "packages": packages,
    }


def warm_up(preload: list[str]) -> str | None:
    """Import pytest and the chosen plugins through a throwaway run; the error if it fails."""
    saved_path, saved_env, saved_cwd = list(sys.path), dict(os.environ), os.getcwd()
    try:
        import pytest

        with tempfile.TemporaryDirectory(prefix="codeframe-warm-") as scratch:
            ini = os.path.join(scratch, "pytest.ini")
            with open(ini, "w") as config:
                config.write("[pytest]\n")
            os.chdir(scratch)
            args = ["-q", "-p", "no:cacheprovider", "--co", "-c", ini, "--rootdir", scratch]
            code = pytest.main([*args, *preload, scratch])
        if int(code) != 5:  # 5: no tests collected, which is all an empty folder can give
            return f"pytest's warm-up run ended with exit code {int(code)}"
        return None
    except BaseException:
        return "pytest's warm-up failed:\n" + traceback.format_exc(limit=5)
    finally:
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_env)


def _exit_code(code: object) -> int:
    """The status an interpreter exits with for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _finish(code: int) -> int:
    """What interpreter shutdown does before exit: join threads, run atexit, flush."""
    threading = sys.modules.get("threading")
    try:
        if threading is not None:
            threading._shutdown()
    except BaseException:
        traceback.print_exc()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed stream at exit is the test's doing
            stream.flush()
    return code


def run_in_process(request: dict[str, Any], entry: types.CodeType, reaper: Any) -> Any:
    """A start function that runs the pytest entry in this (forked) process."""

    def start(errors: int) -> NoReturn:
        code = 1
        try:
            os.close(errors)  # nothing to exec: we are running
            reaper.reset_signals()
            os.chdir(request["cwd"])
            importlib.invalidate_caches()  # the folder may have changed since the helper looked
            sys.argv = ["-c", *request["args"]]
            main = types.ModuleType("__main__")
            sys.modules["__main__"] = main
            try:
                exec(entry, main.__dict__)
                code = 0
            except SystemExit as exc:
                code = _exit_code(exc.code)
            except BaseException:
                traceback.print_exc()
                code = 1
            code = _finish(code)
        finally:
            os._exit(code)

    return start


class Helper:
    """Serves run requests until the agent is gone or the helper has been idle too long."""

    def __init__(
        self, control: socket.socket, reaper: Any, entry: str, idle: float, preload: list[str]
    ) -> None:
        self.control = control
        self.reaper = reaper
        self.idle = idle
        self.preload = preload
        self.root = os.getcwd()
        self.agent = reaper.watch_process(os.getppid())
        self.running: set[int] = set()
        self.unavailable: str | None = None
        self.baseline: dict[str, Any] = {}
        self.env = dict(os.environ)
        with open(entry, "rb") as source:
            self.entry = compile(source.read(), "<string>", "exec")

    def prepare(self) -> None:
        self.unavailable = warm_up(self.preload) or _threads_running()
        self.baseline = fingerprint(self.root)
        # What is imported now lives as long as every child: keeping the collector off it
        # halves a fork's run (no scan of the whole heap, no copy-on-write of its pages).
        gc.collect()
        gc.freeze()

    def serve(self) -> None:
        self.reaper.become_subreaper()
        wakeup = self.reaper.Wakeup()
        children = self.reaper.Children()
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ, "request")
        selector.register(wakeup.read_fd, selectors.EVENT_READ, "wakeup")
        if self.agent is not None:
            selector.register(self.agent, selectors.EVENT_READ, "agent")
        last_active = time.monotonic()
        accepting = True
        deadline: float | None = None  # once the agent is gone: how long its runs may take
        while accepting or self.running:
            if deadline is not None and time.monotonic() > deadline:
                break
            wait = last_active + self.idle - time.monotonic() if accepting else 1.0
            events = selector.select(timeout=min(max(wait, 0.0), 1.0))
            for key, _ in events:
                if key.data == "request" and not self._handle(wakeup, children):
                    accepting = False  # the agent retired us: finish the runs in flight
                    selector.unregister(self.control)
                elif key.data == "wakeup":
                    wakeup.drain()
                    children.reap()
                    self.running -= set(children.ended)
                    self._kill_strays()
                elif key.data == "agent":
                    wakeup.stop_signal = signal.SIGTERM
            if wakeup.stop_signal is not None and deadline is None:
                # The agent died (or we were told to stop): every run ends now.
                accepting = False
                deadline = time.monotonic() + 2 * self.reaper.KILL_BOUND
                self._signal_runs(signal.SIGTERM)  # each kills its run, then exits
            if self.running or events:
                last_active = time.monotonic()
            elif accepting and time.monotonic() - last_active >= self.idle:
                break
        selector.close()
        self.reaper.kill_all_below(children, wakeup, None)

    def _handle(self, wakeup: Any, children: Any) -> bool:
        """Serve one request; False once the agent has closed the control socket."""
        try:
            data, fds, _, _ = socket.recv_fds(self.control, _REQUEST_SIZE, 2)
        except OSError:
            return False
        if not data:
            return False
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return True
        out_w, channel_fd = fds
        channel = socket.socket(fileno=channel_fd)
        try:
            try:
                request = json.loads(data)
            except ValueError:
                request = {}
            if not isinstance(request, dict):
                request = {}  # refused below: its environment cannot match ours
            refusal = self._refusal(request)
            if refusal is not None:
                self.reaper.send(channel, refusal)
                return True
            pid = os.fork()
            if pid == 0:
                self._supervise(request, channel, out_w, wakeup)
            children.watched.add(pid)
            self.running.add(pid)
        finally:
            channel.close()
            os.close(out_w)
        return True

    def _refusal(self, request: dict[str, Any]) -> dict[str, Any] | None:
        if self.unavailable is not None:
            return {"event": "unavailable", "reason": self.unavailable}
        if request.get("env") != self.env or request.get("preload") != self.preload:
            return {"event": "stale", "reason": "the run's environment or plugins changed"}
        if request.get("cwd") != self.root:
            return {"event": "stale", "reason": "another project root"}
        now = fingerprint(self.root)
        for part in ("config", "conftest", "packages"):
            if now[part] != self.baseline[part]:
                return {"event": "stale", "reason": f"{part} files changed"}
        return None

    def _supervise(
        self, request: dict[str, Any], channel: socket.socket, out_w: int, wakeup: Any
    ) -> NoReturn:
        """The forked run supervisor: supervise one run, then exit without unwinding."""
        code = 0
        try:
            self.control.close()
            for fd in (wakeup.read_fd, wakeup.write_fd):
                os.close(fd)
            os.dup2(out_w, 2)  # a fault of ours shows in the run's output, as in a cold run
            start = run_in_process(request, self.entry, self.reaper)
            self.reaper.supervise(channel, out_w, start, self.agent)
        except BaseException:
            traceback.print_exc()
            code = 70
        finally:
            os._exit(code)

    def _signal_runs(self, number: int) -> None:
        for pid in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, number)

    def _kill_strays(self) -> None:
        """Kill what a dead run supervisor left behind (it was re-parented to us)."""
        me = os.getpid()
        for pid in self.reaper.descendants(me) if self.reaper.IS_LINUX else ():
            if pid not in self.running and _parent_of(pid) == me:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _threads_running() -> str | None:
    """Forking a process with threads is unsafe: a plugin that starts one rules warm runs out."""
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threading = sys.modules.get("threading")
        threads = threading.active_count() if threading is not None else 1
    if threads > 1:
        return f"the helper runs {threads} threads after loading the plugins; forking is unsafe"
    return None


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def main(argv: list[str]) -> None:
    """``forkserver.py REAPER_PATH ENTRY_PATH CONTROL_FD IDLE_SECONDS PRELOAD_JSON``."""
    reaper = _load("_codeframe_reaper", argv[1])
    control = socket.socket(fileno=int(argv[3]))
    helper = Helper(control, reaper, argv[2], float(argv[4]), json.loads(argv[5]))
    helper.prepare()
    try:
        helper.serve()
    finally:
        control.close()
