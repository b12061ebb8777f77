"""What the codebase index hands out: one :class:`Symbol` per declaration it found."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class SymbolType(StrEnum):
    """The kind of a declaration; a ``str`` so ``SymbolType.CLASS == "class"``."""

    CLASS = "class"
    FUNCTION = "function"
    METHOD = "method"
    VARIABLE = "variable"
    INTERFACE = "interface"
    TYPE = "type"


@dataclass(frozen=True, slots=True)
class Symbol:
    """One declaration in one file.

    Frozen, so symbols can be de-duplicated in sets and shared between workers safely.
    ``file_path`` is root-relative POSIX text; ``line_number`` is 1-based; ``parent`` names
    the enclosing class of a method (or nested class).
    """

    name: str
    type: SymbolType
    file_path: str
    line_number: int
    language: str
    signature: str | None = None
    parent: str | None = None

    def __post_init__(self) -> None:
        # Accept the plain string form too ("class"), as the seed's callers sometimes pass it.
        if not isinstance(self.type, SymbolType):
            object.__setattr__(self, "type", SymbolType(self.type))

    @property
    def qualified_name(self) -> str:
        """``Parent.name`` for members, else the bare name."""
        return f"{self.parent}.{self.name}" if self.parent else self.name

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: the same keys as the fields, ``type`` as its string value."""
        return {
            "name": self.name,
            "type": self.type.value,
            "file_path": self.file_path,
            "line_number": self.line_number,
            "language": self.language,
            "signature": self.signature,
            "parent": self.parent,
        }


__all__ = ["Symbol", "SymbolType"]
