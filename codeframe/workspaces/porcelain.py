"""Pure functions that read git's machine output and write what we hand to git.

Nothing here runs git or touches a file, so each format is tested on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRAILER_TASK = "Codeframe-Task"
TRAILER_ATTEMPTS = "Codeframe-Attempts"
TRAILER_TOKENS = "Codeframe-Tokens"

# A task id becomes part of a branch name, so it must be a plain, safe ref component.
_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_HEX = re.compile(r"^[0-9a-f]{7,64}$")
_IDENT = re.compile(r"^(?P<name>.*) <(?P<email>[^>]*)> (?P<date>\d+ [+-]\d{4})$")
_REFUSAL_HEADERS = (
    "Your local changes to the following files would be overwritten",
    "The following untracked working tree files would be overwritten",
    "The following untracked working tree files would be removed",
)


@dataclass(frozen=True, slots=True)
class WorktreeEntry:
    """One block of ``git worktree list --porcelain -z``."""

    path: str
    head: str | None
    branch: str | None  # full ref name, e.g. refs/heads/main; None when detached or bare
    locked: str | None = None  # the lock's reason ("" when it has none); None when unlocked
    prunable: bool = False
    bare: bool = False


@dataclass(frozen=True, slots=True)
class CommitObject:
    """The parts of a raw commit object (``git cat-file commit``) that a copy must keep."""

    tree: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str  # git's internal form: "<seconds> <+hhmm>"
    committer_date: str
    message: str


def is_task_id(text: str) -> bool:
    """Whether ``text`` can name a task in a branch (letters, digits, ``_`` and ``-``)."""
    return _TASK_ID.match(text) is not None


def is_commit_id(text: str) -> bool:
    """Whether ``text`` looks like a (possibly abbreviated) hexadecimal object id."""
    return _HEX.match(text) is not None


def parse_worktree_list(output: str) -> list[WorktreeEntry]:
    """The entries of ``git worktree list --porcelain -z``."""
    entries: list[WorktreeEntry] = []
    fields: dict[str, str] = {}
    for item in output.split("\0"):
        if item == "":
            if "worktree" in fields:
                entries.append(_entry(fields))
            fields = {}
            continue
        key, _, value = item.partition(" ")
        fields[key] = value
    if "worktree" in fields:
        entries.append(_entry(fields))
    return entries


def _entry(fields: dict[str, str]) -> WorktreeEntry:
    return WorktreeEntry(
        path=fields["worktree"],
        head=fields.get("HEAD"),
        branch=fields.get("branch"),
        locked=fields.get("locked"),
        prunable="prunable" in fields,
        bare="bare" in fields,
    )


def parse_status_paths(output: str) -> tuple[str, ...]:
    """The paths ``git status --porcelain=v1 -z`` reports, renames' sources included."""
    paths: list[str] = []
    items = output.split("\0")
    index = 0
    while index < len(items):
        item = items[index]
        index += 1
        if len(item) < 4:
            continue
        status, path = item[:2], item[3:]
        paths.append(path)
        if "R" in status or "C" in status:
            # A rename's or copy's source follows as its own field.
            if index < len(items) and items[index]:
                paths.append(items[index])
            index += 1
    return tuple(dict.fromkeys(paths))


def parse_numstat(output: str) -> tuple[tuple[str, ...], int, int]:
    """Files, insertions, deletions from ``git diff-tree -r --numstat -z --no-renames``.

    Binary files count as changed files with no lines.
    """
    files: list[str] = []
    insertions = deletions = 0
    for item in output.split("\0"):
        if not item:
            continue
        added, deleted, path = item.split("\t", 2)
        files.append(path)
        insertions += int(added) if added.isdigit() else 0
        deletions += int(deleted) if deleted.isdigit() else 0
    return tuple(files), insertions, deletions


def parse_commit_stats(output: str) -> tuple[str, tuple[str, ...], tuple[str, ...], int, int]:
    """Commit, parents, files, insertions, deletions from one commit's ``git diff-tree``.

    Run as ``diff-tree -r --numstat -z --no-renames --always --format="%H %P" <commit>``:
    a header with the ids, then the numstat fields.
    """
    header, _, rest = output.partition("\0")
    sha, *parents = header.split()
    files, insertions, deletions = parse_numstat(rest.lstrip("\n"))
    return sha, tuple(parents), files, insertions, deletions


def parse_merge_tree(output: str) -> tuple[str, tuple[str, ...]]:
    """The merged tree and the conflicted paths from ``merge-tree --write-tree -z --name-only``.

    Run with ``--no-messages``: then everything after the tree id is a conflicted path.
    """
    tree, *rest = output.split("\0")
    return tree.strip(), tuple(dict.fromkeys(path for path in rest if path))


def parse_commit_object(text: str) -> CommitObject:
    """Read a raw commit object (headers, a blank line, the message)."""
    head, _, message = text.partition("\n\n")
    headers: dict[str, str] = {}
    parents: list[str] = []
    for line in head.split("\n"):
        if line.startswith(" "):
            continue  # continuation of a multi-line header (gpgsig, mergetag)
        key, _, value = line.partition(" ")
        if key == "parent":
            parents.append(value)
        else:
            headers.setdefault(key, value)
    author = _IDENT.match(headers.get("author", ""))
    committer = _IDENT.match(headers.get("committer", ""))
    if "tree" not in headers or author is None or committer is None:
        raise ValueError("not a commit object")
    return CommitObject(
        tree=headers["tree"],
        parents=tuple(parents),
        author_name=author["name"],
        author_email=author["email"],
        author_date=author["date"],
        committer_date=committer["date"],
        message=message,
    )


def parse_refused_paths(stderr: str) -> tuple[str, ...]:
    """The files git names when it refuses to overwrite local changes in a checkout."""
    paths: list[str] = []
    listing = False
    for line in stderr.splitlines():
        if any(header in line for header in _REFUSAL_HEADERS):
            listing = True
        elif listing and line.startswith("\t"):
            paths.append(line[1:])
        else:
            listing = False
    return tuple(dict.fromkeys(paths))


def parse_trailer_values(output: str) -> tuple[str, ...]:
    """Distinct values, oldest first, from ``git log --format=%(trailers:...,valueonly)``."""
    values = [line.strip() for line in output.splitlines() if line.strip()]
    return tuple(dict.fromkeys(reversed(values)))


def subject_line(title: str, task_id: str) -> str:
    """A task title as one commit subject line (a title's line breaks would split it)."""
    subject = " ".join(title.split())
    return subject or f"task {task_id}"


def task_commit_message(title: str, task_id: str, *, attempts: int, tokens: int) -> str:
    """The title, a blank line, then the trailers that tie the commit to its task."""
    return (
        f"{subject_line(title, task_id)}\n\n"
        f"{TRAILER_TASK}: {task_id}\n"
        f"{TRAILER_ATTEMPTS}: {attempts}\n"
        f"{TRAILER_TOKENS}: {tokens}\n"
    )


def exclude_pattern(relative: str) -> str:
    """A ``.git/info/exclude`` line that ignores exactly the folder ``relative`` (POSIX, no /)."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", relative.strip("/"))
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return f"/{escaped}/"


__all__ = [
    "TRAILER_ATTEMPTS",
    "TRAILER_TASK",
    "TRAILER_TOKENS",
    "CommitObject",
    "WorktreeEntry",
    "exclude_pattern",
    "is_commit_id",
    "is_task_id",
    "parse_commit_object",
    "parse_commit_stats",
    "parse_merge_tree",
    "parse_numstat",
    "parse_refused_paths",
    "parse_status_paths",
    "parse_trailer_values",
    "parse_worktree_list",
    "subject_line",
    "task_commit_message",
]
