"""A real SIGINT at a random moment of a 1,500-change group, on the main thread.

``signal.setitimer`` fires SIGALRM at a seeded random delay; its handler sends the process
a SIGINT, whose handler (``signal.default_int_handler``) raises ``KeyboardInterrupt``
wherever the main thread is - the way Ctrl-C reaches a notebook. After every trial the tree
is exactly as before or exactly the applied group, nothing of ours is left, and a noted
exception says which.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from codeframe.core.file_changes import apply_file_changes
from codeframe.core.file_journal import APPLIED_NOTE, ROLLED_BACK_NOTE
from tests.core.file_faults import notes, report, seed_base, snapshot, trials

EACH = 500  # creates, modifies and deletes: 1,500 changes


def build_big_world(base: Path) -> Path:
    root = base / "project"
    for folder in ("mod", "old"):
        (root / folder).mkdir(parents=True)
    for index in range(EACH):
        (root / "mod" / f"m{index}.py").write_text(f"M = {index}\n")
        (root / "old" / f"d{index}.py").write_text(f"D = {index}\n")
    return root


BIG_GROUP: list[dict[str, str]] = [
    *(
        {"path": f"new/p{i // 50}/n{i}.py", "action": "create", "content": f"N = {i}\n"}
        for i in range(EACH)
    ),
    *({"path": f"mod/m{i}.py", "action": "modify", "content": f"M = -{i}\n"} for i in range(EACH)),
    *({"path": f"old/d{i}.py", "action": "delete"} for i in range(EACH)),
]


@pytest.fixture
def sigalrm_sends_sigint() -> Iterator[None]:
    """Route SIGALRM to a real SIGINT; put back pytest-timeout's handler and timer after."""
    assert threading.current_thread() is threading.main_thread()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def send_sigint(signum: int, frame: FrameType | None) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    saved_handler = signal.signal(signal.SIGALRM, send_sigint)
    saved_timer, started = signal.getitimer(signal.ITIMER_REAL), time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, saved_handler)
        if saved_timer[0]:
            left = max(saved_timer[0] - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, saved_timer[1])


def interrupted_apply(root: Path, delay: float) -> tuple[bool, BaseException | None]:
    """Apply with an alarm set ``delay`` seconds ahead; (returned normally, what was raised)."""
    returned, raised = False, None
    try:
        signal.setitimer(signal.ITIMER_REAL, delay)
        apply_file_changes(root, BIG_GROUP)
        returned = True
        signal.setitimer(signal.ITIMER_REAL, 0)
    except KeyboardInterrupt as exc:
        raised = exc
    return returned, raised


def timed_reference(base: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[float, float]:
    """Seconds from the call to its first write (the journal folder's mkdir), and to its end."""
    root = build_big_world(base)
    real_mkdir, first_write = os.mkdir, list[float]()

    def mkdir(*args: Any, **kwargs: Any) -> None:
        first_write.append(first_write[0] if first_write else time.perf_counter())
        real_mkdir(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, "mkdir", mkdir)
        started = time.perf_counter()
        apply_file_changes(root, BIG_GROUP)
        ended = time.perf_counter()
    return first_write[0] - started, ended - started


@pytest.mark.usefixtures("sigalrm_sends_sigint")
def test_sigint_at_a_random_moment_of_a_big_group(
    fault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = fault_dir / "reference"
    before = snapshot(build_big_world(reference).parent)
    validating, whole = timed_reference(fault_dir / "timed", monkeypatch)
    apply_file_changes(reference / "project", BIG_GROUP)
    applied = snapshot(reference)

    outcomes: Counter[str] = Counter()
    for index in range(trials(4, cost=100)):
        seed = seed_base() + index
        rng = random.Random(f"sigint-{seed}")
        # Mostly inside the writing phases; now and then anywhere, or just after the end.
        # (Timings drift from the reference run; the outcomes below are counted, not aimed.)
        if rng.random() < 0.8:
            delay = validating + rng.random() * (whole - validating)
        else:
            delay = rng.random() * whole * 1.2
        base = fault_dir / f"t{index:04}"
        root = build_big_world(base)
        returned, raised = interrupted_apply(root, max(delay, 1e-6))
        said = notes(raised)
        context = f"seed {seed}: SIGINT after {delay:.4f}s, raised {raised!r}, {said}"
        after = snapshot(base)
        if returned or APPLIED_NOTE in said:
            assert after == applied, context
            outcome = "applied" if not raised else "applied, then interrupted (noted)"
        elif ROLLED_BACK_NOTE in said:
            assert after == before, context
            outcome = "rolled back (noted)"
        else:
            # No note: the interrupt came before the first write or after the guard closed.
            assert after in (before, applied), context
            outcome = "before any write" if after == before else "applied, then interrupted"
        outcomes[outcome] += 1
    report(
        "SIGINT at a random moment of a 1,500-change group",
        outcomes,
        seconds_to_first_write=round(validating, 3),
        seconds_per_group=round(whole, 3),
    )
    assert sum(outcomes.values()) == trials(4, cost=100)
