"""Seeded fault injection: a group is all or nothing wherever an interrupt or error lands.

Each trial raises at the k-th filesystem call of a group (``KeyboardInterrupt`` before or
after the call, or an I/O error), sometimes again during the rollback or clean-up that the
first fault started. Afterwards the tree is exactly as before or exactly the applied group,
with nothing of ours left, and the exception's note says which of the two it is. Only an
injected I/O *error* may need :func:`recover_file_changes` to finish; an interrupt never does.
"""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from codeframe.core.file_changes import (
    JOURNAL_DIR,
    apply_file_changes,
    recover_file_changes,
    validate_file_changes,
)
from codeframe.core.file_journal import APPLIED_NOTE, ROLLED_BACK_NOTE
from codeframe.errors import FileChangeError
from tests.core.file_faults import (
    GROUP,
    FaultInjector,
    build_world,
    notes,
    report,
    seed_base,
    snapshot,
    trials,
)

Snapshot = dict[str, tuple[Any, ...]]


class Reference:
    """The world before and after the group, and the os calls of a clean run at a depth."""

    def __init__(self, base: Path, monkeypatch: pytest.MonkeyPatch, durable: bool = False) -> None:
        root = build_world(base / "probe")
        self.before = snapshot(base / "probe")
        probe = FaultInjector()
        with probe.armed(monkeypatch):
            apply_file_changes(root, GROUP, durable=durable)
        self.applied = snapshot(base / "probe")
        assert self.applied != self.before
        self.trace = probe.trace
        # Every call before the first mkdir (of the journal folder) only reads the tree.
        self.first_write = probe.trace.index("mkdir") + 1

    @property
    def calls(self) -> int:
        return len(self.trace)


def apply_with(
    base: Path, faults: dict[int, str], monkeypatch: pytest.MonkeyPatch, durable: bool = False
) -> Any:
    """Build a world at ``base``, apply the group under ``faults``; returns what it raised."""
    root = build_world(base)
    injector = FaultInjector(faults)
    with injector.armed(monkeypatch):
        try:
            apply_file_changes(root, GROUP, durable=durable)
        except (KeyboardInterrupt, OSError, FileChangeError) as exc:
            return exc, injector, root
    return None, injector, root


def judge(base: Path, ref: Reference, raised: BaseException | None, injector: FaultInjector) -> str:
    """The outcome the exception claims; asserts the tree is exactly that state."""
    said = notes(raised)
    context = f"faults {injector.faults}, hits {injector.hits}, raised {raised!r}, {said}"
    if raised is None or APPLIED_NOTE in said:
        expected, outcome = ref.applied, "applied"
    elif ROLLED_BACK_NOTE in said or not said:
        # Without a note, the fault came before anything was written.
        expected, outcome = ref.before, "rolled back" if said else "refused before writing"
    else:
        assert "recover_file_changes" in said, context
        expected, outcome = ref.before, "rollback incomplete"
    after = snapshot(base)
    if after != expected:
        # Only a real I/O error may leave work for recovery - never an interrupt alone.
        assert "oserror" in [fault for _, _, fault in injector.hits], context
        assert any(key.startswith(f"project/{JOURNAL_DIR}") for key in after), context
        recover_file_changes(base / "project")
        after = snapshot(base)
        outcome += ", then recovered"
    assert after == expected, context
    return outcome


def test_faults_at_random_filesystem_calls(
    fault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = {mode: Reference(fault_dir / str(mode), monkeypatch, mode) for mode in (False, True)}
    count = trials(300)
    outcomes: Counter[str] = Counter()
    for index in range(count):
        seed = seed_base() + index
        rng = random.Random(f"faults-{seed}")
        durable = rng.random() < 0.5
        ref = refs[durable]
        # Mostly where the group writes; the read-only validation gets a fifth of them.
        low = 1 if rng.random() < 0.2 else ref.first_write
        first = rng.randint(low, ref.calls)
        faults = {first: rng.choice(["before", "after", "after", "oserror"])}
        if rng.random() < 0.5:  # a second fault, usually inside the rollback or clean-up
            faults[first + rng.randint(1, ref.calls // 2)] = rng.choice(["before", "after"])
        base = fault_dir / str(durable) / f"t{index:05}"  # as deep as its reference
        raised, injector, _ = apply_with(base, faults, monkeypatch, durable)
        outcomes[judge(base, ref, raised, injector)] += 1
    report(
        "faults at random filesystem calls",
        outcomes,
        calls_per_group={"default": refs[False].calls, "durable": refs[True].calls},
    )
    assert sum(outcomes.values()) == count
    # Both ends are reached: faults land before and after the group's commit point.
    assert outcomes["applied"] and outcomes["rolled back"], outcomes


@pytest.mark.parametrize("durable", [False, True], ids=["default", "durable"])
@pytest.mark.parametrize("fault", ["before", "after"])
def test_an_interrupt_at_each_writing_call(
    fault_dir: Path, monkeypatch: pytest.MonkeyPatch, fault: str, durable: bool
) -> None:
    """Exhaustive over k: no call of the writing phases is an unsafe place to stop."""
    ref = Reference(fault_dir, monkeypatch, durable)
    outcomes: Counter[str] = Counter()
    for k in range(ref.first_write, ref.calls + 1):
        raised, injector, _ = apply_with(fault_dir / str(k), {k: fault}, monkeypatch, durable)
        assert raised is None or isinstance(raised, KeyboardInterrupt), (k, raised)
        outcomes[judge(fault_dir / str(k), ref, raised, injector)] += 1
    mode = "durable" if durable else "default"
    report(f"KeyboardInterrupt {fault} each writing call ({mode})", outcomes)
    assert outcomes["applied"] and outcomes["rolled back"], outcomes


def test_a_rollback_survives_an_interrupt_at_each_of_its_own_calls(
    fault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group's last rename fails; a second interrupt lands at each call of the rollback."""
    ref = Reference(fault_dir, monkeypatch)
    last_replace = max(k for k, name in enumerate(ref.trace, 1) if name == "replace")
    _, counted, _ = apply_with(fault_dir / "count", {last_replace: "oserror"}, monkeypatch)
    rollback_calls = counted.calls - last_replace
    assert rollback_calls > 10
    outcomes: Counter[str] = Counter()
    for offset in range(1, rollback_calls + 1):
        faults = {last_replace: "oserror", last_replace + offset: "before"}
        raised, injector, _ = apply_with(fault_dir / str(offset), faults, monkeypatch)
        assert isinstance(raised, OSError), (offset, injector.hits, raised)
        outcomes[judge(fault_dir / str(offset), ref, raised, injector)] += 1
    report("a second interrupt at each call of a rollback", outcomes)
    assert outcomes == Counter({"rolled back": rollback_calls})


def test_a_signal_during_the_rollback_is_held_until_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real SIGINT raised inside the rollback surfaces after it, with the outcome noted."""
    root = build_world(tmp_path)
    before = snapshot(tmp_path)
    real_rmdir, real_replace = os.rmdir, os.replace
    sent: list[str] = []
    replaced: list[str] = []

    def rmdir_with_sigint(path: str, *args: Any, **kwargs: Any) -> None:
        if not sent:  # the rollback's first folder removal
            sent.append(path)
            signal.raise_signal(signal.SIGINT)
        real_rmdir(path, *args, **kwargs)

    def failing_replace(src: str, dst: str) -> None:
        replaced.append(dst)
        if len(replaced) == 5:
            raise OSError(28, "No space left on device (injected)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    monkeypatch.setattr(os, "rmdir", rmdir_with_sigint)
    with pytest.raises(KeyboardInterrupt) as caught:
        apply_file_changes(root, GROUP)
    monkeypatch.undo()
    assert sent, "the rollback removed no folder"
    assert ROLLED_BACK_NOTE in notes(caught.value)
    assert isinstance(caught.value.__context__, OSError)
    assert snapshot(tmp_path) == before


def test_an_error_reading_the_root_while_planning_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planning must never treat the root as a folder to make (its undo would remove it)."""
    root = build_world(tmp_path)
    before = snapshot(tmp_path)
    resolved, real_stat, seen = str(root.resolve()), os.stat, []
    fail_at = 0

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if os.fspath(path) == resolved:
            seen.append(path)
            if len(seen) == fail_at:
                raise OSError(5, "Input/output error (injected)")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    validate_file_changes(root, GROUP)
    fail_at, seen = len(seen) + 1, []  # the first stat of the root after validation's
    with pytest.raises(OSError, match="injected") as caught:
        apply_file_changes(root, GROUP)
    monkeypatch.undo()
    assert len(seen) == fail_at
    assert notes(caught.value) == ""  # before any write
    assert snapshot(tmp_path) == before
