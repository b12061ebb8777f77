"""Python declarations via :mod:`ast`: classes, functions, methods and module constants."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from codeframe.indexing.models import Symbol, SymbolType

LANGUAGE = "python"

# UPPER_CASE names of two or more characters; a lone capital is usually a TypeVar.
_CONSTANT_NAME = re.compile(r"_?[A-Z][A-Z0-9_]+")
# A constant's value is shown in its signature only when it is this short on one line.
_MAX_VALUE_CHARS = 60

_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def extract_python_symbols(source: str | bytes, file_path: str) -> list[Symbol]:
    """Return the symbols of one Python file, in source order.

    Raises ``SyntaxError`` (or ``ValueError`` for null bytes) when the file does not
    parse; the index turns that into a log line. Bytes are accepted so that ``ast``
    honours a BOM or a ``# coding:`` cookie.
    """
    tree = ast.parse(source, filename=file_path)
    collector = _Collector(file_path)
    collector.visit_module_body(tree.body)
    return collector.symbols


class _Collector:
    """Walks only what a reader would call a declaration: module and class level."""

    def __init__(self, file_path: str) -> None:
        self.file_path = file_path
        self.symbols: list[Symbol] = []

    def visit_module_body(self, body: Iterable[ast.stmt]) -> None:
        for node in _flatten(body):
            if isinstance(node, ast.ClassDef):
                self._add_class(node, parent=None)
            elif isinstance(node, _FunctionNode):
                self._add(node.name, SymbolType.FUNCTION, node.lineno, _function_signature(node))
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                self._add_constants(node)

    def _add_class(self, node: ast.ClassDef, parent: str | None) -> None:
        self._add(node.name, SymbolType.CLASS, node.lineno, _class_signature(node), parent)
        for member in _flatten(node.body):
            if isinstance(member, ast.ClassDef):
                self._add_class(member, parent=node.name)
            elif isinstance(member, _FunctionNode):
                signature = _function_signature(member)
                self._add(member.name, SymbolType.METHOD, member.lineno, signature, node.name)

    def _add_constants(self, node: ast.Assign | ast.AnnAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            unpacking = isinstance(target, ast.Tuple | ast.List)
            names = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
            for name_node in names:
                if isinstance(name_node, ast.Name) and _CONSTANT_NAME.fullmatch(name_node.id):
                    # ``A, B = 1, 2``: the value belongs to the tuple, not to one name.
                    signature = (
                        f"{name_node.id} = ..."
                        if unpacking
                        else _constant_signature(name_node.id, node)
                    )
                    self._add(name_node.id, SymbolType.VARIABLE, name_node.lineno, signature)

    def _add(
        self,
        name: str,
        kind: SymbolType,
        line: int,
        signature: str | None,
        parent: str | None = None,
    ) -> None:
        self.symbols.append(Symbol(name, kind, self.file_path, line, LANGUAGE, signature, parent))


def _flatten(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    """Yield statements, descending into ``if``/``try``/``with`` blocks.

    Declarations under ``if TYPE_CHECKING:`` or ``try: ... except ImportError:`` are
    still declarations of the module (or class); function bodies are not descended into.
    """
    for node in body:
        if isinstance(node, ast.If):
            yield from _flatten(node.body)
            yield from _flatten(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            yield from _flatten(node.body)
            for handler in node.handlers:
                yield from _flatten(handler.body)
            yield from _flatten(node.orelse)
            yield from _flatten(node.finalbody)
        elif isinstance(node, ast.With | ast.AsyncWith):
            yield from _flatten(node.body)
        else:
            yield node


def _function_signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    signature = f"{prefix} {node.name}({ast.unparse(node.args)})"
    if node.returns is not None:
        signature += f" -> {ast.unparse(node.returns)}"
    return signature


def _class_signature(node: ast.ClassDef) -> str:
    bases = [ast.unparse(base) for base in node.bases]
    bases += [ast.unparse(keyword) for keyword in node.keywords]
    return f"class {node.name}({', '.join(bases)})" if bases else f"class {node.name}"


def _constant_signature(name: str, node: ast.Assign | ast.AnnAssign) -> str:
    annotation = ""
    if isinstance(node, ast.AnnAssign):
        annotation = f": {ast.unparse(node.annotation)}"
    value = node.value
    if value is None:
        return f"{name}{annotation}"
    # Unparsing a huge literal is slow and useless in a prompt, so judge size by position.
    short = (
        value.end_lineno == value.lineno
        and value.end_col_offset is not None
        and value.end_col_offset - value.col_offset <= _MAX_VALUE_CHARS
    )
    return f"{name}{annotation} = {ast.unparse(value) if short else '...'}"


__all__ = ["LANGUAGE", "extract_python_symbols"]
