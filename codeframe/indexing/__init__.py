"""Symbol index of a project's Python and TypeScript/JavaScript code, for worker context."""

from __future__ import annotations

from codeframe.indexing.codebase_index import CodebaseIndex, keyword_pattern
from codeframe.indexing.models import Symbol, SymbolType

__all__ = ["CodebaseIndex", "Symbol", "SymbolType", "keyword_pattern"]
