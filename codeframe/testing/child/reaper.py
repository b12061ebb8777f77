"""Supervise one pytest run and answer for every process it starts.

Runs in a child of the agent (standard library only, loaded by path). The process tree::

    agent ── supervisor (this; a child subreaper) ── shim ── pytest ── the tests' processes

Why each layer:

- The supervisor makes itself the *child subreaper* of everything below it
  (``prctl(PR_SET_CHILD_SUBREAPER)``, Linux 3.4+, no privileges needed). A process that
  leaves pytest's session (``setsid``) or double-forks into a daemon is re-parented to the
  supervisor rather than to init, so it stays findable: when the run ends the supervisor
  SIGKILLs every process below it (found through ``/proc``) and reaps until it has no child
  left, which for a subreaper means nothing of the run is left.
- The shim is pytest's parent, so a test that signals ``os.getppid()`` hits the shim, not
  the agent (a notebook kernel) or the supervisor. The supervisor sees the shim die and says
  so. The shim and pytest both carry a parent-death SIGKILL, and the shim leads its own
  process group, so a test's ``killpg`` cannot reach the supervisor either.
- The supervisor watches the agent through a pidfd and the end of its channel: when the
  agent dies, even by SIGKILL, the supervisor kills the run and exits. (A pidfd also sees
  the death when a fork of the agent still holds the channel open.)

Why a subreaper: it needs no privilege and works the same on a desktop, in CI and in a
container. A cgroup v2 of our own with ``cgroup.kill`` is stronger (nothing can leave it)
but needs a writable cgroup tree: root has one here, a desktop user only inside a
systemd-delegated subtree, an unprivileged container usually none, so it cannot be the
mechanism everywhere. A pidfd names one process, not its descendants, so pidfds only watch
the agent. The remaining gap is a test that deliberately finds and SIGKILLs the supervisor
(its grandparent): the shim and pytest die with it, their other children go to init.
Without a subreaper (not Linux) the supervisor falls back to killing the shim's process
group, which is all that can be named there.

The supervisor writes JSON lines to the agent over the channel socket: ``started`` once
pytest is forked and ``done`` once nothing of the run is left. The agent ends a run early by
writing anything (``stop``) or by closing its end.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

IS_LINUX = sys.platform.startswith("linux")
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
# How long killing what a run left behind may take before the survivors are reported.
KILL_BOUND = 5.0
_libc: Any = None

Start = Callable[[int], NoReturn]
"""Runs in the pytest process; writes why it could not start to the given descriptor."""


def _prctl(option: int, value: int) -> bool:
    global _libc
    if not IS_LINUX:
        return False
    try:
        if _libc is None:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
        return bool(_libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Adopt every orphan below this process; False where the kernel cannot."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when ``parent`` dies; exit at once if it already has."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def watch_process(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` ends (a pidfd), or None if unsupported."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def descendants(ancestor: int) -> list[int]:
    """Every process below ``ancestor``, read from ``/proc`` (empty where there is none)."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open("/proc/" + name + "/stat", "rb") as stat:
                # The command name may hold spaces and parentheses; fields follow the last ")".
                fields = stat.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(name))
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    found: list[int] = []
    stack = [ancestor]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found


class Wakeup:
    """Turns SIGCHLD and stop signals into a readable descriptor for ``select``."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self.stop_signal: int | None = None
        signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, self._ignore)
        # A test may signal us by mistake; it ends the run cleanly instead of killing us.
        for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(number, self._note_stop)

    def _ignore(self, number: int, frame: object) -> None:
        """The wakeup descriptor does the work; the handler only has to exist."""

    def _note_stop(self, number: int, frame: object) -> None:
        self.stop_signal = number

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 512):
                pass
        except BlockingIOError:
            return

    def wait(self, timeout: float) -> None:
        selector = selectors.DefaultSelector()
        try:
            selector.register(self.read_fd, selectors.EVENT_READ)
            selector.select(timeout)
        finally:
            selector.close()
        self.drain()


def reset_signals() -> None:
    """Give a forked child the signal handling a fresh interpreter starts with."""
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


class Children:
    """Reaps this process's children and keeps the wait status of the ones it watches."""

    def __init__(self) -> None:
        self.watched: set[int] = set()
        self.ended: dict[int, int] = {}

    def reap(self) -> bool:
        """Collect every child that has ended; False once no child is left at all."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if pid in self.watched:
                self.ended[pid] = status


def kill_all_below(children: Children, wakeup: Wakeup, group: int | None) -> list[int]:
    """SIGKILL and reap every process below this one; returns those still alive at the bound."""
    if group is not None:
        with contextlib.suppress(OSError):  # the group is already empty
            os.killpg(group, signal.SIGKILL)
    me = os.getpid()
    deadline = time.monotonic() + KILL_BOUND
    while True:
        # Each round kills what it sees; orphans of the killed come to us and are seen next.
        for pid in descendants(me) if IS_LINUX else ():
            with contextlib.suppress(OSError):  # gone already
                os.kill(pid, signal.SIGKILL)
        if not children.reap():
            return []
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return descendants(me)
        wakeup.wait(min(remaining, 0.05))


def _keep_only(keep: int) -> None:
    """Close every descriptor above 2 except ``keep`` (the helper may hold many)."""
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        os.closerange(3, keep)
        os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
        return
    for fd in open_fds:
        if fd > 2 and fd != keep:
            with contextlib.suppress(OSError):  # e.g. the descriptor listdir itself used
                os.close(fd)


def _plumb(out_fd: int) -> None:
    """stdin from /dev/null, stdout and stderr into the run's output pipe."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    if null > 2:
        os.close(null)


def _shim(supervisor: int, status_w: int, out_fd: int, start: Start) -> NoReturn:
    """pytest's parent: forks it, waits for it and writes how it ended to ``status_w``."""
    code = 70
    try:
        os.setpgid(0, 0)
        die_with_parent(supervisor)
        reset_signals()
        # Only a test signals pytest's parent; SIGINT must end us by the signal, as SIGTERM
        # does, so the supervisor sees it was the test's doing (a KeyboardInterrupt here
        # would end us with a plain exit code instead).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _plumb(out_fd)
        _keep_only(status_w)
        error_r, error_w = os.pipe()  # close-on-exec: empty and closed once exec succeeds
        shim = os.getpid()
        pytest = os.fork()
        if pytest == 0:
            os.close(error_r)
            os.close(status_w)
            die_with_parent(shim)
            start(error_w)
        os.close(error_w)
        error = _read_all(error_r)
        _, status = os.waitpid(pytest, 0)
        if error:
            line = "exec-error " + error.decode("utf-8", "replace")
        elif os.WIFSIGNALED(status):
            line = f"signal {os.WTERMSIG(status)}"
        else:
            line = f"exit {os.WEXITSTATUS(status)}"
        os.write(status_w, line.encode() + b"\n")
        code = 0
    finally:
        os._exit(code)  # never unwind into the supervisor's code in this forked copy


def _read_all(fd: int) -> bytes:
    """Everything up to the end of the pipe (or, if it does not block, all there is now)."""
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass  # a survivor still holds the other end: what is there is all we get
    os.close(fd)
    return b"".join(chunks)


def send(channel: socket.socket, message: dict[str, Any]) -> None:
    """One JSON line to the agent; a gone agent is not an error (nobody is left to tell)."""
    try:
        channel.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        return


def _describe(shim_status: int | None, report: bytes) -> dict[str, Any]:
    """How pytest ended, from the shim's wait status and the line it wrote."""
    words = report.decode("utf-8", "replace").strip().split(" ", 1)
    if shim_status is not None and os.WIFSIGNALED(shim_status):
        return {"parent_signal": os.WTERMSIG(shim_status)}
    if words[0] == "exit" and len(words) == 2:
        return {"exit_code": int(words[1])}
    if words[0] == "signal" and len(words) == 2:
        return {"signal": int(words[1])}
    if words[0] == "exec-error":
        return {"exec_error": words[1] if len(words) == 2 else "unknown error"}
    code = None if shim_status is None else os.WEXITSTATUS(shim_status)
    return {"lost": f"pytest's parent process ended (code {code}) without saying how pytest did"}


def supervise(channel: socket.socket, out_fd: int, start: Start, agent: int | None) -> None:
    """Run ``start`` under a shim, relay how it ended, and leave no process behind.

    ``agent`` is a pidfd of the agent process, or None on kernels without pidfds (before
    5.3), where the end of the channel is the only sign of the agent's death.
    """
    subreaper = become_subreaper()
    wakeup = Wakeup()
    children = Children()
    status_r, status_w = os.pipe()
    me = os.getpid()
    try:
        shim = os.fork()
    except OSError as exc:
        send(channel, {"event": "done", "lost": f"cannot fork pytest's parent: {exc}"})
        return
    if shim == 0:
        _shim(me, status_w, out_fd, start)
    os.close(status_w)
    os.set_blocking(status_r, False)
    children.watched.add(shim)
    send(channel, {"event": "started", "supervisor": me, "shim": shim, "subreaper": subreaper})
    selector = selectors.DefaultSelector()
    selector.register(channel, selectors.EVENT_READ, "agent")
    selector.register(status_r, selectors.EVENT_READ, "status")
    selector.register(wakeup.read_fd, selectors.EVENT_READ, "wakeup")
    if agent is not None:
        selector.register(agent, selectors.EVENT_READ, "agent-exit")
    report = b""
    stopped: str | None = None
    while stopped is None and shim not in children.ended:
        for key, _ in selector.select(timeout=1.0):
            if key.data == "agent":
                stopped = "requested" if _recv(channel) else "agent gone"
            elif key.data == "status":
                chunk = os.read(status_r, 4096)
                report += chunk
                if not chunk:
                    selector.unregister(status_r)
            elif key.data == "wakeup":
                wakeup.drain()
            else:
                stopped = "agent gone"
        children.reap()
        if wakeup.stop_signal is not None:
            stopped = f"signal {wakeup.stop_signal}"
    selector.close()
    survivors = kill_all_below(children, wakeup, None if subreaper else shim)
    report += _read_all(status_r)
    message: dict[str, Any] = {"event": "done", "survivors": survivors}
    if stopped is not None:
        message["stopped"] = stopped
    else:
        message.update(_describe(children.ended.get(shim), report))
    send(channel, message)


def _recv(channel: socket.socket) -> bytes:
    try:
        return channel.recv(4096)
    except OSError:
        return b""


def exec_command(argv: list[str]) -> Start:
    """A :data:`Start` that replaces the pytest process with ``argv`` (a cold run)."""

    def start(errors: int) -> NoReturn:
        code = 127
        try:
            reset_signals()
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(errors, f"[Errno {exc.errno}] {exc.strerror}".encode())
        finally:
            os._exit(code)

    return start


def main(argv: list[str]) -> None:
    """``reaper.py CHANNEL_FD -- COMMAND...``: the supervisor of one cold run."""
    channel = socket.socket(fileno=int(argv[1]))
    command = argv[argv.index("--") + 1 :]
    parent = os.getppid()
    agent = watch_process(parent)
    if os.getppid() != parent:  # the agent died before we could watch it
        return
    try:
        supervise(channel, 1, exec_command(command), agent)
    finally:
        channel.close()


if __name__ == "__main__":
    main(sys.argv)
