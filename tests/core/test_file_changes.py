"""Safe file application on real files: every refusal leaves the tree exactly as it was."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from codeframe.core.file_changes import (
    PlannedChange,
    WriteArea,
    apply_file_changes,
    validate_file_changes,
)
from codeframe.errors import (
    CodeframeError,
    ContentTooLargeError,
    FileChangeError,
    MissingFileError,
    UnsafePathError,
)


def snapshot(base: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``base`` (links not followed) with its content, mode or link target."""
    found: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(base).as_posix()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("dir",)
            else:
                found[rel] = ("file", path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return found


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """``tmp_path/project`` (the root) beside ``tmp_path/outside``, with links between them."""
    root = tmp_path / "project"
    for rel, text in {
        "app.py": "print('app')\n",
        "pkg/mod.py": "X = 1\n",
        "frontend/index.js": "export {}\n",
        "backend/api.py": "API = 1\n",
        "tests/test_app.py": "def test_x():\n    pass\n",
        ".git/config": "[core]\n",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    # A link outside the tree that points back in: a detour through the outside.
    (outside / "back.py").symlink_to(root / "app.py")
    (root / "secret_link.txt").symlink_to(outside / "secret.txt")
    (root / "alias.py").symlink_to("app.py")
    (root / "frontend" / "lib").symlink_to("../backend", target_is_directory=True)
    return tmp_path


def create(path: str, content: str = "new\n") -> dict[str, str]:
    return {"path": path, "action": "create", "content": content}


def modify(path: str, content: str = "changed\n") -> dict[str, str]:
    return {"path": path, "action": "modify", "content": content}


def delete(path: str) -> dict[str, str]:
    return {"path": path, "action": "delete"}


REFUSED = [
    pytest.param([create("../x.py")], UnsafePathError, "path traversal", id="dotdot"),
    pytest.param([create("a/../../x.py")], UnsafePathError, "path traversal", id="nested-dotdot"),
    pytest.param([create("pkg/..\\..\\x.py")], UnsafePathError, "path traversal", id="backslash"),
    pytest.param([create("/etc/x")], UnsafePathError, "absolute path", id="absolute"),
    pytest.param([create("C:\\x.py")], UnsafePathError, "absolute path", id="drive"),
    pytest.param([create("\\\\server\\share\\x")], UnsafePathError, "absolute path", id="unc"),
    pytest.param([create("~/x.py")], UnsafePathError, "absolute path", id="home"),
    pytest.param([create("escape/x.py")], UnsafePathError, "path traversal", id="symlinked-dir"),
    pytest.param([modify("secret_link.txt")], UnsafePathError, "path traversal", id="symlink"),
    pytest.param([delete("secret_link.txt")], UnsafePathError, "path traversal", id="rm-link"),
    pytest.param([delete("escape/back.py")], UnsafePathError, "path traversal", id="rm-detour"),
    pytest.param([modify("escape/back.py")], UnsafePathError, "path traversal", id="detour"),
    pytest.param([modify(".git/config")], UnsafePathError, ".git", id="git"),
    pytest.param([create("pkg/../.git/hooks/pre-commit")], UnsafePathError, ".git", id="git-dd"),
    pytest.param([create("sub/.GIT/x")], UnsafePathError, ".git", id="git-case"),
    # `codeframe run` keeps the project's database there: no reply may write or delete it.
    pytest.param([create(".codeframe/codeframe.db")], UnsafePathError, "database", id="state"),
    pytest.param([delete("pkg/../.CodeFrame/x")], UnsafePathError, "database", id="state-case"),
    pytest.param([create("bad\x00.py")], UnsafePathError, "NUL", id="nul"),
    pytest.param([modify("missing.py")], MissingFileError, "does not exist", id="modify-missing"),
    pytest.param([delete("pkg/gone.py")], MissingFileError, "does not exist", id="delete-missing"),
    pytest.param([modify("app.py/x.py")], MissingFileError, "does not exist", id="under-file"),
    pytest.param([create("pkg")], FileChangeError, "folder", id="create-over-dir"),
    pytest.param([create("app.py/x.py")], FileChangeError, "not a folder", id="file-as-dir"),
    pytest.param([delete("pkg")], FileChangeError, "not a regular file", id="delete-dir"),
    pytest.param([create("new/")], FileChangeError, "folder", id="trailing-slash"),
    pytest.param([create("./.")], FileChangeError, "project root", id="root-itself"),
    pytest.param([create("x" * 300)], FileChangeError, "longer than", id="long-name"),
    pytest.param(
        [modify("app.py"), modify("./app.py")], FileChangeError, "same file", id="duplicate"
    ),
    pytest.param(
        [modify("alias.py"), modify("app.py")], FileChangeError, "same file", id="dup-via-link"
    ),
    pytest.param([create("gen"), create("gen/x.py")], FileChangeError, "folder", id="file-and-dir"),
    # Deleting a link removes the link; writing it writes its file: never both in one group.
    pytest.param(
        [delete("alias.py"), create("alias.py")],
        FileChangeError,
        "same file",
        id="unlink-then-write",
    ),
    pytest.param(
        [modify("alias.py"), delete("alias.py")],
        FileChangeError,
        "same file",
        id="write-then-unlink",
    ),
]


@pytest.mark.parametrize(("changes", "error", "fragment"), REFUSED)
def test_refused_group_changes_nothing(
    world: Path, changes: list[dict[str, str]], error: type[Exception], fragment: str
) -> None:
    root = world / "project"
    before = snapshot(world)
    # A valid change first proves that validation of the whole group precedes any write.
    group = [create("first/ok.py"), *changes]

    with pytest.raises(error) as caught:
        apply_file_changes(root, group)

    assert fragment in str(caught.value)
    assert isinstance(caught.value, CodeframeError)
    assert snapshot(world) == before


@pytest.mark.parametrize(
    ("changes", "builtin"),
    [
        ([create("../x")], ValueError),
        ([create("/abs")], ValueError),
        ([modify("nope.py")], FileNotFoundError),
        ([delete("nope.py")], FileNotFoundError),
    ],
)
def test_errors_are_also_the_builtin_kinds(
    world: Path, changes: list[dict[str, str]], builtin: type[Exception]
) -> None:
    with pytest.raises(builtin):
        apply_file_changes(world / "project", changes)


def test_messages_name_the_path(world: Path) -> None:
    with pytest.raises(MissingFileError, match=r"'pkg/nothing\.py'"):
        apply_file_changes(world / "project", [modify("pkg/nothing.py")])


def test_content_over_the_cap_is_refused_by_utf8_size(world: Path) -> None:
    root = world / "project"
    before = snapshot(world)
    # Six characters but twelve bytes: the cap is on what lands on disk.
    with pytest.raises(ContentTooLargeError, match="12 bytes"):
        apply_file_changes(root, [create("small.txt", "é" * 6)], max_bytes=10)
    assert isinstance(ContentTooLargeError("x"), ValueError)
    assert apply_file_changes(root, [create("small.txt", "é" * 5)], max_bytes=10) == ["small.txt"]
    assert snapshot(world).keys() - before.keys() == {"project/small.txt"}


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param([{"action": "create", "content": "x"}], id="no-path"),
        pytest.param([{"path": "", "action": "create", "content": "x"}], id="empty-path"),
        pytest.param([{"path": 3, "action": "create", "content": "x"}], id="int-path"),
        pytest.param([{"path": "a.py", "action": "rename", "content": "x"}], id="bad-action"),
        pytest.param([{"path": "a.py", "action": "create"}], id="no-content"),
        pytest.param([{"path": "a.py", "action": "modify", "content": b"x"}], id="bytes"),
        pytest.param([{"path": "a.py", "action": "create", "content": "\ud800"}], id="surrogate"),
        pytest.param(["a.py"], id="not-a-dict"),
        pytest.param({"path": "a.py", "action": "create", "content": "x"}, id="dict-not-list"),
    ],
)
def test_bad_shape_is_refused(world: Path, changes: Any) -> None:
    before = snapshot(world)
    with pytest.raises(FileChangeError):
        apply_file_changes(world / "project", changes)
    assert snapshot(world) == before


def test_missing_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileChangeError, match="not a directory"):
        apply_file_changes(tmp_path / "nowhere", [create("a.py")])
    assert not (tmp_path / "nowhere").exists()


def test_frontend_area(world: Path) -> None:
    root = world / "project"
    area = WriteArea.under("frontend")
    for allowed in ("frontend/app.js", "frontend/components/nav/x.tsx"):
        assert area.contains(PurePosixPath(allowed)), allowed
    for refused in ("frontend", "frontendx/a.js", "backend/frontend/a.js", "app.py"):
        assert not area.contains(PurePosixPath(refused)), refused

    before = snapshot(world)
    for changes in (
        [create("frontend/ok.js"), modify("app.py")],
        # An in-tree symlink from the area into another folder is no way out of the area.
        [create("frontend/lib/evil.py")],
    ):
        with pytest.raises(UnsafePathError, match="files under frontend/"):
            apply_file_changes(root, changes, area=area)
        assert snapshot(world) == before

    written = apply_file_changes(
        root, [create("frontend/components/Nav.js"), modify("./frontend/index.js")], area=area
    )
    assert written == ["frontend/components/Nav.js", "./frontend/index.js"]
    assert (root / "frontend/index.js").read_text() == "changed\n"


def test_test_files_area(world: Path) -> None:
    root = world / "project"
    area = WriteArea.test_files()
    allowed = [
        "tests/test_app.py",
        "tests/unit/helpers.py",
        "tests/data/sample.json",
        "tests/conftest.py",
        "test_top.py",
        "pkg/test_mod.py",
        "pkg/mod_test.py",
    ]
    refused = ["conftest.py", "pkg/conftest.py", "app.py", "pkg/testing.py", "test_x.txt", "tests"]
    for rel in allowed:
        assert area.contains(PurePosixPath(rel)), rel
    for rel in refused:
        assert not area.contains(PurePosixPath(rel)), rel

    before = snapshot(world)
    with pytest.raises(UnsafePathError, match=r"test files \(tests/\*\*"):
        apply_file_changes(root, [create("tests/test_new.py"), create("conftest.py")], area=area)
    assert snapshot(world) == before
    assert apply_file_changes(root, [create("tests/unit/test_new.py")], area=area) == [
        "tests/unit/test_new.py"
    ]


def test_under_rejects_a_folder_that_is_not_relative() -> None:
    for folder in ("", "/abs", "../up", "."):
        with pytest.raises(ValueError, match="relative folder"):
            WriteArea.under(folder)
    assert WriteArea.under("web/src/").contains(PurePosixPath("web/src/a.ts"))


def test_create_modify_delete_apply_and_return_paths_as_given(world: Path) -> None:
    root = world / "project"
    before = snapshot(world)
    written = apply_file_changes(
        root,
        [
            create("src/deep/new_mod.py", "def f():\n    return 1\n"),
            modify("pkg\\mod.py", "X = 2\n"),
            delete("./tests/test_app.py"),
        ],
    )
    assert written == ["src/deep/new_mod.py", "pkg\\mod.py", "./tests/test_app.py"]
    assert (root / "src/deep/new_mod.py").read_text() == "def f():\n    return 1\n"
    assert (root / "pkg/mod.py").read_text() == "X = 2\n"
    assert not (root / "tests/test_app.py").exists()

    after = snapshot(world)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed == {
        "project/src",
        "project/src/deep",
        "project/src/deep/new_mod.py",
        "project/pkg/mod.py",
        "project/tests/test_app.py",
    }


def test_create_over_an_existing_file_replaces_it(world: Path) -> None:
    root = world / "project"
    apply_file_changes(root, [create("app.py", "replaced\n")])
    assert (root / "app.py").read_text() == "replaced\n"


def test_modify_keeps_permission_bits_and_new_files_follow_umask(world: Path) -> None:
    root = world / "project"
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o751)
    apply_file_changes(root, [modify("run.sh", "#!/bin/sh\necho hi\n"), create("fresh.txt")])

    assert stat.S_IMODE((root / "run.sh").stat().st_mode) == 0o751
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((root / "fresh.txt").stat().st_mode) == 0o666 & ~umask


def test_symlinks_inside_the_tree(world: Path) -> None:
    root = world / "project"
    # Writing through an in-tree link edits the file it names; deleting removes the link only.
    apply_file_changes(root, [modify("alias.py", "via link\n")])
    assert (root / "app.py").read_text() == "via link\n"
    assert (root / "alias.py").is_symlink()

    apply_file_changes(root, [delete("alias.py")])
    assert not os.path.lexists(root / "alias.py")
    assert (root / "app.py").read_text() == "via link\n"


def test_root_reached_through_a_symlink(world: Path) -> None:
    # macOS' /var is a link to /private/var: a linked root must work like the real one.
    linked = world / "linked_root"
    linked.symlink_to(world / "project", target_is_directory=True)
    assert apply_file_changes(linked, [create("via_root_link.py")]) == ["via_root_link.py"]
    assert (world / "project/via_root_link.py").read_text() == "new\n"


def test_validate_normalises_and_writes_nothing(world: Path) -> None:
    root = world / "project"
    before = snapshot(world)
    plans = validate_file_changes(
        root, [create("./a//b/./c.py", "x"), modify("pkg\\mod.py"), delete("x/../app.py")]
    )
    assert snapshot(world) == before
    assert all(isinstance(p, PlannedChange) for p in plans)
    assert [str(p.rel) for p in plans] == ["a/b/c.py", "pkg/mod.py", "app.py"]
    assert [p.action for p in plans] == ["create", "modify", "delete"]
    assert plans[0].data == b"x"
    assert plans[2].data is None
    assert plans[1].target == (root / "pkg/mod.py").resolve()


def test_empty_group_is_a_no_op(world: Path) -> None:
    before = snapshot(world)
    assert apply_file_changes(world / "project", []) == []
    assert snapshot(world) == before


class FailingReplace:
    """``os.replace`` that fails on its n-th call and works otherwise (so rollback can run)."""

    def __init__(self, fail_on: int) -> None:
        self.fail_on = fail_on
        self.calls = 0
        self.real = os.replace

    def __call__(self, src: Any, dst: Any) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise OSError(28, "No space left on device (injected)")
        self.real(src, dst)


GROUP = [
    create("brand/new/dir/one.py", "one\n"),
    modify("app.py", "two\n"),
    delete("pkg/mod.py"),
    create("tests/test_four.py", "four\n"),
]


@pytest.mark.parametrize("fail_on", [1, 2, 3, 4])
def test_mid_group_failure_rolls_everything_back(
    world: Path, monkeypatch: pytest.MonkeyPatch, fail_on: int
) -> None:
    root = world / "project"
    before = snapshot(world)
    failing = FailingReplace(fail_on)
    monkeypatch.setattr(os, "replace", failing)

    with pytest.raises(OSError, match="injected"):
        apply_file_changes(root, GROUP)

    assert failing.calls >= fail_on
    # Originals back, created files and folders gone, no temp or backup files left behind.
    assert snapshot(world) == before


def test_rollback_works_when_hard_links_are_unavailable(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(src: Any, dst: Any) -> None:
        raise OSError(1, "Operation not permitted")

    root = world / "project"
    before = snapshot(world)
    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(os, "replace", FailingReplace(3))
    with pytest.raises(OSError, match="injected"):
        apply_file_changes(root, GROUP)
    assert snapshot(world) == before

    monkeypatch.undo()
    monkeypatch.setattr(os, "link", no_link)
    apply_file_changes(root, [modify("app.py", "copied backup\n")])
    assert (root / "app.py").read_text() == "copied backup\n"
    assert not [p for p in root.iterdir() if p.name.startswith(".codeframe-")]


def test_failure_writing_a_temp_file_rolls_back(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = world / "project"
    before = snapshot(world)
    real_fchmod = os.fchmod

    def failing_fchmod(fd: int, mode: int) -> None:
        raise PermissionError(13, "Permission denied (injected)")

    # fchmod runs only for a file that already exists: the 2nd change in GROUP (modify app.py).
    monkeypatch.setattr(os, "fchmod", failing_fchmod)
    with pytest.raises(PermissionError, match="injected"):
        apply_file_changes(root, GROUP)
    monkeypatch.setattr(os, "fchmod", real_fchmod)
    assert snapshot(world) == before


def test_rollback_is_logged(
    world: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(os, "replace", FailingReplace(2))
    with caplog.at_level("DEBUG", logger="codeframe.core.file_changes"), pytest.raises(OSError):
        apply_file_changes(world / "project", GROUP)
    messages = [r.getMessage() for r in caplog.records]
    assert any("applied create brand/new/dir/one.py" in m for m in messages)
    assert any("rolled back" in m for m in messages)
