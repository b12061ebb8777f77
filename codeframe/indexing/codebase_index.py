"""An in-memory index of a project's declarations, for giving workers related context.

Building walks the project once (skipping VCS folders, virtualenvs, dependencies and
caches), extracts symbols per file, and keeps two dictionaries — file → symbols and
name → symbols — so lookups and searches never touch the disk. Files that do not parse,
are too large or are not text are skipped with a log line; nothing here raises for a bad
file in the project.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from codeframe.indexing.keywords import compile_globs, keyword_pattern
from codeframe.indexing.models import Symbol, SymbolType
from codeframe.indexing.python_symbols import extract_python_symbols
from codeframe.indexing.typescript_symbols import extract_typescript_symbols

logger = logging.getLogger(__name__)

DEFAULT_FILE_PATTERNS: tuple[str, ...] = ("**/*.py", "**/*.ts", "**/*.tsx", "**/*.js", "**/*.jsx")

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        "dist",
        "build",
        ".ipynb_checkpoints",
        ".hypothesis",
        # codeframe's own: task worktrees, and a file-change group's journal while it runs.
        ".codeframe",
        ".codeframe-journal",
    }
)

MAX_FILE_BYTES = 1024 * 1024

LANGUAGE_BY_SUFFIX = {
    ".py": "python",
    ".pyi": "python",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
}


def _language(rel_path: str) -> str | None:
    """The language whose extractor reads this file, ``None`` when none does."""
    return LANGUAGE_BY_SUFFIX.get(posixpath.splitext(rel_path)[1].lower())


class CodebaseIndex:
    """Symbols of the Python and TypeScript/JavaScript files under ``project_root``.

    Constructing it does no I/O; call :meth:`build` (or :meth:`update_files`) to fill it.
    ``symbols`` lists every symbol ordered by file, then line.
    """

    def __init__(self, project_root: str | Path) -> None:
        self.project_root = Path(project_root)
        self.symbols: list[Symbol] = []
        self._by_file: dict[str, list[Symbol]] = {}
        self._by_name: dict[str, list[Symbol]] = {}
        self._patterns: tuple[str, ...] = DEFAULT_FILE_PATTERNS
        self._pattern_rx = compile_globs(self._patterns)
        self._resolved_root: Path | None = None

    def __repr__(self) -> str:
        return (
            f"CodebaseIndex({str(self.project_root)!r}, files={len(self._by_file)}, "
            f"symbols={len(self.symbols)})"
        )

    # -- building -----------------------------------------------------------------------

    def build(self, file_patterns: Sequence[str] | None = None) -> None:
        """Rescan the whole project, replacing whatever was indexed before.

        ``file_patterns`` are root-relative globs (``**/`` matches any depth, including
        none); they are remembered for later :meth:`update_files` calls.
        """
        started = time.perf_counter()
        if file_patterns is not None:
            self._patterns = tuple(file_patterns)
            self._pattern_rx = compile_globs(self._patterns)
        root = self._root()
        self._by_file = {}
        for rel_path in sorted(self._walk(root, "")):
            self._index_file(root, rel_path)
        self._rebuild_lookups()
        logger.debug(
            "indexed %d symbols in %d files under %s in %.1f ms",
            len(self.symbols),
            len(self._by_file),
            root,
            (time.perf_counter() - started) * 1000,
        )

    def update_files(self, paths: Iterable[str | Path]) -> None:
        """Re-read just these files (absolute or root-relative) after they changed.

        A file that no longer exists drops its symbols (a deleted folder drops everything
        under it); a new file is added; a folder is rescanned. Paths outside the root, in
        skipped folders or not matching the build's patterns are ignored.
        """
        # The root as the last build resolved it: resolving costs a system call per folder
        # of its path, and a worker updates the index after every change it writes.
        root = self._resolved_root or self._root()
        touched: set[str] = set()
        dropped: list[Symbol] = []
        for path in paths:
            rel_path = self._relative(path)
            if rel_path is None:
                logger.debug("not indexing %s: outside %s", path, root)
                continue
            if rel_path == ".":
                rel_path = ""  # the root itself: rescan everything
            for stale in self._forget(rel_path):
                touched.add(stale)
                dropped.extend(self._by_file.pop(stale))
            absolute = root / rel_path
            if absolute.is_dir() and not absolute.is_symlink():
                skipped = self._in_skipped_dir(root, rel_path) or (
                    bool(rel_path)
                    and (absolute.name in SKIP_DIRS or (absolute / "pyvenv.cfg").is_file())
                )
                fresh = [] if skipped else sorted(self._walk(root, rel_path))
            elif (
                # Cheapest first: most files a task writes are not source files at all, and
                # their folders need no look for a virtualenv.
                _language(rel_path) is not None
                and self._pattern_rx.match(rel_path)
                and not self._in_skipped_dir(root, rel_path)
                and self._is_indexable(root, absolute)
            ):
                fresh = [rel_path]
            else:
                fresh = []
            for child in fresh:
                self._index_file(root, child)
                touched.add(child)
        if touched or dropped:  # most writes (docs, data, styles) change no symbol
            self._patch_lookups(touched, dropped)
        logger.debug("refreshed %d files; index holds %d symbols", len(touched), len(self.symbols))

    def rooted_at(self, root: str | Path, changed: Iterable[str] = ()) -> CodebaseIndex:
        """This index for a copy of the tree at ``root`` (a task's worktree): the symbols are
        shared, then ``changed`` (root-relative paths that differ there) are re-read.

        Much cheaper than building from scratch when the copy differs in a few files.
        """
        copy = CodebaseIndex(root)
        copy._patterns, copy._pattern_rx = self._patterns, self._pattern_rx
        copy._by_file = {path: list(symbols) for path, symbols in self._by_file.items()}
        copy._rebuild_lookups()
        changed = list(changed)
        if changed:
            copy.update_files(changed)
        return copy

    # -- queries --------------------------------------------------------------------------

    def find_symbols(
        self,
        name: str | None = None,
        symbol_type: SymbolType | str | None = None,
        language: str | None = None,
    ) -> list[Symbol]:
        """Symbols with exactly this name, type and language; ``None`` means any."""
        found: Iterable[Symbol] = self._by_name.get(name, []) if name is not None else self.symbols
        return [
            symbol
            for symbol in found
            if (symbol_type is None or symbol.type == symbol_type)
            and (language is None or symbol.language == language)
        ]

    def get_file_symbols(self, file_path: str | Path) -> list[Symbol]:
        """The symbols of one file, given absolute or relative to the project root."""
        rel_path = self._relative(file_path)
        return list(self._by_file.get(rel_path, [])) if rel_path is not None else []

    def search_pattern(self, pattern: str | None) -> list[Symbol]:
        """Symbols whose name matches ``pattern`` (case-insensitive), most relevant first.

        Ranking: more distinct matched texts in ``Parent.name`` (so "user service login"
        puts ``UserService.login`` above ``UserProfile``), then names the pattern matches
        whole, then shorter names, then file and line. A bad regex gives ``[]``.
        """
        if pattern is None:
            return []
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            logger.debug("search pattern %r is not a valid regex: %s", pattern, exc)
            return []
        hits_cache: dict[str, frozenset[str]] = {}

        def hits(text: str) -> frozenset[str]:
            if text not in hits_cache:
                hits_cache[text] = frozenset(m.group().lower() for m in regex.finditer(text))
            return hits_cache[text]

        ranked: list[tuple[tuple[Any, ...], Symbol]] = []
        for name, symbols in self._by_name.items():
            if regex.search(name) is None:
                continue
            whole = regex.fullmatch(name) is not None
            for symbol in symbols:
                matched = (hits(name) | hits(symbol.parent)) if symbol.parent else hits(name)
                key = (
                    -len(matched),
                    not whole,
                    len(name),
                    symbol.file_path,
                    symbol.line_number,
                    name,
                )
                ranked.append((key, symbol))
        ranked.sort(key=lambda item: item[0])
        return [symbol for _, symbol in ranked]

    def search_text(self, text: str, limit: int = 20) -> list[Symbol]:
        """The ``limit`` symbols most related to free text such as a task's title and body."""
        return self.search_pattern(keyword_pattern(text))[:limit]

    @property
    def files(self) -> list[str]:
        """Root-relative paths of the indexed files, sorted."""
        return sorted(self._by_file)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the whole index."""
        return {
            "symbols": [symbol.to_dict() for symbol in self.symbols],
            "symbol_count": len(self.symbols),
            "file_count": len(self._by_file),
        }

    # -- internals ------------------------------------------------------------------------

    def _root(self) -> Path:
        # Resolved once per build (updates reuse it): symlinked roots (macOS /var) compare.
        self._resolved_root = self.project_root.resolve()
        return self._resolved_root

    def _relative(self, path: str | Path) -> str | None:
        """Root-relative POSIX text for ``path``, or ``None`` when it is outside the root."""
        candidate = Path(path)
        if not candidate.is_absolute():
            rel = posixpath.normpath(candidate.as_posix())
            return None if rel == ".." or rel.startswith("../") else rel
        absolute = posixpath.normpath(candidate.as_posix())
        roots = (self.project_root.absolute(), self._resolved_root or self.project_root.resolve())
        for root in roots:
            root_text = posixpath.normpath(root.as_posix()).rstrip("/")
            if absolute == root_text:
                return "."
            if absolute.startswith(root_text + "/"):
                return absolute[len(root_text) + 1 :]
        return None

    def _walk(self, root: Path, rel_dir: str) -> Iterator[str]:
        """Yield root-relative paths of indexable files under ``rel_dir`` (unordered)."""
        stack = [rel_dir]
        while stack:
            current = stack.pop()
            directory = root / current if current else root
            try:
                with os.scandir(directory) as scan:
                    entries = list(scan)
            except OSError as exc:
                logger.debug("cannot list %s: %s", directory, exc)
                continue
            # A folder holding pyvenv.cfg is a virtualenv, whatever its name.
            if current and any(entry.name == "pyvenv.cfg" for entry in entries):
                continue
            for entry in entries:
                rel_path = f"{current}/{entry.name}" if current else entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in SKIP_DIRS:
                            stack.append(rel_path)
                    elif not self._pattern_rx.match(rel_path):
                        continue
                    elif entry.is_symlink():
                        if self._is_indexable(root, Path(entry.path)):
                            yield rel_path
                    elif entry.is_file(follow_symlinks=False):
                        yield rel_path
                except OSError as exc:
                    logger.debug("cannot inspect %s: %s", entry.path, exc)

    @staticmethod
    def _is_indexable(root: Path, path: Path) -> bool:
        """A regular file, or a symlink to one that stays inside the root."""
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(root):
                logger.debug("not following %s: it points outside %s", path, root)
                return False
            return target.is_file()
        return path.is_file()

    @staticmethod
    def _in_skipped_dir(root: Path, rel_path: str) -> bool:
        parts = rel_path.split("/")[:-1]
        for depth, part in enumerate(parts, start=1):
            if part in SKIP_DIRS:
                return True
            if (root.joinpath(*parts[:depth]) / "pyvenv.cfg").is_file():
                return True
        return False

    def _index_file(self, root: Path, rel_path: str) -> None:
        """Extract one file's symbols into ``_by_file``; a bad file is logged and skipped."""
        language = _language(rel_path)
        if language is None:
            logger.debug("skipping %s: no extractor for its suffix", rel_path)
            return
        try:
            with open(root / rel_path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            logger.info("skipping %s: cannot read it (%s)", rel_path, exc)
            return
        if len(data) > MAX_FILE_BYTES:
            logger.info("skipping %s: larger than %d bytes", rel_path, MAX_FILE_BYTES)
            return
        try:
            symbols = _extract(data, rel_path, language)
        except (SyntaxError, ValueError, RecursionError) as exc:
            # Includes UnicodeDecodeError (a ValueError): the file is not text we can read.
            logger.info("skipping %s: cannot parse it (%s: %s)", rel_path, type(exc).__name__, exc)
            return
        except Exception:
            # A fault in our own extractor must not stop a run over one odd file; the
            # traceback is kept so it can be fixed.
            logger.warning("skipping %s: symbol extraction failed", rel_path, exc_info=True)
            return
        self._by_file[rel_path] = symbols

    def _forget(self, rel_path: str) -> list[str]:
        """Indexed paths that ``rel_path`` names: the file itself or everything under it."""
        if not rel_path:
            return list(self._by_file)
        prefix = rel_path.rstrip("/") + "/"
        return [path for path in self._by_file if path == rel_path or path.startswith(prefix)]

    def _rebuild_lookups(self) -> None:
        self.symbols = [symbol for path in sorted(self._by_file) for symbol in self._by_file[path]]
        by_name: dict[str, list[Symbol]] = {}
        for symbol in self.symbols:
            by_name.setdefault(symbol.name, []).append(symbol)
        self._by_name = by_name

    def _patch_lookups(self, touched: set[str], dropped: list[Symbol]) -> None:
        """Refresh the lookups for a few changed files without regrouping every name."""
        self.symbols = [symbol for path in sorted(self._by_file) for symbol in self._by_file[path]]
        added: dict[str, list[Symbol]] = {}
        for path in touched:
            for symbol in self._by_file.get(path, []):
                added.setdefault(symbol.name, []).append(symbol)
        for name in {symbol.name for symbol in dropped} | added.keys():
            kept = [s for s in self._by_name.get(name, []) if s.file_path not in touched]
            kept += added.get(name, [])
            if kept:
                kept.sort(key=lambda symbol: (symbol.file_path, symbol.line_number))
                self._by_name[name] = kept
            else:
                self._by_name.pop(name, None)


def _extract(data: bytes, rel_path: str, language: str) -> list[Symbol]:
    if language == "python":
        return extract_python_symbols(data, rel_path)
    return extract_typescript_symbols(data.decode("utf-8-sig"), rel_path, language)


__all__ = [
    "DEFAULT_FILE_PATTERNS",
    "MAX_FILE_BYTES",
    "SKIP_DIRS",
    "CodebaseIndex",
    "Symbol",
    "SymbolType",
    "keyword_pattern",
]
