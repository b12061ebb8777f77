"""Recovery of groups a dead process left behind, and the journal folder's own rules."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from codeframe.core.file_changes import (
    JOURNAL_DIR,
    RecoveryReport,
    apply_file_changes,
    recover_file_changes,
    validate_file_changes,
)
from codeframe.core.file_journal import APPLIED_NOTE, FileGroup
from codeframe.errors import FileChangeError, FileRecoveryError, UnsafePathError
from tests.core.file_faults import (
    GROUP,
    PATCHED,
    FaultInjector,
    build_world,
    notes,
    report,
    seed_base,
    snapshot,
    trials,
)

# The child applies GROUP and SIGKILLs itself at its k-th os call, before or after it.
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
        if calls == kill_at and mode == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return call

for name in names:
    setattr(os, name, wrap(getattr(os, name)))
apply_file_changes(root, group)
"""


def child_env() -> dict[str, str]:
    """Only what Python needs: no credential of ours reaches the child."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0"}


def test_a_group_killed_at_any_moment_is_recovered(
    fault_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe_base = fault_dir / "probe"
    root = build_world(probe_base)
    before = snapshot(probe_base)
    probe = FaultInjector()
    with probe.armed(monkeypatch):
        apply_file_changes(root, GROUP)
    applied = snapshot(probe_base)
    first_write = probe.trace.index("mkdir") + 1

    outcomes: Counter[str] = Counter()
    count = trials(4, cost=25)
    for index in range(count):
        seed = seed_base() + index
        rng = random.Random(f"kill-{seed}")
        kill_at, mode = rng.randint(first_write, probe.calls), rng.choice(["before", "after"])
        base = fault_dir / f"t{index:04}"  # as deep as the probe: the same calls
        root = build_world(base)
        args = [str(root), str(kill_at), mode, json.dumps(GROUP), json.dumps(PATCHED)]
        child = subprocess.run(
            [sys.executable, "-c", CHILD, *args],
            env=child_env(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        context = f"seed {seed}: killed at call {kill_at} ({mode}), {child.stderr[-500:]!r}"
        assert child.returncode == -signal.SIGKILL, context
        left_a_journal = (root / JOURNAL_DIR).exists()

        result = recover_file_changes(root)
        after = snapshot(base)
        assert after in (before, applied), context
        # One group at most; none if the kill came before its folder was made.
        assert result.rolled_back + result.completed + result.cleared <= 1, context
        assert not result.completed or after == applied, context
        assert not result.rolled_back or after == before, context
        if not left_a_journal:
            outcome = "nothing left (killed before the first or after the last step)"
        elif result.completed:
            outcome = "committed: clean-up completed"
        elif result.rolled_back:
            outcome = "uncommitted: rolled back"
        elif result.cleared:
            outcome = "no whole plan: folder cleared"
        else:
            outcome = "only the empty journal folder: removed"
        outcomes[f"{outcome}; tree {'applied' if after == applied else 'as before'}"] += 1
        assert recover_file_changes(root) == RecoveryReport()  # nothing left to do
    report("SIGKILL of a child mid-group, then recovery", outcomes)
    assert sum(outcomes.values()) == count


def test_nothing_to_recover(tmp_path: Path) -> None:
    assert recover_file_changes(tmp_path) == RecoveryReport()
    assert list(tmp_path.iterdir()) == []


def crashed_group(root: Path, changes: list[dict[str, Any]], *, committed: bool) -> FileGroup:
    """A group applied up to the switch (and the commit line), then abandoned as by a kill."""
    group = FileGroup.plan(os.path.realpath(root), validate_file_changes(root, changes))
    group.prepare()
    group.switch()
    if committed:
        assert group.fd is not None
        os.write(group.fd, b'{"commit": true}\n')
    assert group.fd is not None
    os.close(group.fd)  # the kill drops the lock
    group.fd = None
    return group


def test_the_next_group_first_rolls_back_an_unfinished_one(tmp_path: Path) -> None:
    root = build_world(tmp_path)
    before = snapshot(tmp_path)
    crashed_group(root, GROUP, committed=False)
    assert snapshot(tmp_path) != before

    apply_file_changes(root, [{"path": "later.py", "action": "create", "content": "x\n"}])
    after = snapshot(tmp_path)
    assert {key: value for key, value in after.items() if key != "project/later.py"} == before


def test_the_next_group_first_completes_a_committed_one(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    apply_file_changes(build_world(reference), GROUP)
    root = build_world(tmp_path / "crashed")
    crashed_group(root, GROUP, committed=True)

    assert recover_file_changes(root) == RecoveryReport(completed=1)
    assert snapshot(tmp_path / "crashed") == snapshot(reference)


def test_a_live_group_is_left_alone(tmp_path: Path) -> None:
    root = build_world(tmp_path)
    group = FileGroup.plan(str(root.resolve()), validate_file_changes(root, GROUP))
    group.prepare()
    group.switch()
    middle = snapshot(tmp_path)

    assert recover_file_changes(root) == RecoveryReport(in_use=1)
    assert snapshot(tmp_path) == middle
    group.commit()
    assert not (root / JOURNAL_DIR).exists()


def test_an_incomplete_journal_means_nothing_was_applied(tmp_path: Path) -> None:
    root = build_world(tmp_path)
    before = snapshot(tmp_path)
    folder = root / JOURNAL_DIR / "0123456789abcdef"
    folder.mkdir(parents=True)
    (folder / "journal").write_bytes(b'{"version": 1, "group": "0123')  # cut mid-write
    (folder / "0.tmp").write_bytes(b"half a temp file")
    os.link(root / "app.py", folder / "3.bak")  # a second link to an untouched file

    assert recover_file_changes(root) == RecoveryReport(cleared=1)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        # The journal lives inside the tree: a step that leaves the root is never undone,
        ({"kind": "new", "path": "../outside/secret.txt"}, "leaves the project"),
        ({"kind": "delete", "path": "app.py", "backup": "/etc/passwd"}, "leaves the project"),
        # nor one that names the root itself (undoing a "dir" removes it),
        ({"kind": "dir", "path": ""}, "bad journal step"),
        # nor anything we did not write.
        ({"kind": "chmod", "path": "app.py"}, "bad journal step"),
        ("not a step", "unreadable journal"),
    ],
)
def test_a_corrupt_or_hostile_journal_is_never_acted_on(
    tmp_path: Path, step: Any, problem: str
) -> None:
    root = build_world(tmp_path)
    folder = root / JOURNAL_DIR / "0123456789abcdef"
    folder.mkdir(parents=True)
    (folder / "journal").write_text(json.dumps({"version": 1, "steps": [step]}) + "\n")
    before = snapshot(tmp_path)

    with pytest.raises(FileRecoveryError, match=problem) as caught:
        recover_file_changes(root)
    assert snapshot(tmp_path) == before
    assert isinstance(caught.value, FileChangeError)
    # And no group runs on top of it until it is dealt with.
    with pytest.raises(FileRecoveryError):
        apply_file_changes(root, [{"path": "x.py", "action": "create", "content": ""}])
    assert snapshot(tmp_path) == before


def test_a_link_in_place_of_the_journal_folder_is_not_followed(tmp_path: Path) -> None:
    root = build_world(tmp_path)
    (root / JOURNAL_DIR).symlink_to("../outside", target_is_directory=True)
    before = snapshot(tmp_path)
    with pytest.raises(FileRecoveryError, match="not codeframe's journal folder"):
        apply_file_changes(root, [{"path": "x.py", "action": "create", "content": ""}])
    assert snapshot(tmp_path) == before


def test_models_cannot_write_into_the_journal_folder(tmp_path: Path) -> None:
    root = build_world(tmp_path)
    for path in (f"{JOURNAL_DIR}/abc/journal", JOURNAL_DIR, f"./{JOURNAL_DIR.upper()}/x"):
        with pytest.raises(UnsafePathError, match="journal folder"):
            apply_file_changes(root, [{"path": path, "action": "create", "content": "{}"}])
    assert not (root / JOURNAL_DIR).exists()


def test_a_failed_rollback_keeps_its_journal_for_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build_world(tmp_path)
    before = snapshot(tmp_path)
    real_replace = os.replace
    calls: list[str] = []

    def replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 6:  # the switch's sixth rename fails ...
            raise OSError(28, "No space left on device (injected)")
        if len(calls) == 7:  # ... and so does the rollback's first restore
            raise OSError(13, "Permission denied (injected)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="No space") as caught:
        apply_file_changes(root, GROUP)
    monkeypatch.undo()
    said = notes(caught.value)
    assert "could not be rolled back completely" in said and "recover_file_changes" in said
    assert (root / JOURNAL_DIR).is_dir()

    result = recover_file_changes(root)
    assert result.rolled_back == 1 and "pkg/util.py" in result.restored
    assert snapshot(tmp_path) == before


def test_a_failed_clean_up_after_the_commit_still_reports_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    apply_file_changes(build_world(reference), GROUP)
    root = build_world(tmp_path / "world")
    real_unlink = os.unlink

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if str(path).endswith(".bak"):
            raise PermissionError(13, "Permission denied (injected)")
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    assert apply_file_changes(root, GROUP) == [change["path"] for change in GROUP]
    monkeypatch.undo()
    assert (root / JOURNAL_DIR).is_dir()  # backups kept, with the committed journal

    assert recover_file_changes(root) == RecoveryReport(completed=1)
    assert snapshot(tmp_path / "world") == snapshot(reference)


def test_a_target_on_another_file_system_keeps_its_scratch_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mount point inside the project: temp and backup must sit on its file system."""
    root = build_world(tmp_path)
    before = snapshot(tmp_path)
    mounted = str((root / "pkg").resolve())
    real_stat = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        result = real_stat(path, *args, **kwargs)
        if os.fspath(path) == mounted:
            fields = list(result)
            fields[2] += 1  # st_dev: "another device"
            return os.stat_result(fields)
        return result

    monkeypatch.setattr(os, "stat", stat)
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        renames.append((os.path.dirname(src), os.path.dirname(dst)))
        if len(renames) == len(GROUP):
            raise OSError(28, "No space left on device (injected)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="injected"):
        apply_file_changes(root, GROUP)
    into_pkg = [pair for pair in renames if mounted in pair]
    # pkg/util.py, pkg/__init__.py, the delete of pkg/link.py, then the rollback's restores.
    assert len(into_pkg) >= 3
    assert all(src == dst for src, dst in into_pkg)  # never across the "mount point"
    assert snapshot(tmp_path) == before

    monkeypatch.setattr(os, "replace", real_replace)
    apply_file_changes(root, GROUP)
    assert not [p for p in (root / "pkg").iterdir() if p.name.startswith(".codeframe-")]
    assert not (root / JOURNAL_DIR).exists()


@pytest.mark.parametrize("durable", [False, True])
def test_an_interrupt_after_the_commit_point_says_the_group_was_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    probe, root = FaultInjector(), build_world(tmp_path / "probe")
    with probe.armed(monkeypatch):
        apply_file_changes(root, GROUP, durable=durable)
    commit_line = max(k for k, name in enumerate(probe.trace, 1) if name == "write")

    root = build_world(tmp_path / "world")
    injector = FaultInjector({commit_line: "after"})
    with injector.armed(monkeypatch), pytest.raises(KeyboardInterrupt) as caught:
        apply_file_changes(root, GROUP, durable=durable)
    assert APPLIED_NOTE in notes(caught.value)
    assert snapshot(tmp_path / "world") == snapshot(tmp_path / "probe")
    assert not (root / JOURNAL_DIR).exists()  # and no backup was left behind


def test_durable_groups_flush_each_phase_and_others_never_wait_for_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushes: dict[bool, Counter[str]] = {}
    for durable in (False, True):
        probe, root = FaultInjector(), build_world(tmp_path / str(durable))
        with probe.armed(monkeypatch):
            apply_file_changes(root, GROUP, durable=durable)
        flushes[durable] = Counter(n for n in probe.trace if n in ("fsync", "fdatasync"))
    assert not flushes[False]
    writes = sum(1 for change in GROUP if change["action"] != "delete")
    assert flushes[True]["fdatasync"] == writes  # every new content, before its rename
    # The journal twice (plan, commit line), the folders of the scratch and of the tree.
    assert flushes[True]["fsync"] >= 2 + 3
