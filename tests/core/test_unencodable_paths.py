"""Paths the file system or the ledger cannot take are refused before anything is written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codeframe.core import change_paths
from codeframe.core.file_changes import apply_file_changes, normalise_path, validate_file_changes
from codeframe.errors import UnsafePathError
from tests.core.file_faults import build_world, snapshot

FIRST = {"path": "first/ok.py", "action": "create", "content": "ok\n"}


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        # A lone low surrogate is how Python carries an undecodable byte: os.fsencode
        # turns it into the byte 0xff, so the file would be written with a name that is
        # not text and that no ledger row can hold.
        pytest.param("a\udcff.py", "U+DCFF", id="surrogate-escape"),
        pytest.param("pkg/\udc80/x.py", "U+DC80", id="surrogate-in-folder"),
        pytest.param("\ud800.py", "U+D800", id="high-surrogate"),
        pytest.param("x\udfff", "U+DFFF", id="last-surrogate"),
        pytest.param("bad\x00.py", "NUL", id="nul"),
        pytest.param("pkg/\x00/x.py", "NUL", id="nul-in-folder"),
    ],
)
@pytest.mark.parametrize("action", ["create", "modify", "delete"])
def test_refused_at_validation_naming_the_problem(
    tmp_path: Path, path: str, fragment: str, action: str
) -> None:
    root = build_world(tmp_path)
    before = snapshot(tmp_path)
    change = {"path": path, "action": action, "content": "x\n"}

    with pytest.raises(UnsafePathError, match=re.escape(fragment)) as caught:
        validate_file_changes(root, [FIRST, change])
    assert repr(path) in str(caught.value) or fragment == "NUL"
    with pytest.raises(UnsafePathError, match=re.escape(fragment)):
        apply_file_changes(root, [FIRST, change])
    with pytest.raises(UnsafePathError, match=re.escape(fragment)):
        normalise_path(path)
    assert snapshot(tmp_path) == before  # not even the valid first change


def test_names_the_file_system_encoding_when_that_is_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build_world(tmp_path)
    before = snapshot(tmp_path)
    # As under a Latin-1 locale: "日本" has no bytes there.
    monkeypatch.setattr(change_paths, "_FS_ENCODING", "latin-1")
    with pytest.raises(UnsafePathError, match=r"cannot be encoded as a file name \(latin-1"):
        apply_file_changes(root, [FIRST, {"path": "日本.py", "action": "create", "content": ""}])
    assert snapshot(tmp_path) == before
    assert apply_file_changes(root, [{"path": "é.py", "action": "create", "content": ""}])


def test_ordinary_unicode_names_still_work(tmp_path: Path) -> None:
    root = build_world(tmp_path)
    written = apply_file_changes(
        root, [{"path": "docs/日本語/é ü.md", "action": "create", "content": "ok\n"}]
    )
    assert written == ["docs/日本語/é ü.md"]
    assert (root / "docs" / "日本語" / "é ü.md").read_text() == "ok\n"
