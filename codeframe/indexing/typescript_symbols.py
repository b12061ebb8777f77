"""TypeScript / JavaScript declarations by a small, tolerant line scanner.

Not a parser: comments, strings, template literals and (most) regex literals are first
blanked out with spaces — keeping every offset and newline — so that braces can be counted
and declarations matched line by line. Anything it does not recognise it ignores; it never
raises on odd input, it just finds less.
"""

from __future__ import annotations

import re

from codeframe.indexing.models import Symbol, SymbolType

_IDENT = r"[A-Za-z_$][\w$]*"

# Earliest match wins when scanning left to right, so a quote inside a comment (or a
# ``//`` inside a string) is swallowed by whichever construct started first. A quote with
# no partner (on its line, for plain strings) is left alone: it is JSX text like "Don't",
# and blanking from it onwards would eat real braces.
_NOISE = re.compile(
    r"""
      //[^\n]*
    | /\*.*?(?:\*/|\Z)
    | '(?:[^'\\\n]|\\.)*'
    | "(?:[^"\\\n]|\\.)*"
    | `(?:[^`\\]|\\.)*`
    | (?<=[(,=:\[!&|?{};])[ \t]*/(?![/*])(?:[^/\\\n\[]|\\.|\[(?:[^\]\\\n]|\\.)*\])+/
    """,
    re.VERBOSE | re.DOTALL,
)

_TOP_LEVEL = re.compile(
    rf"""^\s*
    (?P<export>export\s+(?:default\s+)?)?
    (?:declare\s+)?
    (?:
        (?:async\s+)?function\b\s*\*?\s*(?P<function>{_IDENT})
      | (?:abstract\s+)?class\s+(?P<class>{_IDENT})
      | interface\s+(?P<interface>{_IDENT})
      | type\s+(?P<type>{_IDENT})\s*(?:[<=]|$)
      | (?:const\s+)?enum\s+(?P<enum>{_IDENT})
      | (?:const|let|var)\s+(?P<variable>{_IDENT})\b
    )""",
    re.VERBOSE,
)

_PARAMS = r"\((?:[^()]|\([^()]*\))*\)"
# What follows a const's name when its value is a function: ``= (a) =>``, ``= async x =>``,
# ``: Handler = async (e): Promise<void> =>`` or ``= function``.
_FUNCTION_VALUE = re.compile(
    rf"""\s*(?::[^\n;]*?)?=\s*(?:async\s*)?
    (?: function\b
      | (?:<[^>]*>\s*)?{_PARAMS}\s*(?::[^;{{]*?)?=>
      | {_IDENT}\s*=>
    )""",
    re.VERBOSE,
)

_MEMBER = re.compile(
    rf"""^\s*
    (?:@[\w$.]+(?:\([^)]*\))?\s+)*
    (?:(?:public|private|protected|static|readonly|abstract|override|declare|async|get|set
        |accessor)\s+)*
    \*?\s*
    (?P<name>\#?{_IDENT})\s*[?!]?\s*
    (?: (?:<[^>]*>\s*)?\(
      | (?::[^=;]*?)?=\s*(?:async\s*)?(?:{_PARAMS}|{_IDENT})\s*(?::[^;{{]*?)?=>
    )""",
    re.VERBOSE,
)

_NOT_MEMBER_NAMES = frozenset(
    {"if", "for", "while", "switch", "catch", "return", "super", "new", "function", "this"}
)

_KIND_BY_GROUP = {
    "function": SymbolType.FUNCTION,
    "class": SymbolType.CLASS,
    "interface": SymbolType.INTERFACE,
    "type": SymbolType.TYPE,
    # TS enums have no kind of their own in the seed's SymbolType; they name a set of values.
    "enum": SymbolType.TYPE,
    "variable": SymbolType.VARIABLE,
}

_MAX_SIGNATURE = 200
_LOOSE_PARENS = re.compile(r"\(\s+|,?\s+\)")
# A declaration continues past a line end when the line ends with one of these, or the next
# line starts with one of the continuation starters.
_CONTINUES_AFTER = ("=", "(", ",", "|", "&", "<", ":", "=>")
_CONTINUES_BEFORE = ("{", "|", "&", "extends", "implements", "=>", ".")


def extract_typescript_symbols(
    source: str, file_path: str, language: str = "typescript"
) -> list[Symbol]:
    """Return the top-level declarations (and class members) of one TS/JS file, in order."""
    masked = mask_noise(source)
    scanner = _Scanner(source, masked, file_path, language)
    scanner.run()
    return scanner.symbols


def mask_noise(source: str) -> str:
    """Blank comments, strings and regex literals with spaces, keeping offsets and newlines."""
    return _NOISE.sub(_blank, source)


def _blank(match: re.Match[str]) -> str:
    text = match.group()
    if "\n" not in text:
        return " " * len(text)
    return "\n".join(" " * len(part) for part in text.split("\n"))


class _Scanner:
    """One pass over the masked lines, counting braces to know what is top level."""

    def __init__(self, source: str, masked: str, file_path: str, language: str) -> None:
        self.source = source
        self.masked = masked
        self.file_path = file_path
        self.language = language
        self.symbols: list[Symbol] = []

    def run(self) -> None:
        depth = 0
        offset = 0
        # The top-level class whose body we are in (members sit at depth 1), and whether
        # its ``{`` has been seen yet (its header may span lines).
        current_class: str | None = None
        class_opened = False
        for line_number, line in enumerate(self.masked.split("\n"), start=1):
            if line.strip():
                if depth == 0:
                    kind, name = self._top_level(line, line_number, offset)
                    # A new declaration, or any code after the class body, ends the class;
                    # an unknown line before its ``{`` is the rest of its header.
                    if kind is not None or class_opened:
                        current_class = name if kind is SymbolType.CLASS else None
                        class_opened = False
                elif depth == 1 and current_class is not None:
                    self._member(line, line_number, offset, current_class)
            # A stray closing brace must not push everything after it "above" top level.
            depth = max(0, depth + line.count("{") - line.count("}"))
            if current_class is not None and depth > 0:
                class_opened = True
            offset += len(line) + 1

    def _top_level(
        self, line: str, line_number: int, offset: int
    ) -> tuple[SymbolType | None, str | None]:
        """Record a top-level declaration and return its kind and name."""
        match = _TOP_LEVEL.match(line)
        if match is None:
            return None, None
        group = next(key for key in _KIND_BY_GROUP if match.group(key))
        name = match.group(group)
        kind = _KIND_BY_GROUP[group]
        if group == "variable":
            # Plain module variables are noise unless exported (the module's API).
            if not match.group("export"):
                return None, None
            if _FUNCTION_VALUE.match(self.masked, offset + match.end()):
                kind = SymbolType.FUNCTION
        self._add(name, kind, line_number, offset, line)
        return kind, name

    def _member(self, line: str, line_number: int, offset: int, parent: str) -> None:
        match = _MEMBER.match(line)
        if match is None or match.group("name") in _NOT_MEMBER_NAMES:
            return
        self._add(match.group("name"), SymbolType.METHOD, line_number, offset, line, parent)

    def _add(
        self,
        name: str,
        kind: SymbolType,
        line_number: int,
        offset: int,
        line: str,
        parent: str | None = None,
    ) -> None:
        start = offset + len(line) - len(line.lstrip())
        signature = self._signature(start)
        self.symbols.append(
            Symbol(name, kind, self.file_path, line_number, self.language, signature, parent)
        )

    def _signature(self, start: int) -> str:
        """The declaration's head: source text up to its body ``{`` or ``;``, one line."""
        end = _head_end(self.masked, start)
        text = " ".join(self.source[start:end].split()).rstrip(";").rstrip()
        # Joining a multi-line parameter list leaves "( a, b, )"; tidy it to "(a, b)".
        text = _LOOSE_PARENS.sub(lambda m: m.group().strip(" ,"), text)
        if len(text) > _MAX_SIGNATURE:
            text = text[: _MAX_SIGNATURE - 3].rstrip() + "..."
        return text


def _head_end(masked: str, start: int) -> int:
    """Where a declaration's head ends: a ``{``/``;`` outside parentheses, or a line end."""
    limit = min(len(masked), start + 4 * _MAX_SIGNATURE)
    depth = 0
    index = start
    while index < limit:
        char = masked[index]
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and (
            char in "{;" or (char == "\n" and not _continues(masked, start, index))
        ):
            return index
        index += 1
    return limit


def _continues(masked: str, start: int, newline: int) -> bool:
    before = masked[start:newline].rstrip()
    if before.endswith(_CONTINUES_AFTER):
        return True
    next_end = masked.find("\n", newline + 1)
    after = masked[newline + 1 : next_end if next_end != -1 else len(masked)].lstrip()
    return after.startswith(_CONTINUES_BEFORE)


__all__ = ["extract_typescript_symbols", "mask_noise"]
