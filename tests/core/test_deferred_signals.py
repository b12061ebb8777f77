"""SignalGuard: Python signal handlers held back while a critical section runs."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from codeframe.core.deferred_signals import SignalGuard


@pytest.fixture
def usr1_calls() -> Iterator[list[str]]:
    """A SIGUSR1 handler recording each call (and, once ``raise`` is appended, raising)."""
    calls: list[str] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        calls.append("usr1")
        if "raise" in calls:
            raise RuntimeError("usr1 handler")

    saved = signal.signal(signal.SIGUSR1, handler)
    yield calls
    signal.signal(signal.SIGUSR1, saved)


def test_a_deferred_sigint_is_delivered_when_the_block_ends_with_its_note() -> None:
    reached_the_end = False
    with pytest.raises(KeyboardInterrupt) as caught, SignalGuard(deferring=True) as guard:
        signal.raise_signal(signal.SIGINT)
        assert guard.held_back == 1
        guard.note = "the critical section finished"
        reached_the_end = True
    assert reached_the_end
    assert caught.value.__notes__ == ["the critical section finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_first_signal_switches_the_guard_to_deferring_before_it_raises() -> None:
    states: list[bool] = []
    with pytest.raises(KeyboardInterrupt) as caught, SignalGuard() as guard:
        try:
            signal.raise_signal(signal.SIGINT)  # open: raises here, at once
        except KeyboardInterrupt:
            states.append(guard.deferring)  # already set by the handler
            signal.raise_signal(signal.SIGINT)  # a second one, during "the rollback"
            states.append(guard.held_back == 1)
            guard.note = "rolled back"
        states.append(True)
    assert states == [True, True, True]
    assert caught.value.__notes__ == ["rolled back"]


def test_a_handler_that_does_not_raise_leaves_the_guard_open(usr1_calls: list[str]) -> None:
    with SignalGuard() as guard:
        signal.raise_signal(signal.SIGUSR1)
        assert usr1_calls == ["usr1"]
        assert not guard.deferring
        guard.deferring = True
        signal.raise_signal(signal.SIGUSR1)
        assert usr1_calls == ["usr1"]  # held back
    assert usr1_calls == ["usr1", "usr1"]  # delivered at the end


def test_a_signal_sent_by_an_open_handler_runs_right_after_it() -> None:
    """As a timer whose handler sends SIGINT: the interrupt must not wait for the block's end."""
    after_the_signal: list[str] = []
    saved = signal.signal(signal.SIGUSR2, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        with pytest.raises(KeyboardInterrupt), SignalGuard() as guard:
            signal.raise_signal(signal.SIGUSR2)
            after_the_signal.append("the block went on")
        assert guard.deferring  # the interrupt's rollback would run protected
        assert after_the_signal == []
    finally:
        signal.signal(signal.SIGUSR2, saved)


def test_every_held_signal_runs_and_the_last_error_wins(usr1_calls: list[str]) -> None:
    usr1_calls.append("raise")
    with pytest.raises(RuntimeError, match="usr1 handler") as caught, SignalGuard(deferring=True):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGUSR1)
    assert isinstance(caught.value.__context__, KeyboardInterrupt)
    assert usr1_calls == ["raise", "usr1"]


def test_handlers_are_restored_even_after_an_error_in_the_block(usr1_calls: list[str]) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGUSR1)}
    with pytest.raises(ValueError), SignalGuard():
        assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
        raise ValueError("boom")
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_off_the_main_thread_it_does_nothing() -> None:
    seen: list[object] = []

    def work() -> None:
        with SignalGuard(deferring=True) as guard:
            seen.append(signal.getsignal(signal.SIGINT))
            seen.append(guard.held_back)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=10)
    assert seen == [signal.default_int_handler, 0]
