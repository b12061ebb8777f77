"""Find where JSON objects sit in free text, in one linear pass.

Model replies wrap their JSON in prose, fences and code, all of which may hold braces.
Trying a JSON decode from every ``{`` costs time quadratic in the reply's size (each failed
attempt re-reads what follows it, and ``json.JSONDecodeError`` counts lines from the start
of the text), which froze the event loop on large replies. This module only locates
candidates: each outermost ``{ ... }`` whose braces balance outside JSON strings. The caller
decodes each candidate once, so the total work stays proportional to the text.

The price of one pass: inside a candidate a ``"`` always opens a string, so a stray ``{`` in
prose followed by an odd number of quotes before the real JSON hides that JSON (it is read
as the inside of a string), where a decode from every ``{`` would still have found it.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Generator, Iterator
from typing import NamedTuple

# A JSON string with its escapes, closed.
_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'


def _object_pattern(depth: int) -> str:
    """A regex for an object nested at most ``depth`` levels, its strings closed."""
    inner = _STRING
    pattern = inner
    for _ in range(depth):
        # Possessive quantifiers: at each point only one alternative can apply, so there is
        # nothing to backtrack into, and a failed match costs no more than its length.
        pattern = r'\{[^{}"]*+(?:(?:' + inner + r')[^{}"]*+)*+\}'
        inner = _STRING + "|" + pattern
    return pattern


# Most candidates (prose like {this}, code like { return {a: 1}; }, a reply's own JSON up to
# three levels deep) are matched whole in C; only deeper ones go through the token loop.
_SHALLOW = _object_pattern(3)

# Outside any object: the next shallow object, or failing that the next "{". Prose between
# them is skipped in C, and its quotes are ignored.
_TOP = re.compile("(" + _SHALLOW + r")|\{", re.DOTALL)

# Inside an object, from where the scan stands: content (plain characters and whole JSON
# strings, whose braces are content) skipped in C, then the next piece of structure: a
# shallow object, a chain of opening braces with only content between them, or a run of
# closing braces. No match means the text ends inside the object (maybe inside a string).
_CONTENT = r'(?:[^{}"]++|' + _STRING + r")*+"
_STRUCTURE = re.compile(
    _CONTENT + "(?:(" + _SHALLOW + r")|(\{(?:" + _CONTENT + r"\{)*+)|(\}+))", re.DOTALL
)
_WHOLE, _OPENING, _CLOSING = 1, 2, 3
# Within a chain of opening braces: the content up to and including the next one.
_NEXT_OPENING = re.compile(_CONTENT + r"\{", re.DOTALL)

# Runs of shallow objects with what separates them, outside any object and inside one: what
# a needle search skips in C (matched with ``endpos`` at the needle, so none of them holds it).
_RUN_OUTSIDE = re.compile(r"(?:[^{]*+" + _SHALLOW + ")*+", re.DOTALL)
_RUN_INSIDE = re.compile("(?:" + _CONTENT + _SHALLOW + ")*+", re.DOTALL)


class ObjectSpan(NamedTuple):
    """``text[start:end]`` is a candidate JSON object.

    ``closed`` is False for an object the text ends inside of (a truncated reply, or a lone
    ``{`` in prose); its ``end`` is then the end of the text.
    """

    start: int
    end: int
    closed: bool = True


class _Needle:
    """Where the needle next matches, found lazily and only moving forward."""

    def __init__(self, text: str, needle: re.Pattern[str]) -> None:
        self.text = text
        self.needle = needle
        # The first match at or after the last position asked about (the end of the text if
        # none): searches resume past it, so all of them together read the text once.
        self.found = -1

    def next_at(self, position: int) -> int:
        """The first index >= ``position`` where the needle matches, else the text's end."""
        if self.found < position:
            match = self.needle.search(self.text, position)
            self.found = len(self.text) if match is None else match.start()
        return self.found


def _skip(run: re.Pattern[str], text: str, position: int, needle_at: int) -> int:
    """Where a run of needle-free shallow objects starting at ``position`` ends."""
    match = run.match(text, position, needle_at)
    return position if match is None else match.end()


def object_spans(text: str, needle: re.Pattern[str] | None = None) -> Iterator[ObjectSpan]:
    """Yield the candidate JSON objects of ``text`` in order, in one linear pass.

    Outside an object, quotes are prose (an apostrophe-like ``"`` must not hide the JSON that
    follows); inside one, strings and their escapes are skipped, so braces in file contents
    do not count. If the text ends inside an object, that unclosed object is yielded, then
    the closed objects directly inside it (and inside any other object left open): a stray
    ``{`` in the prose before the real JSON must not hide it. The closed spans yielded are
    disjoint, so decoding every span reads the text at most twice.

    With ``needle``, spans after the first in which it does not match may be left out; runs
    of them are then skipped in C.
    """
    finder = None if needle is None else _Needle(text, needle)
    position = 0
    yielded = False
    while True:
        if finder is not None and yielded:
            hit = finder.next_at(position)
            if hit == len(text):
                return
            position = _skip(_RUN_OUTSIDE, text, position, hit)
        top = _TOP.search(text, position)
        if top is None:
            return
        if top.lastindex == _WHOLE:
            position = top.end()
            yielded = True
            yield ObjectSpan(top.start(), position)
            continue
        yielded = True
        end = yield from _deep_object(text, top.start(), finder)
        if end is None:
            return
        position = end


def inner_spans(text: str, span: ObjectSpan) -> Iterator[ObjectSpan]:
    """Yield the objects directly inside the closed ``span``, in order.

    For a candidate that did not decode: the JSON may sit one level down (doubled braces,
    ``{{"files": ...}}``). Reading the inside once keeps the total work linear.
    """
    position = span.start + 1
    while True:
        match = _STRUCTURE.match(text, position, span.end - 1)
        if match is None:
            return
        if match.lastindex == _WHOLE:
            position = match.end()
            yield ObjectSpan(match.start(_WHOLE), position)
            continue
        if match.lastindex != _OPENING:
            return  # a closing brace at this level: the span was not balanced after all
        end = yield from _deep_object(text, match.start(_OPENING), None)
        if end is None:
            return
        position = end


def _deep_object(
    text: str, start: int, finder: _Needle | None
) -> Generator[ObjectSpan, None, int | None]:
    """Yield the object opening at ``start`` (deeper than the shallow pattern reaches).

    Returns where the scan resumes, or None when the text ended inside the object (the
    unclosed object and the closed ones directly inside open objects are yielded then).
    """
    # Positions of the braces still open, outermost first; a compact array because an
    # adversarial reply can open millions of them.
    opens = array("q")
    # Closed objects directly inside a still-open one (the depth of their parent, start,
    # end), kept for the case where the text ends inside an object.
    child_levels = array("q")
    child_starts = array("q")
    child_ends = array("q")
    position = start
    while True:
        match = _STRUCTURE.match(text, position)
        if match is None:
            break
        position = match.end()
        kind = match.lastindex
        if kind == _OPENING:
            first, last = match.span(_OPENING)
            if text.count("{", first, last) == last - first:
                opens.extend(range(first, last))
            else:
                opens.append(first)
                chain = _NEXT_OPENING.finditer(text, first + 1, last)
                opens.extend(brace.end() - 1 for brace in chain)
            continue
        if kind == _WHOLE:
            child_start = match.start(_WHOLE)
            if finder is not None:
                hit = finder.next_at(child_start)
                if position <= hit:
                    # Without the needle it would never be yielded; neither would the run
                    # of shallow objects that follows it up to the needle: skip that in C.
                    position = _skip(_RUN_INSIDE, text, position, hit)
                    continue
            # Children of closed objects were dropped when those closed, so none is deeper.
            child_levels.append(len(opens))
            child_starts.append(child_start)
            child_ends.append(position)
            continue
        first = match.start(_CLOSING)
        closing = min(position - first, len(opens))
        level = len(opens) - closing
        span_start = opens[level]
        span_end = first + closing
        del opens[level:]
        if level == 0:
            yield ObjectSpan(span_start, span_end)
            return span_end
        # Children of the objects that just closed are pieces of them, not candidates.
        while child_levels and child_levels[-1] > level:
            child_levels.pop()
            child_starts.pop()
            child_ends.pop()
        child_levels.append(level)
        child_starts.append(span_start)
        child_ends.append(span_end)
    yield ObjectSpan(opens[0], len(text), closed=False)
    for child_start, child_end in zip(child_starts, child_ends, strict=True):
        yield ObjectSpan(child_start, child_end)
    return None


__all__ = ["ObjectSpan", "inner_spans", "object_spans"]
