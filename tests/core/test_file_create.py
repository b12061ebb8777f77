"""A group of one new file in an existing folder: applied by one link, without a journal.

All or nothing still holds wherever an interrupt, an error or a kill lands; anything the
journal-free path cannot do falls back to the journaled group with nothing left behind.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from codeframe.core import file_create
from codeframe.core.file_changes import JOURNAL_DIR, apply_file_changes
from codeframe.core.file_journal import APPLIED_NOTE, ROLLED_BACK_NOTE
from codeframe.errors import FileChangeError
from tests.core.file_faults import (
    PATCHED,
    FaultInjector,
    notes,
    report,
    seed_base,
    snapshot,
    trials,
)
from tests.core.test_file_recovery import child_env

pytestmark = pytest.mark.skipif(
    not hasattr(os, "O_TMPFILE"), reason="no O_TMPFILE here: every group is journaled"
)

ONE_NEW = [{"path": "pkg/new.py", "action": "create", "content": "N = 1\n"}]

# The child applies a group and SIGKILLs itself at its k-th os call, before or after it
# (after it even when the call raised: a failed lstat is a moment like any other).
CHILD = """
import json, os, signal, sys
from codeframe.core.file_changes import apply_file_changes

root, kill_at, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
group, names = json.loads(sys.argv[4]), json.loads(sys.argv[5])
calls = 0

def wrap(real):
    def call(*args, **kwargs):
        global calls
        calls += 1
        mine = calls
        if mine == kill_at and mode == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            return real(*args, **kwargs)
        finally:
            if mine == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
    return call

for name in names:
    setattr(os, name, wrap(getattr(os, name)))
apply_file_changes(root, group)
"""


def build(base: Path) -> Path:
    root = base / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "old.py").write_text("O = 1\n")
    return root


def apply_traced(root: Path, monkeypatch: pytest.MonkeyPatch, group: Any = ONE_NEW) -> list[str]:
    probe = FaultInjector()
    with probe.armed(monkeypatch):
        assert apply_file_changes(root, group) == [change["path"] for change in group]
    return probe.trace


def test_one_new_file_appears_whole_without_a_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build(tmp_path)
    trace = apply_traced(root, monkeypatch)
    assert (root / "pkg" / "new.py").read_text() == "N = 1\n"
    # The mode a new file always got: 0o666 less the umask.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((root / "pkg" / "new.py").stat().st_mode) == 0o666 & ~umask
    # No journal folder, temp file or rename: one anonymous file and one link.
    assert "mkdir" not in trace and "replace" not in trace and "rmdir" not in trace
    assert trace.count("link") == 1 and trace.count("open") == 1
    assert sorted(os.listdir(root)) == ["pkg"]
    assert sorted(os.listdir(root / "pkg")) == ["new.py", "old.py"]


@pytest.mark.parametrize(
    "group",
    [
        [{"path": "fresh/new.py", "action": "create", "content": "x\n"}],  # a folder to make
        [{"path": "pkg/old.py", "action": "modify", "content": "x\n"}],
        [{"path": "pkg/old.py", "action": "create", "content": "x\n"}],  # over an existing file
        [
            {"path": "pkg/a.py", "action": "create", "content": "a\n"},
            {"path": "pkg/b.py", "action": "create", "content": "b\n"},
        ],  # two files: only a journal makes two links one step
    ],
    ids=["new folder", "modify", "create over a file", "two new files"],
)
def test_every_other_group_is_journaled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group: list[dict[str, str]]
) -> None:
    root = build(tmp_path)
    trace = apply_traced(root, monkeypatch, group)
    assert "mkdir" in trace  # the journal's folder
    for change in group:
        assert (root / change["path"]).read_text() == change["content"]
    assert not (root / JOURNAL_DIR).exists()


def test_a_name_taken_meanwhile_falls_back_to_the_journaled_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer creates the file after validation: the link refuses, nothing is lost."""
    root = build(tmp_path)
    target = root / "pkg" / "new.py"
    real_link = os.link

    def link(src: str, dst: str, **kwargs: Any) -> None:
        if dst == str(target) and not target.exists():
            target.write_text("theirs\n")
        real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", link)
    assert apply_file_changes(root, ONE_NEW) == ["pkg/new.py"]
    # As before this path existed: the group's create replaces what it finds.
    assert target.read_text() == "N = 1\n"
    assert sorted(os.listdir(root)) == ["pkg"]


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("open", errno.EOPNOTSUPP),  # a file system without O_TMPFILE
        ("open", errno.EISDIR),  # a kernel without it
        ("link", errno.ENOENT),  # no /proc
        ("link", errno.EPERM),  # a file system that will not link it
        ("link", errno.EOPNOTSUPP),
    ],
)
def test_a_system_without_the_means_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, code: int
) -> None:
    root = build(tmp_path)
    real = getattr(os, where)
    refused: list[int] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        flags = args[1] if where == "open" else 0
        is_anonymous = where == "link" or flags & os.O_TMPFILE == os.O_TMPFILE
        if is_anonymous and not refused:
            refused.append(code)
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, where, refuse)
    assert apply_file_changes(root, ONE_NEW) == ["pkg/new.py"]
    monkeypatch.undo()
    assert refused == [code]
    assert (root / "pkg" / "new.py").read_text() == "N = 1\n"
    assert sorted(os.listdir(root)) == ["pkg"]


def test_without_o_tmpfile_every_group_is_journaled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_create, "_O_TMPFILE", None)
    root = build(tmp_path)
    assert "mkdir" in apply_traced(root, monkeypatch)
    assert (root / "pkg" / "new.py").read_text() == "N = 1\n"


def test_durable_puts_the_content_then_the_name_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build(tmp_path)
    probe = FaultInjector()
    with probe.armed(monkeypatch):
        apply_file_changes(root, ONE_NEW, durable=True)
    calls = [name for name in probe.trace if name in ("write", "fsync", "link", "open")]
    # The file's content is flushed before it has a name; the folder's entry after.
    assert calls == ["open", "write", "fsync", "link", "open", "fsync"]
    assert (root / "pkg" / "new.py").read_text() == "N = 1\n"


def _judge(base: Path, before: Any, applied: Any, raised: BaseException | None, ctx: str) -> str:
    said = notes(raised)
    after = snapshot(base)
    if raised is None or APPLIED_NOTE in said:
        assert after == applied, ctx
        return "applied"
    assert ROLLED_BACK_NOTE in said or not said, ctx
    assert after == before, ctx
    return "rolled back" if said else "refused before writing"


@pytest.mark.parametrize("durable", [False, True], ids=["default", "durable"])
def test_a_fault_at_each_filesystem_call(
    fault_dir: Path, monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    """Exhaustive over the call and the kind of fault, then seeded pairs of faults."""
    probe_base = fault_dir / "probe"
    build(probe_base)
    before = snapshot(probe_base)
    probe = FaultInjector()
    with probe.armed(monkeypatch):
        apply_file_changes(probe_base / "project", ONE_NEW, durable=durable)
    applied = snapshot(probe_base)
    calls = len(probe.trace)

    plans = [{k: fault} for k in range(1, calls + 1) for fault in ("before", "after", "oserror")]
    rng = random.Random(f"file-create-{seed_base()}-{durable}")
    for _ in range(trials(40)):
        first = rng.randint(1, calls)
        plans.append(
            {first: rng.choice(["before", "after", "oserror"]), first + rng.randint(1, 4): "after"}
        )
    outcomes: Counter[str] = Counter()
    for index, faults in enumerate(plans):
        base = fault_dir / f"t{index:05}"
        root = build(base)
        injector = FaultInjector(faults)
        raised: BaseException | None = None
        with injector.armed(monkeypatch):
            try:
                apply_file_changes(root, ONE_NEW, durable=durable)
            except (KeyboardInterrupt, OSError, FileChangeError) as exc:
                raised = exc
        ctx = f"faults {faults}, hits {injector.hits}, raised {raised!r}, {notes(raised)}"
        outcomes[_judge(base, before, applied, raised, ctx)] += 1
        # Never a journal, temp file or scratch name: there is nothing to recover.
        assert sorted(os.listdir(root)) == ["pkg"], ctx
    report(f"faults in a one-new-file group ({'durable' if durable else 'default'})", outcomes)
    assert outcomes["applied"] and outcomes["rolled back"], outcomes


def test_a_real_sigint_before_the_link_leaves_nothing_and_after_it_is_held_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build(tmp_path / "a")
    before = snapshot(tmp_path / "a")
    real_write, real_link = os.write, os.link

    def write_with_sigint(fd: int, data: bytes) -> int:
        signal.raise_signal(signal.SIGINT)  # KeyboardInterrupt right here, mid-write
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write_with_sigint)
    with pytest.raises(KeyboardInterrupt) as caught:
        apply_file_changes(root, ONE_NEW)
    monkeypatch.undo()
    assert ROLLED_BACK_NOTE in notes(caught.value)
    assert snapshot(tmp_path / "a") == before

    root = build(tmp_path / "b")
    linked: list[str] = []

    def link_with_sigint(src: str, dst: str, **kwargs: Any) -> None:
        real_link(src, dst, **kwargs)
        linked.append(dst)
        signal.raise_signal(signal.SIGINT)  # deferred: the link is already made

    monkeypatch.setattr(os, "link", link_with_sigint)
    with pytest.raises(KeyboardInterrupt) as caught:
        apply_file_changes(root, ONE_NEW)
    monkeypatch.undo()
    assert linked
    assert APPLIED_NOTE in notes(caught.value)
    assert (root / "pkg" / "new.py").read_text() == "N = 1\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_kill_at_any_call_leaves_the_tree_as_before_or_applied(
    fault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL before or after each call: the anonymous file dies with the process."""
    probe_base = fault_dir / "probe"
    build(probe_base)
    before = snapshot(probe_base)
    probe = FaultInjector()
    with probe.armed(monkeypatch):
        apply_file_changes(probe_base / "project", ONE_NEW)
    applied = snapshot(probe_base)

    outcomes: Counter[str] = Counter()
    for k in range(1, len(probe.trace) + 1):
        for mode in ("before", "after"):
            base = fault_dir / f"k{k}{mode}"
            root = build(base)
            args = [str(root), str(k), mode, json.dumps(ONE_NEW), json.dumps(PATCHED)]
            child = subprocess.run(
                [sys.executable, "-c", CHILD, *args],
                env=child_env(),
                capture_output=True,
                timeout=60,
                check=False,
            )
            context = f"killed at call {k} ({probe.trace[k - 1]}, {mode}): {child.stderr!r}"
            assert child.returncode == -signal.SIGKILL, context
            after = snapshot(base)
            assert after in (before, applied), context
            assert sorted(os.listdir(root)) == ["pkg"], context  # no journal to recover
            outcomes["applied" if after == applied else "as before"] += 1
    report("SIGKILL of a child mid one-new-file group", outcomes)
    assert outcomes["applied"] and outcomes["as before"], outcomes
