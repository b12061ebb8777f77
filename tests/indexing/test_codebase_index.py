"""CodebaseIndex through its public API: building, skipping, lookups, ranking, refresh."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeframe.indexing import CodebaseIndex, Symbol, SymbolType, keyword_pattern
from codeframe.indexing.codebase_index import MAX_FILE_BYTES

USERS_PY = """\
class UserService:
    def login(self, user: str, password: str) -> bool:
        return True

    def logout(self) -> None:
        pass


class UserProfile:
    pass


def login_user(user: str) -> bool:
    return True


MAX_SESSIONS = 10
"""

API_TS = """\
export interface Session { token: string }
export type Role = "admin" | "user";
export function createSession(user: string): Session { return { token: user }; }
export class SessionStore {
  get(token: string): Session | undefined { return undefined; }
}
"""


def write(root: Path, rel_path: str, text: str) -> Path:
    path = root / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(root, "app/users.py", USERS_PY)
    write(root, "web/src/api.ts", API_TS)
    write(root, "web/src/App.jsx", "export default function App() { return null; }\n")
    write(root, "README.md", "# def not_code(): pass\n")
    return root


@pytest.fixture
def index(project: Path) -> CodebaseIndex:
    built = CodebaseIndex(project)
    built.build()
    return built


def names(symbols: list[Symbol]) -> list[str]:
    return [symbol.qualified_name for symbol in symbols]


# -- construction and build ---------------------------------------------------------------


def test_constructing_does_no_io(tmp_path: Path) -> None:
    index = CodebaseIndex(str(tmp_path / "does-not-exist-yet"))
    assert index.project_root == tmp_path / "does-not-exist-yet"
    assert index.symbols == []
    assert not (tmp_path / "does-not-exist-yet").exists()


def test_build_on_a_missing_root_gives_an_empty_index(tmp_path: Path) -> None:
    index = CodebaseIndex(tmp_path / "missing")
    index.build()
    assert index.to_dict() == {"symbols": [], "symbol_count": 0, "file_count": 0}


def test_build_indexes_python_typescript_and_javascript(index: CodebaseIndex) -> None:
    assert index.files == ["app/users.py", "web/src/App.jsx", "web/src/api.ts"]
    languages = {symbol.file_path: symbol.language for symbol in index.symbols}
    assert languages == {
        "app/users.py": "python",
        "web/src/App.jsx": "javascript",
        "web/src/api.ts": "typescript",
    }
    # Ordered by file, then line.
    keys = [(symbol.file_path, symbol.line_number) for symbol in index.symbols]
    assert keys == sorted(keys)


def test_build_replaces_the_previous_contents(project: Path, index: CodebaseIndex) -> None:
    (project / "app" / "users.py").unlink()
    index.build()
    assert index.find_symbols("UserService") == []
    assert index.files == ["web/src/App.jsx", "web/src/api.ts"]


def test_build_with_patterns_limits_the_files(project: Path) -> None:
    index = CodebaseIndex(project)
    index.build(file_patterns=["web/**/*.ts"])
    assert index.files == ["web/src/api.ts"]
    index.build(file_patterns=["*.py"])  # no "**/": only the root folder
    assert index.files == []


def test_skipped_folders_are_not_indexed(tmp_path: Path) -> None:
    root = tmp_path / "build"  # a root named like a skipped folder is still the root
    write(root, "src/keep.py", "def kept(): pass\n")
    for folder in (
        ".git",
        ".venv",
        "venv",
        "node_modules/pkg",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        "dist",
        "build",
        ".ipynb_checkpoints",
        ".hypothesis",
        "src/__pycache__",
    ):
        write(root, f"{folder}/hidden.py", "def hidden(): pass\n")
    write(root, "myenv/pyvenv.cfg", "home = /usr/bin\n")
    write(root, "myenv/lib/site.py", "def hidden(): pass\n")
    index = CodebaseIndex(root)
    index.build()
    assert index.files == ["src/keep.py"]
    assert index.find_symbols("hidden") == []


def test_symlinks_leading_outside_the_root_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write(root, "src/real.py", "def real(): pass\n")
    outside = tmp_path / "outside"
    write(outside, "secret.py", "def secret(): pass\n")
    os.symlink(outside / "secret.py", root / "src" / "link.py")
    os.symlink(outside, root / "linked_dir")
    os.symlink(root / "src" / "real.py", root / "alias.py")  # inside the root: fine
    index = CodebaseIndex(root)
    index.build()
    assert index.find_symbols("secret") == []
    assert sorted(symbol.file_path for symbol in index.find_symbols("real")) == [
        "alias.py",
        "src/real.py",
    ]


def test_unparsable_files_are_skipped_with_a_log_record(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(project, "app/broken.py", "def broken(:\n    pass\n")
    (project / "web" / "src" / "binary.ts").write_bytes(b"\xff\xfe\x00export function x() {}")
    with caplog.at_level(logging.INFO, logger="codeframe.indexing"):
        index = CodebaseIndex(project)
        index.build()
    messages = [record.getMessage() for record in caplog.records]
    assert any("app/broken.py" in message for message in messages)
    assert any("web/src/binary.ts" in message for message in messages)
    assert "app/broken.py" not in index.files
    assert "web/src/binary.ts" not in index.files
    assert index.find_symbols("UserService")  # the rest is still indexed


def test_files_over_the_size_cap_are_skipped(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(project, "app/huge.py", "def huge(): pass\n" + "#" * MAX_FILE_BYTES)
    with caplog.at_level(logging.INFO, logger="codeframe.indexing"):
        index = CodebaseIndex(project)
        index.build()
    assert index.find_symbols("huge") == []
    assert any("app/huge.py" in record.getMessage() for record in caplog.records)


# -- lookups ------------------------------------------------------------------------------


def test_find_symbols_filters(index: CodebaseIndex) -> None:
    assert names(index.find_symbols("login")) == ["UserService.login"]
    assert index.find_symbols("Login") == []  # exact name
    assert names(index.find_symbols(symbol_type=SymbolType.CLASS)) == [
        "UserService",
        "UserProfile",
        "SessionStore",
    ]
    assert names(index.find_symbols(symbol_type="interface")) == ["Session"]
    assert names(index.find_symbols(language="javascript")) == ["App"]
    assert names(index.find_symbols(symbol_type=SymbolType.METHOD, language="typescript")) == [
        "SessionStore.get"
    ]
    assert index.find_symbols("login", symbol_type=SymbolType.FUNCTION) == []
    assert index.find_symbols() == index.symbols


def test_get_file_symbols_takes_relative_or_absolute_paths(
    project: Path, index: CodebaseIndex
) -> None:
    expected = ["UserService", "UserService.login", "UserService.logout", "UserProfile"]
    expected += ["login_user", "MAX_SESSIONS"]
    assert names(index.get_file_symbols("app/users.py")) == expected
    assert names(index.get_file_symbols("./app/../app/users.py")) == expected
    assert names(index.get_file_symbols(project / "app" / "users.py")) == expected
    assert names(index.get_file_symbols(str((project / "app/users.py").resolve()))) == expected
    assert index.get_file_symbols("../project/app/users.py") == []
    assert index.get_file_symbols("app/missing.py") == []


def test_get_file_symbols_returns_a_copy(index: CodebaseIndex) -> None:
    index.get_file_symbols("app/users.py").clear()
    assert index.get_file_symbols("app/users.py")


def test_search_pattern_is_case_insensitive_and_bad_regex_gives_nothing(
    index: CodebaseIndex, caplog: pytest.LogCaptureFixture
) -> None:
    assert "SessionStore" in names(index.search_pattern("sessionstore"))
    with caplog.at_level(logging.DEBUG, logger="codeframe.indexing"):
        assert index.search_pattern("([unclosed") == []
    assert any("([unclosed" in record.getMessage() for record in caplog.records)
    assert index.search_pattern(None) == []


def test_search_pattern_puts_whole_names_first_then_shorter(index: CodebaseIndex) -> None:
    assert names(index.search_pattern("login")) == ["UserService.login", "login_user"]
    # Equal lengths (MAX_SESSIONS, SessionStore) fall back to file order.
    assert names(index.search_pattern("session")) == [
        "Session",
        "MAX_SESSIONS",
        "SessionStore",
        "createSession",
    ]


def test_search_pattern_puts_a_whole_match_before_a_shorter_partial_one(tmp_path: Path) -> None:
    write(tmp_path, "tok.py", "def atok(): pass\ndef tokens(): pass\ndef other(): pass\n")
    index = CodebaseIndex(tmp_path)
    index.build()
    assert names(index.search_pattern("tok|tokens")) == ["tokens", "atok"]


def test_search_ranks_by_distinct_keywords_matched(project: Path) -> None:
    write(project, "app/lists.py", "def users(): pass\n")
    index = CodebaseIndex(project)
    index.build()
    ranked = names(index.search_text("Add a login endpoint to the user service"))
    # 3 words (with the class), 2, 2 — then one-word matches such as the shorter ``users``.
    assert ranked[:4] == ["UserService.login", "login_user", "UserService", "users"]
    assert ranked.index("UserService.login") < ranked.index("UserProfile")
    assert ranked.index("login_user") < ranked.index("UserProfile")


def test_search_text_limits_and_handles_empty_text(index: CodebaseIndex) -> None:
    assert len(index.search_text("user session login", limit=2)) == 2
    assert index.search_text("the and of a") == []
    assert index.search_text("") == []


def test_search_results_are_deterministic(project: Path) -> None:
    runs = []
    for _ in range(2):
        index = CodebaseIndex(project)
        index.build()
        runs.append(index.search_text("user session token store"))
    assert runs[0] == runs[1]


# -- keyword_pattern ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Add a login endpoint to the user service", "(?:login|endpoint|user|service)"),
        ("getUserById and HTTPServer", "(?:get|user|http|server)"),
        ("refresh_token_store, refresh tokens", "(?:refresh|token|store|tokens)"),
        ("USER user User", "(?:user)"),
        ("Fix bug #1234 in v2 db", "(?:fix|bug)"),
        ("café naïve", "(?:café|naïve)"),
        ("", None),
        ("a to of it the and", None),
        ("!!! ??? ...", None),
    ],
)
def test_keyword_pattern(text: str, expected: str | None) -> None:
    assert keyword_pattern(text) == expected


@given(st.text())
def test_keyword_pattern_is_a_valid_regex_matching_its_words(text: str) -> None:
    pattern = keyword_pattern(text)
    if pattern is None:
        return
    regex = re.compile(pattern, re.IGNORECASE)
    assert "\\b" not in pattern
    for word in pattern[3:-1].split("|"):
        assert regex.fullmatch(word.replace("\\", ""))


# -- update_files -------------------------------------------------------------------------


def test_update_files_sees_a_modified_file(project: Path, index: CodebaseIndex) -> None:
    write(project, "app/users.py", "def register(user: str) -> None:\n    pass\n")
    index.update_files(["app/users.py"])
    assert index.find_symbols("UserService") == []
    assert index.find_symbols("login") == []
    (register,) = index.find_symbols("register")
    assert register.signature == "def register(user: str) -> None"
    assert names(index.search_pattern("regist|login")) == ["register"]


def test_update_files_adds_new_and_drops_deleted_files(project: Path, index: CodebaseIndex) -> None:
    new_file = write(project, "app/billing.py", "class Invoice:\n    pass\n")
    (project / "web" / "src" / "api.ts").unlink()
    index.update_files([new_file, "web/src/api.ts"])  # absolute and relative
    assert names(index.find_symbols("Invoice")) == ["Invoice"]
    assert index.find_symbols("Session") == []
    assert index.files == ["app/billing.py", "app/users.py", "web/src/App.jsx"]


def test_update_files_drops_a_deleted_folder(project: Path, index: CodebaseIndex) -> None:
    for path in (project / "web" / "src").iterdir():
        path.unlink()
    (project / "web" / "src").rmdir()
    index.update_files(["web"])
    assert index.files == ["app/users.py"]


def test_update_files_ignores_outside_skipped_and_unmatched_paths(
    tmp_path: Path, project: Path, index: CodebaseIndex
) -> None:
    before = index.to_dict()
    outside = write(tmp_path, "elsewhere.py", "def elsewhere(): pass\n")
    write(project, "node_modules/pkg/index.js", "export function dep() {}\n")
    write(project, "notes.txt", "def notes(): pass\n")
    write(project, "env/pyvenv.cfg", "home = /usr/bin\n")
    write(project, "env/lib/site.py", "def site(): pass\n")
    index.update_files(
        [outside, "../elsewhere.py", "node_modules/pkg/index.js", "notes.txt", "env/lib/site.py"]
    )
    assert index.to_dict() == before


def test_updates_leave_the_same_index_as_a_fresh_build(project: Path, index: CodebaseIndex) -> None:
    write(project, "app/users.py", USERS_PY.replace("logout", "sign_out"))
    write(project, "app/extra/models.py", "class Model:\n    def save(self): pass\n")
    write(project, "app/aaa.py", "def login(): pass\n")  # same name, earlier file
    (project / "web" / "src" / "App.jsx").unlink()
    index.update_files(["app/users.py", "app/extra", "web/src/App.jsx", "app/aaa.py"])
    fresh = CodebaseIndex(project)
    fresh.build()
    assert index.to_dict() == fresh.to_dict()
    for name in ("login", "sign_out", "logout", "save", "App"):
        assert index.find_symbols(name) == fresh.find_symbols(name)
    assert index.search_pattern("s") == fresh.search_pattern("s")


def test_update_files_keeps_same_named_symbols_in_file_order(
    project: Path, index: CodebaseIndex
) -> None:
    write(project, "app/aaa.py", "def login(): pass\n")
    index.update_files(["app/aaa.py"])
    assert [s.file_path for s in index.find_symbols("login")] == ["app/aaa.py", "app/users.py"]


def test_update_files_on_the_root_rescans_everything(project: Path, index: CodebaseIndex) -> None:
    write(project, "app/more.py", "def more(): pass\n")
    (project / "web" / "src" / "App.jsx").unlink()
    index.update_files([project])
    assert index.files == ["app/more.py", "app/users.py", "web/src/api.ts"]


def test_update_files_on_an_unbuilt_index_adds_just_those_files(project: Path) -> None:
    index = CodebaseIndex(project)
    index.update_files(["web/src/api.ts"])
    assert index.files == ["web/src/api.ts"]


# -- to_dict ------------------------------------------------------------------------------


def test_to_dict_is_json_ready(index: CodebaseIndex) -> None:
    data = json.loads(json.dumps(index.to_dict()))
    assert data["symbol_count"] == len(index.symbols) == len(data["symbols"])
    assert data["file_count"] == 3
    first = data["symbols"][0]
    assert first == {
        "name": "UserService",
        "type": "class",
        "file_path": "app/users.py",
        "line_number": 1,
        "language": "python",
        "signature": "class UserService",
        "parent": None,
    }


def test_symbol_accepts_the_type_as_text_and_is_hashable() -> None:
    symbol = Symbol("run", "function", "a.py", 1, "python")  # type: ignore[arg-type]
    assert symbol.type is SymbolType.FUNCTION
    assert symbol == Symbol("run", SymbolType.FUNCTION, "a.py", 1, "python")
    assert len({symbol, Symbol("run", SymbolType.FUNCTION, "a.py", 1, "python")}) == 1


def test_an_index_rooted_at_a_copy_rereads_only_what_changed(tmp_path):
    import shutil

    original = tmp_path / "original"
    (original / "pkg").mkdir(parents=True)
    (original / "pkg" / "a.py").write_text("def alpha():\n    pass\n")
    (original / "pkg" / "b.py").write_text("def beta():\n    pass\n")
    index = CodebaseIndex(original)
    index.build()
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    (copy / "pkg" / "b.py").write_text("def gamma():\n    pass\n")
    (copy / "pkg" / "c.py").write_text("class Delta:\n    pass\n")

    rooted = index.rooted_at(copy, ["pkg/b.py", "pkg/c.py"])

    assert rooted.project_root == copy
    assert {s.name for s in rooted.symbols} == {"alpha", "gamma", "Delta"}
    assert {s.name for s in index.symbols} == {"alpha", "beta"}  # the original is untouched
    fresh = CodebaseIndex(copy)
    fresh.build()
    assert [s.to_dict() for s in rooted.symbols] == [s.to_dict() for s in fresh.symbols]


def test_codeframes_own_folders_are_never_indexed(tmp_path):
    (tmp_path / ".codeframe" / "worktrees" / "task-1").mkdir(parents=True)
    (tmp_path / ".codeframe" / "worktrees" / "task-1" / "copy.py").write_text("def twin(): ...\n")
    (tmp_path / "real.py").write_text("def real(): ...\n")
    index = CodebaseIndex(tmp_path)
    index.build()
    assert [s.name for s in index.symbols] == ["real"]
