"""What a worker shows Claude about a task: related code from the index, the parent issue,
the human answers to earlier blockers, and, when correcting, the files in play.

Pure reads of the workspace and the store; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from codeframe.core.models import TestCase
from codeframe.indexing.codebase_index import CodebaseIndex, keyword_pattern
from codeframe.indexing.models import Symbol
from codeframe.persistence.codec import Row

MAX_EXCERPT_FILES = 5
EXCERPT_LINES = 40


def related_symbols(index: CodebaseIndex, task: Mapping[str, Any]) -> list[Symbol]:
    """Symbols whose names match a word of the task's title or description, de-duplicated."""
    text = f"{task.get('title', '')} {task.get('description', '') or ''}"
    pattern = keyword_pattern(text)
    if not pattern:
        return []
    seen: set[tuple[Any, ...]] = set()
    symbols: list[Symbol] = []
    for symbol in index.search_pattern(pattern):
        key = (symbol.name, symbol.file_path, symbol.line_number)
        if key not in seen:
            seen.add(key)
            symbols.append(symbol)
    return symbols


def file_excerpts(root: Path, symbols: Sequence[Symbol]) -> dict[str, str]:
    """A few lines around the best symbols, so the model sees real code, not just names."""
    excerpts: dict[str, str] = {}
    for symbol in symbols:
        path = symbol.file_path
        if path in excerpts or not isinstance(path, str):
            continue
        if len(excerpts) >= MAX_EXCERPT_FILES:
            break
        try:
            lines = (root / path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        start = max(symbol.line_number - 3, 0)
        excerpts[path] = "\n".join(lines[start : start + EXCERPT_LINES])
    return excerpts


def task_context(
    task: Mapping[str, Any], *, index: CodebaseIndex, issue: Row | None, root: Path
) -> dict[str, Any]:
    """The seed's context dict (task, related symbols and files, parent issue) plus excerpts."""
    symbols = related_symbols(index, task)
    return {
        "task": task,
        "related_symbols": symbols,
        "related_files": list(dict.fromkeys(s.file_path for s in symbols)),
        "issue_context": issue,
        "file_excerpts": file_excerpts(root, symbols),
    }


def resolved_blockers(blockers: Iterable[Row]) -> list[Row]:
    """The task's blockers a human has answered: their answers go into the next prompt."""
    return [b for b in blockers if b.get("resolved_at")]


def files_in_play(written: Sequence[str], cases: Iterable[TestCase]) -> list[str]:
    """What a correction prompt shows: the files written so far, then the failing test files."""
    in_play = list(written)
    for case in cases:
        if case.outcome in ("failed", "error"):
            test_file = case.node_id.split("::", 1)[0]
            if test_file.endswith(".py") and test_file not in in_play:
                in_play.append(test_file)
    return in_play


__all__ = [
    "MAX_EXCERPT_FILES",
    "file_excerpts",
    "files_in_play",
    "related_symbols",
    "resolved_blockers",
    "task_context",
]
