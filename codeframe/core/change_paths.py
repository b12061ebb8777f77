"""What a path in a model's reply may be: text a file system can name, inside the project.

The model decides which paths to write, so each is hostile until proven relative, free of
NUL bytes and lone surrogates, inside the root once ``..`` is folded and symlinks are
followed, and outside ``.git/`` and codeframe's own folders (its state and journal).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import PurePosixPath

from codeframe.core.file_journal import JOURNAL_DIR
from codeframe.errors import FileChangeError, UnsafePathError

#: Where ``codeframe run`` keeps a project's database by default: a reply must never reach it.
STATE_DIR = ".codeframe"
# The smaller of the Linux and macOS limits, so a group valid here is valid on both.
NAME_MAX = 255
PATH_MAX = 1024

# "C:", "C:\\x", "c:x" - a Windows drive makes a path absolute (or drive-relative) there.
_DRIVE = re.compile(r"^[A-Za-z]:")
# A lone surrogate is not text: it is how Python smuggles undecodable bytes through a str.
_SURROGATE = re.compile("[\ud800-\udfff]")
_FS_ENCODING = sys.getfilesystemencoding()


def resolve_below(root: str, parts: tuple[str, ...]) -> str:
    """``os.path.realpath`` of ``root`` joined with ``parts``, for a ``root`` already resolved.

    Only the components below the root are looked at, one ``lstat`` each, until one is a
    link (then ``realpath`` resolves the whole path) or does not exist (the rest is
    appended as written, as ``realpath`` does).
    """
    return resolve_folder(root, parts)[0]


def resolve_folder(root: str, parts: tuple[str, ...]) -> tuple[str, bool]:
    """:func:`resolve_below`, and whether the lookup itself showed the result to be a folder
    (every component there, none a link): then nobody needs to look at it again."""
    folder = root
    mode = stat.S_IFDIR  # the root: a folder, as its caller has checked
    for index, part in enumerate(parts):
        folder = os.path.join(folder, part)
        try:
            mode = os.lstat(folder).st_mode
        except OSError:
            return os.path.join(folder, *parts[index + 1 :]), False
        if stat.S_ISLNK(mode):
            return os.path.realpath(os.path.join(root, *parts)), False
    return folder, stat.S_ISDIR(mode)


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it (both already resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def normalise_path(path: str) -> PurePosixPath:
    """The clean project-relative POSIX path a change's ``path`` names (what gets written).

    A model's path is refused (:class:`~codeframe.errors.UnsafePathError` or
    :class:`~codeframe.errors.FileChangeError`) unless it is text the file system can name,
    relative, inside the root after ``..`` is folded, and outside ``.git/`` and codeframe's
    own folders.
    """
    if "\x00" in path:
        raise UnsafePathError(f"{path!r} contains a NUL byte")
    surrogate = _SURROGATE.search(path)
    if surrogate:
        raise UnsafePathError(
            f"{path!r} cannot be encoded as a file name: it holds a lone surrogate "
            f"(U+{ord(surrogate.group()):04X}), which is not text"
        )
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        raise UnsafePathError(f"absolute path {path!r} is not allowed; paths are project-relative")
    # Models trained on Windows paths write "src\\app.py"; a backslash is never what they mean
    # as a file-name character, and reading it as a separator lets "..\\x" be caught below.
    text = path.replace("\\", "/")
    if text.endswith("/"):
        raise FileChangeError(f"{path!r} names a folder, not a file")
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafePathError(f"path traversal: {path!r} escapes the project root")
            parts.pop()
            continue
        if not parts and part.startswith("~"):
            raise UnsafePathError(f"absolute path {path!r} (home directory) is not allowed")
        try:
            # Strict, unlike os.fsencode: what we write must be a name we can store and show.
            size = len(part.encode(_FS_ENCODING))
        except UnicodeEncodeError as exc:
            raise UnsafePathError(
                f"{path!r} cannot be encoded as a file name ({_FS_ENCODING}: {exc.reason})"
            ) from None
        if size > NAME_MAX:
            raise FileChangeError(f"{path!r}: a name is longer than {NAME_MAX} bytes")
        parts.append(part)
    if not parts:
        raise FileChangeError(f"{path!r} names the project root itself, not a file")
    rel = PurePosixPath(*parts)
    refuse_reserved(path, rel)
    return rel


def refuse_reserved(path: str, rel: PurePosixPath) -> None:
    """Refuse a path inside .git/ or one of codeframe's own folders."""
    # casefold: on macOS' case-insensitive file system ".GIT" is the same folder.
    if any(part.casefold() == ".git" for part in rel.parts):
        raise UnsafePathError(f"{path!r} is inside .git/, which agents never write")
    if rel.parts and rel.parts[0].casefold() == JOURNAL_DIR:
        raise UnsafePathError(f"{path!r} is inside {JOURNAL_DIR}/, codeframe's own journal folder")
    if rel.parts and rel.parts[0].casefold() == STATE_DIR:
        raise UnsafePathError(f"{path!r} is inside {STATE_DIR}/, which holds codeframe's database")


__all__ = [
    "NAME_MAX",
    "PATH_MAX",
    "STATE_DIR",
    "is_within",
    "normalise_path",
    "refuse_reserved",
    "resolve_below",
    "resolve_folder",
]
