"""Turning text into patterns: the telling words of a task, and file globs as one regex.

Pure functions, no I/O: the index uses them to decide which symbols relate to a task and
which files to scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Words that say nothing about which code a task touches. Generic task verbs ("add",
# "implement") are here too: as substrings they match half of any codebase.
_STOPWORD_TEXT = """
    about above after again against all also and any are because been before being below
    between both but can cannot could did does doing down during each either else etc every
    few for from further had has have having her here hers him his how into its itself just
    let more most must need needs nor not now off once only other our ours out over own per
    same she should some such than that the their theirs them then there these they this
    those through too under until upon very via was were what when where which while who
    whom why will with within without would yet you your yours add adds adding create
    creates creating implement implements implementing make makes ensure allow allows
    support supports use uses using new please
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[^\W_]+")
# "HTTPServer" → HTTP, Server; "parseURLs" → parse, URL, s; "getUserId" → get, User, Id.
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z]{2,})|[A-Z]?[a-z]+|[A-Z]+|\d+")


def keyword_pattern(text: str) -> str | None:
    """An escaped, case-free alternation of the telling words in free text, or ``None``.

    Words are split on punctuation, ``snake_case`` and ``camelCase``; stopwords, numbers
    and words under three letters are dropped; the rest keep their first-seen order.
    There is no ``\\b``: "user" should find ``UserService`` and ``get_user``.
    """
    keywords: dict[str, None] = {}
    for word in _WORD.findall(text):
        # camelCase only means something in ASCII identifiers; other scripts stay whole.
        parts = _CAMEL_PART.findall(word) if word.isascii() else [word]
        for part in parts:
            lowered = part.lower()
            if len(lowered) >= 3 and not lowered.isdigit() and lowered not in _STOPWORDS:
                keywords.setdefault(lowered, None)
    if not keywords:
        return None
    return "(?:" + "|".join(re.escape(word) for word in keywords) + ")"


def compile_globs(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex for root-relative globs: ``**/`` is any depth (or none), ``*`` one segment."""
    alternatives = []
    for pattern in patterns:
        parts: list[str] = []
        index = 0
        text = pattern.lstrip("/")
        while index < len(text):
            if text.startswith("**/", index):
                parts.append("(?:.*/)?")
                index += 3
            elif text.startswith("**", index):
                parts.append(".*")
                index += 2
            elif text[index] == "*":
                parts.append("[^/]*")
                index += 1
            elif text[index] == "?":
                parts.append("[^/]")
                index += 1
            else:
                parts.append(re.escape(text[index]))
                index += 1
        alternatives.append("".join(parts))
    if not alternatives:
        return re.compile(r"(?!)")
    return re.compile(rf"(?:{'|'.join(alternatives)})\Z")


__all__ = ["compile_globs", "keyword_pattern"]
