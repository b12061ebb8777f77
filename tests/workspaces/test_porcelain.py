"""The parsers of git's machine output and the texts we hand to git, without running git."""

from __future__ import annotations

import pytest

from codeframe.workspaces.porcelain import (
    WorktreeEntry,
    exclude_pattern,
    is_commit_id,
    is_task_id,
    parse_commit_object,
    parse_commit_stats,
    parse_merge_tree,
    parse_numstat,
    parse_refused_paths,
    parse_status_paths,
    parse_trailer_values,
    parse_worktree_list,
    subject_line,
    task_commit_message,
)

SHA_A = "a" * 40
SHA_B = "b" * 40


def test_worktree_list() -> None:
    output = (
        f"worktree /r\0HEAD {SHA_A}\0branch refs/heads/main\0\0"
        f"worktree /r/.cf/slot-1\0HEAD {SHA_B}\0detached\0locked initializing\0\0"
        f"worktree /r/.cf/slot 2\0HEAD {SHA_B}\0branch refs/heads/codeframe/task-7\0"
        "prunable gitdir file points to non-existent location\0\0"
    )
    assert parse_worktree_list(output) == [
        WorktreeEntry("/r", SHA_A, "refs/heads/main"),
        WorktreeEntry("/r/.cf/slot-1", SHA_B, None, locked="initializing"),
        WorktreeEntry("/r/.cf/slot 2", SHA_B, "refs/heads/codeframe/task-7", prunable=True),
    ]


def test_worktree_list_lock_without_reason() -> None:
    entry = parse_worktree_list(f"worktree /w\0HEAD {SHA_A}\0detached\0locked\0\0")[0]
    assert entry.locked == ""


def test_status_paths_with_renames_and_odd_names() -> None:
    output = " M app/calc.py\0R  new name.py\0old name.py\0?? notes/a b.txt\0A  \u00e9t\u00e9.py\0"
    assert parse_status_paths(output) == (
        "app/calc.py",
        "new name.py",
        "old name.py",
        "notes/a b.txt",
        "\u00e9t\u00e9.py",
    )


def test_numstat_counts_lines_and_binary_files() -> None:
    output = "3\t1\tapp/calc.py\0-\t-\tlogo.png\0" + "0\t5\told.py\0"
    assert parse_numstat(output) == (("app/calc.py", "logo.png", "old.py"), 3, 6)
    assert parse_numstat("") == ((), 0, 0)


def test_commit_stats() -> None:
    output = f"{SHA_A} {SHA_B}\0\n2\t1\tapp/calc.py\0" + "1\t0\tnew file.py\0"
    assert parse_commit_stats(output) == (SHA_A, (SHA_B,), ("app/calc.py", "new file.py"), 3, 1)
    assert parse_commit_stats(f"{SHA_A} {SHA_B}\0") == (SHA_A, (SHA_B,), (), 0, 0)  # empty


def test_merge_tree_clean_and_conflicted() -> None:
    assert parse_merge_tree(f"{SHA_A}\0") == (SHA_A, ())
    conflicted = f"{SHA_A}\0app/calc.py\0we ird[1].txt\0app/calc.py\0"
    assert parse_merge_tree(conflicted) == (SHA_A, ("app/calc.py", "we ird[1].txt"))


def test_commit_object() -> None:
    text = (
        f"tree {SHA_A}\nparent {SHA_B}\n"
        "author Ada Lovelace <ada@example.com> 1700000000 +0100\n"
        "committer codeframe <codeframe@localhost> 1700000100 -0500\n"
        "gpgsig -----BEGIN PGP SIGNATURE-----\n \n stuff\n -----END PGP SIGNATURE-----\n"
        "\nTitle\n\nCodeframe-Task: 3\n"
    )
    commit = parse_commit_object(text)
    assert commit.tree == SHA_A and commit.parents == (SHA_B,)
    assert (commit.author_name, commit.author_email) == ("Ada Lovelace", "ada@example.com")
    assert commit.author_date == "1700000000 +0100"
    assert commit.committer_date == "1700000100 -0500"
    assert commit.message == "Title\n\nCodeframe-Task: 3\n"


def test_not_a_commit_object() -> None:
    with pytest.raises(ValueError, match="not a commit"):
        parse_commit_object("blob 12\n\nhello")


def test_refused_paths_from_both_of_gits_refusals() -> None:
    stderr = (
        "error: Your local changes to the following files would be overwritten by merge:\n"
        "\tapp/calc.py\n\tREADME.md\n"
        "Please commit your changes or stash them before you merge.\n"
        "error: The following untracked working tree files would be overwritten by merge:\n"
        "\tapp/new.py\n"
        "Please move or remove them before you merge.\nAborting\n"
    )
    assert parse_refused_paths(stderr) == ("app/calc.py", "README.md", "app/new.py")
    assert parse_refused_paths("fatal: Not possible to fast-forward, aborting.\n") == ()


def test_trailer_values_oldest_first_and_distinct() -> None:
    assert parse_trailer_values("9\n\n4\n\n9\n\n\n") == ("9", "4")


def test_task_commit_message() -> None:
    message = task_commit_message("Add\nsearch  box", "7", attempts=2, tokens=5400)
    assert message == (
        "Add search box\n\nCodeframe-Task: 7\nCodeframe-Attempts: 2\nCodeframe-Tokens: 5400\n"
    )
    assert subject_line("  \n ", "7") == "task 7"


@pytest.mark.parametrize(
    ("relative", "pattern"),
    [
        (".codeframe/worktrees", "/.codeframe/worktrees/"),
        ("sub/proj/.codeframe/worktrees/", "/sub/proj/.codeframe/worktrees/"),
        ("we[ird]/#x/!y*", "/we\\[ird\\]/\\#x/\\!y\\*/"),
    ],
)
def test_exclude_pattern(relative: str, pattern: str) -> None:
    assert exclude_pattern(relative) == pattern


@pytest.mark.parametrize("text", ["7", "task-7", "a_b", "X9"])
def test_valid_task_ids(text: str) -> None:
    assert is_task_id(text)


@pytest.mark.parametrize("text", ["", "-7", "a/b", "a..b", "a b", "x.lock", "@{1}", "--force"])
def test_invalid_task_ids(text: str) -> None:
    assert not is_task_id(text)


def test_commit_ids() -> None:
    assert is_commit_id(SHA_A) and is_commit_id("abc1234")
    assert not is_commit_id("--help") and not is_commit_id("HEAD") and not is_commit_id("abc")
