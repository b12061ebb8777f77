"""Why a replayed request missed: where its prompt first parts from the recorded one.

A miss usually means one byte of a prompt changed (a sample file edited, a tool that
prints differently on another machine). Naming the first differing line of the same
turn's recording turns "no reply for request a407acae6a91" into something a user can fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import zip_longest

from codeframe.llm.scripted import user_texts

_QUOTE = 90


def prompt_text(messages: Sequence[object]) -> str:
    """All user text of a request, in order: what the comparison reads."""
    return "\n".join(user_texts(messages))


def _quote(line: str | None, start: int) -> str:
    if line is None:
        return "(nothing: the prompt ends before it)"
    shown = line[start : start + _QUOTE]
    return repr(("…" if start else "") + shown + ("…" if start + _QUOTE < len(line) else ""))


def first_difference(recorded: str, asked: str) -> str | None:
    """``"line 14, column 3: recorded '…', asked '…'"``; ``None`` when the texts are equal.

    Long lines are quoted from a little before the first differing character, so the two
    quotes always show the difference.
    """
    pairs = zip_longest(recorded.splitlines(), asked.splitlines())
    for number, (was, now) in enumerate(pairs, start=1):
        if was != now:
            column = _first_differing_column(was or "", now or "")
            start = max(column - _QUOTE // 3, 0) if column >= _QUOTE else 0
            where = f"line {number}, column {column + 1}"
            return f"{where}: recorded {_quote(was, start)}, asked {_quote(now, start)}"
    if recorded != asked:  # the same lines, split differently (line endings, a final one)
        return "the same lines, with different line breaks"
    return None


def _first_differing_column(a: str, b: str) -> int:
    for column, (x, y) in enumerate(zip(a, b, strict=False)):  # up to the shorter one
        if x != y:
            return column
    return min(len(a), len(b))


def miss_note(recorded: str, asked: str) -> str:
    """What to add to a miss's message, given the same turn's recorded prompt."""
    difference = first_difference(recorded, asked)
    if difference is None:
        return (
            "; the recording of that turn has the same user text: "
            "its system prompt or an earlier reply differs"
        )
    return f"; the recording of that turn differs at {difference}"


__all__ = ["first_difference", "miss_note", "prompt_text"]
