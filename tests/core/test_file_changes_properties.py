"""Property: whatever paths a model invents, nothing outside the root changes, and a group
is applied either completely or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeframe.core.file_changes import WriteArea, apply_file_changes, validate_file_changes
from codeframe.errors import FileChangeError

# Names that exist in the tree below (in-tree links included) and names that do not yet.
PLAIN = [
    "app.py",
    "alias.py",
    "pkg",
    "mod.py",
    "frontend",
    "ui.js",
    "up",
    "tests",
    "test_x.py",
    "new",
    "é",
    "日本.py",
    "a b",
    ".",
]
# The pieces path attacks are made of: links out of the tree, traversal, absolute forms.
ATTACK = [
    *PLAIN,
    "..",
    "escape",
    "inlink",
    "secret.txt",
    "",
    "~",
    "~root",
    ".git",
    "outside",
    "C:",
    "\\",
    "..\\..",
    "%2e%2e",
    "\x00",
]
PREFIXES = ["", "", "", "./", "/", "//", "\\", "C:\\", "c:", "~/", "\\\\srv\\share\\", "../"]

plain_paths = st.lists(st.sampled_from(PLAIN), min_size=1, max_size=4).map("/".join)
# Through the links of the tree - out of it (escape/, inlink), back up to its top
# (frontend/up/) - and into .git/, which must never change either.
HOT = [
    "escape",
    "escape/",
    "inlink",
    "inlink/",
    "frontend/up/",
    "frontend/up/..",
    "alias.py",
    ".git/",
    ".git/config",
    "pkg/../.git",
    "frontend/up/.git",
]
hot_paths = st.builds(
    lambda start, rest: start + rest,
    st.sampled_from(HOT),
    st.one_of(st.just(""), plain_paths.map(lambda p: "/" + p)),
)
attack_paths = st.builds(
    lambda prefix, parts, suffix: prefix + "/".join(parts) + suffix,
    st.sampled_from(PREFIXES),
    st.lists(st.sampled_from(ATTACK), min_size=1, max_size=5),
    st.sampled_from(["", "", "/", "/.", "/.."]),
)
# Plain paths weigh more, so that groups which do apply are common, not a rare corner.
paths = st.one_of(
    plain_paths, plain_paths, plain_paths, hot_paths, attack_paths, st.text(max_size=24)
)

changes = st.builds(
    lambda path, action, content: {"path": path, "action": action, "content": content},
    paths,
    st.sampled_from(["create", "create", "modify", "delete"]),
    st.text(max_size=16),
)
areas = st.sampled_from(
    [None, None, WriteArea.anywhere(), WriteArea.under("frontend"), WriteArea.test_files()]
)


def build_world(base: Path) -> Path:
    root = base / "project"
    for rel in ("app.py", "pkg/mod.py", "frontend/ui.js", "tests/test_x.py", ".git/config"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"original {rel}\n")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    (outside / "app.py").write_text("outside app\n")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "inlink").symlink_to(outside / "secret.txt")
    (root / "alias.py").symlink_to("app.py")
    (root / "frontend" / "up").symlink_to("..", target_is_directory=True)
    return root


def snapshot(base: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(base).as_posix()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("dir",)
            else:
                found[rel] = ("file", path.read_bytes())
    return found


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure here is never a fluke
    suppress_health_check=[HealthCheck.too_slow],
)
@given(group=st.lists(changes, min_size=1, max_size=3), area=areas)
def test_no_generated_path_writes_outside_the_root(
    group: list[dict[str, str]], area: WriteArea | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = build_world(base)
        before = snapshot(base)

        try:
            plans = validate_file_changes(root, group, area=area)
        except FileChangeError:
            plans = None
        try:
            written = apply_file_changes(root, group, area=area)
        except FileChangeError:
            written = None
        after = snapshot(base)

        def untouchable(state: dict[str, Any]) -> dict[str, Any]:
            return {
                k: v
                for k, v in state.items()
                if not k.startswith("project/") or k.startswith("project/.git")
            }

        assert untouchable(after) == untouchable(before)

        if written is None:
            assert plans is None  # apply refuses exactly what validate refuses
            assert after == before
            return

        assert plans is not None
        assert written == [change["path"] for change in group]
        real_root = root.resolve()
        touched: set[str] = set()
        for plan in plans:
            assert plan.target.is_relative_to(real_root)
            key = "project/" + plan.target.relative_to(real_root).as_posix()
            touched.add(key)
            if plan.action == "delete":
                assert key not in after
            else:
                assert after[key] == ("file", plan.data)
        # Everything else is as it was, apart from folders made for new files.
        for key in before.keys() | after.keys():
            if key in touched or before.get(key) == after.get(key):
                continue
            assert key not in before and after[key] == ("dir",), key
        assert not any(Path(k).name.startswith(".codeframe-") for k in after)
