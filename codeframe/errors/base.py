"""The root of codeframe's exception tree, apart so every part of the tree can derive from it."""

from __future__ import annotations


class CodeframeError(Exception):
    """Root of every error codeframe raises."""


__all__ = ["CodeframeError"]
