"""Hold back Python signal handlers while a short critical section runs, then run them.

A Python-level signal handler (``KeyboardInterrupt`` from Ctrl-C, a test timeout's SIGALRM,
a SIGTERM handler calling ``sys.exit``) runs between two bytecodes of the main thread, so it
can raise in the middle of anything - including the rollback that an earlier exception
started, or the clean-up after a commit. :class:`SignalGuard` wraps every Python handler for
the life of a ``with`` block and lets them run normally until the block switches to
*deferring*; from then on each arriving signal is recorded and its handler runs when the
block exits, in arrival order.

Two details make the switch itself safe:

* the first handler that runs while the guard is open switches it to deferring *before* it
  runs, so the exception it raises starts a rollback that no second signal can interrupt;
* the code switches it with a plain attribute store (``guard.deferring = True``), never a
  method call: CPython runs signal handlers only at calls and backward jumps, so nothing can
  run between an ``except`` clause catching an error and that store.

Python runs signal handlers only in the main thread, so elsewhere the guard does nothing:
no handler can interrupt a thread that is not the main one.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

logger = logging.getLogger(__name__)

Handler = Callable[[int, FrameType | None], Any]

# Computed once: valid_signals() builds enum members on every call (~0.1 ms).
_UNCATCHABLE = {getattr(signal, name, None) for name in ("SIGKILL", "SIGSTOP")}
_SIGNALS = tuple(int(signum) for signum in signal.valid_signals() if signum not in _UNCATCHABLE)

# The C functions under ``signal``'s wrappers, which turn every number and handler into an
# enum member and back: a guard looks at every signal, and through the wrappers that was
# 120 µs of each file-change group; here it is 2 µs. Same handlers, same semantics.
_c_signal = importlib.import_module("_signal")
_getsignal: Callable[[int], object] = _c_signal.getsignal
_setsignal: Callable[[int, object], object] = _c_signal.signal


class SignalGuard:
    """Wrap the process's Python signal handlers; defer them once ``deferring`` is set.

    ``note`` (if set) is added to any exception that a deferred handler raises on exit, so
    the caller learns what state the critical section left behind.
    """

    __slots__ = ("_done", "_originals", "_pending", "deferring", "note")

    def __init__(self, *, deferring: bool = False) -> None:
        self.deferring = deferring
        self.note: str | None = None
        self._done = False
        self._originals: dict[int, Handler] = {}
        self._pending: list[tuple[int, FrameType | None]] = []

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        try:
            for signum in _SIGNALS:
                handler = _getsignal(signum)
                if not callable(handler):  # SIG_DFL, SIG_IGN, or set outside Python
                    continue
                # Recorded before it is replaced, so _handle always finds the original.
                self._originals[signum] = handler
                try:
                    _setsignal(signum, self._handle)
                except (OSError, ValueError):  # not settable here (another interpreter)
                    del self._originals[signum]
        except BaseException:
            # A handler raised while we were still wrapping: nothing is protected yet.
            self._done = True
            self._restore()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.deferring = True
        try:
            self._restore()
        finally:
            # Any wrapper still installed (if restoring was cut short) now just forwards.
            self._done = True
            self._replay()

    @property
    def held_back(self) -> int:
        """How many signals arrived while deferring and are waiting for the block's end."""
        return len(self._pending)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._done:
            self._forward(signum, frame)
            return
        if self.deferring:
            self._pending.append((signum, frame))
            return
        # Switch first: the exception the handler raises must find the guard deferring.
        self.deferring = True
        self._forward(signum, frame)
        # It did not raise (asyncio's first Ctrl-C, say). Signals that arrived while it ran
        # get their turn now, as they would have without the guard - if one raises, the
        # guard stays deferring for the rollback that exception starts.
        while self._pending:
            signum, frame = self._pending.pop(0)
            self._forward(signum, frame)
        self.deferring = False

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        handler = self._originals.get(signum)
        if handler is not None:
            handler(signum, frame)
        elif signum == signal.SIGINT:
            signal.default_int_handler(signum, frame)

    def _restore(self) -> None:
        for signum, handler in self._originals.items():
            try:
                _setsignal(signum, handler)
            except (OSError, ValueError) as exc:
                logger.error("could not restore the handler of signal %d: %s", signum, exc)

    def _replay(self) -> None:
        pending, self._pending = self._pending, []
        # Every handler runs once per signal, as CPython would have run them; if several
        # raise, the last one propagates with the earlier ones as its context.
        error: BaseException | None = None
        for signum, frame in pending:
            try:
                self._forward(signum, frame)
            except BaseException as exc:
                if error is not None and exc.__context__ is None:
                    exc.__context__ = error
                error = exc
        if error is not None:
            if self.note:
                error.add_note(self.note)
            raise error


__all__ = ["SignalGuard"]
