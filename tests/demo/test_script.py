"""The demo's script as files: what the loader reads, what it refuses, and that it is unchanged."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from codeframe.demo.runner import SAMPLE_PROJECT
from codeframe.demo.script import (
    MANIFEST,
    REPLIES,
    REPLIES_DIR,
    demo_rules,
    load_replies,
    reply_file,
)
from codeframe.demo.tasks import DEMO_TASKS
from codeframe.errors import DemoScriptError, NotFoundError

REPO = Path(__file__).resolve().parents[2]
BUNDLED_CASSETTE = REPO / "notebooks" / "cassettes" / "bookshelf-demo.json"

# How many replies each task needs for the outcome DEMO_TASKS promises: one try, task 4's two
# failed tries and its fix, task 7's first try and all three corrections. 8 and 9 never run.
EXPECTED_ATTEMPTS = {"1": 1, "2": 1, "3": 1, "4": 3, "5": 1, "6": 1, "7": 4}

REAL_ISBNS = ("978-0-441-17271-9", "978-0-201-61622-4", "978-3-16-148410-0", "978-0-14-143951-8")


def content(number: str, attempt: int, path: str) -> str:
    return reply_file(number, attempt, path)


# -- the bundled folder ---------------------------------------------------------------------


def test_the_bundled_cassette_answers_with_exactly_these_replies():
    """The cassette was recorded from this script: same replies, byte for byte, in JSON order."""
    cassette = json.loads(BUNDLED_CASSETTE.read_text(encoding="utf-8"))
    recorded = [
        json.dumps(block["input"])
        for entry in cassette["entries"]
        for block in entry["response"]["content"]
        if block.get("type") == "tool_use"
    ]
    scripted = [json.dumps(reply) for _, reply, _ in demo_rules()]
    assert len(scripted) == sum(EXPECTED_ATTEMPTS.values())
    assert sorted(recorded) == sorted(scripted)


def test_every_task_that_runs_has_the_replies_its_outcome_needs():
    assert {number: len(attempts) for number, attempts in REPLIES.items()} == EXPECTED_ATTEMPTS
    blocked = {task.number for task in DEMO_TASKS if task.outcome.startswith("blocked")}
    assert blocked == {"8", "9"}
    assert set(REPLIES) == {task.number for task in DEMO_TASKS} - blocked


def test_every_file_in_the_folder_is_sent_by_its_reply_and_nothing_else_is_there():
    listed = {
        (folder, file["path"])
        for folder, reply in _replies_by_folder().items()
        for file in reply["files"]
    }
    on_disk = set()
    for attempt_folder in _attempt_folders():
        for path in attempt_folder.rglob("*"):
            if path.is_file() and path.name != MANIFEST and "__pycache__" not in path.parts:
                on_disk.add((attempt_folder, path.relative_to(attempt_folder).as_posix()))
    assert on_disk == listed


def test_every_reply_creates_or_modifies_whole_files_with_an_explanation():
    for number, attempts in REPLIES.items():
        for attempt, reply in attempts.items():
            assert list(reply) == ["files", "explanation"], (number, attempt)
            assert reply["explanation"].strip(), (number, attempt)
            for file in reply["files"]:
                assert list(file) == ["path", "action", "content"]
                assert file["action"] in {"create", "modify"}
                assert file["content"].endswith("\n"), (number, attempt, file["path"])


def test_the_replies_are_beside_the_sample_project_not_inside_it():
    assert REPLIES_DIR.parent == SAMPLE_PROJECT.parent
    assert SAMPLE_PROJECT not in REPLIES_DIR.parents and REPLIES_DIR not in SAMPLE_PROJECT.parents
    sample_texts = {p.read_bytes() for p in SAMPLE_PROJECT.rglob("*") if p.is_file()}
    for attempts in REPLIES.values():
        for reply in attempts.values():
            for file in reply["files"]:
                assert file["content"].encode() not in sample_texts, file["path"]


# -- what the replies do: the outcomes the task list promises --------------------------------


def test_the_three_isbn_checks_are_wrong_in_two_different_ways_then_right():
    checks = [_isbn_check(attempt) for attempt in range(3)]
    swapped_weights, no_modulo, fixed = checks
    # Swapped weights reject real ISBNs outright.
    assert not any(swapped_weights(isbn) for isbn in REAL_ISBNS)
    # Without the final modulo only a check digit of 0 goes wrong.
    assert [no_modulo(isbn) for isbn in REAL_ISBNS] == [not i.endswith("0") for i in REAL_ISBNS]
    assert all(fixed(isbn) for isbn in REAL_ISBNS)
    for check in checks:
        assert not check("978-0-441-17271-8")


def test_the_four_exports_differ_only_in_rounding_and_all_miss_half_cents():
    versions = [content("7", attempt, "bookshelf/export.py") for attempt in range(4)]
    bodies = [_cents_body(version) for version in versions]
    assert len(set(bodies)) == 4
    skeletons = {
        _IMPORT_LINE.sub("", v.replace(b, "")) for v, b in zip(versions, bodies, strict=True)
    }
    assert len(skeletons) == 1
    for version in versions:
        cents = _cents_function(version)
        assert cents(9.99) == "9.99"
        wrong = [p for p, want in (("2.675", "2.68"), ("1.005", "1.01"), ("0.125", "0.13"))
                 if cents(float(p)) != want]  # fmt: skip
        assert wrong, version


def test_reply_file_reads_one_file_of_one_reply():
    assert content("2", 0, "frontend/styles.css").startswith("body {\n")
    with pytest.raises(NotFoundError, match="task 7, attempt 9"):
        reply_file("7", 9, "bookshelf/export.py")
    with pytest.raises(NotFoundError, match=r"no file 'setup\.py'"):
        reply_file("1", 0, "setup.py")


# -- the loader on made-up folders -----------------------------------------------------------


def write_reply(root: Path, folder: str, manifest: str, files: dict[str, bytes]) -> Path:
    attempt = root / folder
    attempt.mkdir(parents=True)
    (attempt / MANIFEST).write_text(manifest, encoding="utf-8")
    for path, data in files.items():
        (attempt / path).parent.mkdir(parents=True, exist_ok=True)
        (attempt / path).write_bytes(data)
    return attempt


ONE_FILE = 'explanation = "why"\nfiles = [{ path = "pkg/a.py", action = "create" }]\n'


def test_the_loader_keeps_bytes_order_and_number_order(tmp_path: Path):
    # CRLF and a missing final newline must survive: prompts quote these files verbatim.
    two_files = (
        'explanation = "two"\nfiles = [\n  { path = "z.txt", action = "modify" },\n'
        '  { path = "a.txt", action = "create" },\n]\n'
    )
    write_reply(tmp_path, "10-later/0", ONE_FILE, {"pkg/a.py": b"x = 1\r\ny = 2"})
    write_reply(tmp_path, "2-sooner/0", two_files, {"z.txt": "é\n".encode(), "a.txt": b"a\n"})
    write_reply(tmp_path, "2-sooner/1", ONE_FILE, {"pkg/a.py": b""})
    (tmp_path / "README.md").write_text("not a task\n")
    replies = load_replies(tmp_path)
    assert list(replies) == ["2", "10"]
    assert replies["10"][0] == {
        "files": [{"path": "pkg/a.py", "action": "create", "content": "x = 1\r\ny = 2"}],
        "explanation": "why",
    }
    assert [f["path"] for f in replies["2"][0]["files"]] == ["z.txt", "a.txt"]
    assert replies["2"][0]["files"][0]["content"] == "é\n"
    assert list(replies["2"]) == [0, 1]


@pytest.mark.parametrize(
    ("folder", "manifest", "files", "message"),
    [
        ("4_isbn/0", ONE_FILE, {"pkg/a.py": b""}, "<task number>-<slug>"),
        ("4-isbn/first", ONE_FILE, {"pkg/a.py": b""}, "only attempt folders"),
        ("4-isbn/1", ONE_FILE, {"pkg/a.py": b""}, r"attempts \[1\] do not run 0, 1"),
        ("4-isbn/0", ONE_FILE, {}, "cannot read pkg/a.py"),
        ("4-isbn/0", ONE_FILE.replace("create", "delete"), {}, "action 'delete'"),
        ("4-isbn/0", ONE_FILE.replace("pkg/a.py", "../a.py"), {}, "not a plain path"),
        ("4-isbn/0", ONE_FILE.replace("pkg/a.py", "/etc/hosts"), {}, "not a plain path"),
        ("4-isbn/0", ONE_FILE.replace("pkg/a.py", "./pkg/a.py"), {}, "not a plain path"),
        ("4-isbn/0", ONE_FILE.replace("pkg/a.py", MANIFEST), {}, "not a plain path"),
        ("4-isbn/0", 'explanation = "why"\nfiles = []\n', {}, "non-empty files list"),
        ("4-isbn/0", 'files = [{ path = "a", action = "create" }]\n', {}, "an explanation"),
        ("4-isbn/0", ONE_FILE.replace("}", ", content = 'x' }"), {}, "each file is"),
        ("4-isbn/0", "explanation = \n", {}, "reply.toml"),
    ],
)
def test_the_loader_refuses_a_malformed_folder(
    tmp_path: Path, folder: str, manifest: str, files: dict[str, bytes], message: str
):
    write_reply(tmp_path, folder, manifest, files)
    with pytest.raises(DemoScriptError, match=message):
        load_replies(tmp_path)


def test_the_loader_refuses_two_folders_for_one_task(tmp_path: Path):
    write_reply(tmp_path, "4-isbn/0", ONE_FILE, {"pkg/a.py": b""})
    write_reply(tmp_path, "4-isbn-again/0", ONE_FILE, {"pkg/a.py": b""})
    with pytest.raises(DemoScriptError, match="task 4 already has"):
        load_replies(tmp_path)


# -- the tools leave the folder alone --------------------------------------------------------


def test_pytest_does_not_collect_the_reply_tests_even_under_the_package():
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    # Collecting imports the packaged sample's modules; their bytecode must not land in it.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "codeframe/demo",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sample_project" in done.stdout  # it did look inside codeframe/demo
    assert "replies" not in done.stdout


def test_mypy_skips_the_code_agents_work_on_and_nothing_else():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    # mypy takes one regex or, in pyproject.toml, a list of them.
    patterns = config["tool"]["mypy"]["exclude"]
    excludes = [re.compile(p) for p in ([patterns] if isinstance(patterns, str) else patterns)]
    skipped = {
        p for p in (REPO / "codeframe").rglob("*.py") if any(e.search(_rel(p)) for e in excludes)
    }
    sample = REPLIES_DIR.parent / "sample_project"
    assert skipped == set(REPLIES_DIR.rglob("*.py")) | set(sample.rglob("*.py"))
    assert set(REPLIES_DIR.rglob("*.py"))  # the folder does hold Python files
    assert config["tool"]["ruff"]["extend-exclude"] == [_rel(REPLIES_DIR)]


# -- helpers ---------------------------------------------------------------------------------


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _attempt_folders() -> list[Path]:
    return sorted(p for p in REPLIES_DIR.glob("*/*") if p.is_dir())


def _replies_by_folder() -> dict[Path, dict[str, Any]]:
    by_folder = {}
    for folder in _attempt_folders():
        number, attempt = folder.parent.name.split("-", 1)[0], int(folder.name)
        by_folder[folder] = REPLIES[number][attempt]
    return by_folder


_IMPORT_LINE = re.compile(r"^(?:import math|from decimal import .+)\n", re.MULTILINE)


def _cents_body(module: str) -> str:
    match = re.search(r"^def _cents\(price: float\) -> str:\n(?:    .+\n)+", module, re.MULTILINE)
    assert match is not None
    return match[0]


def _cents_function(module: str) -> Any:
    """Only ``_cents`` and its imports: the rest needs the sample project on the path."""
    namespace: dict[str, Any] = {}
    exec("".join(_IMPORT_LINE.findall(module)) + _cents_body(module), namespace)
    return namespace["_cents"]


def _isbn_check(attempt: int) -> Any:
    namespace: dict[str, Any] = {}
    source = content("4", attempt, "bookshelf/isbn.py")
    exec(compile(source, f"isbn attempt {attempt}", "exec"), namespace)
    return namespace["is_valid_isbn13"]
