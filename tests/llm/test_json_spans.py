"""Finding candidate JSON objects in reply text: the same answer as a plain character loop,
in linear time."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeframe.llm.json_spans import ObjectSpan, inner_spans, object_spans


def reference_spans(text: str) -> list[ObjectSpan]:
    """The specification, one character at a time (too slow for use, easy to check)."""
    spans: list[ObjectSpan] = []
    position = 0
    while (start := text.find("{", position)) != -1:
        opens: list[int] = []
        children: list[tuple[int, int, int]] = []  # (parent depth, start, end)
        in_string = False
        index = start
        while index < len(text):
            char = text[index]
            if in_string:
                if char == "\\":
                    index += 2
                    continue
                in_string = char != '"'
            elif char == '"':
                in_string = True
            elif char == "{":
                opens.append(index)
            elif char == "}":
                span_start = opens.pop()
                level = len(opens)
                if level == 0:
                    spans.append(ObjectSpan(span_start, index + 1))
                    position = index + 1
                    break
                children = [child for child in children if child[0] <= level]
                children.append((level, span_start, index + 1))
            index += 1
        else:
            spans.append(ObjectSpan(opens[0], len(text), closed=False))
            spans.extend(ObjectSpan(child_start, end) for _, child_start, end in children)
            return spans
    return spans


# Texts made of the characters that matter, plus whole pieces of real replies.
CHARACTERS = ["{", "}", '"', "\\", ":", ",", " ", "\n", "a", "[", "]", "\\u0066", "files"]
PIECES = ['"files":', '{"files": []}', '{"a": {"b": "}"}}', "{x}", '"{"', '\\"', "{{{{", "}}}}"]
# Deeper than the scanner's shallow pattern, so they take its other path.
DEEP = ["{{{{{}}}}}", '{"p": {"q": {"r": {"s": "}"}}}}']
pieces = st.sampled_from([*CHARACTERS, *PIECES, *DEEP])
texts = st.lists(pieces, max_size=40).map("".join)
NEEDLE = re.compile(r'"files"\s*:|\\u')


@settings(max_examples=600, deadline=None, derandomize=True)
@given(text=texts)
def test_spans_match_the_character_loop(text: str) -> None:
    assert list(object_spans(text)) == reference_spans(text)


@settings(max_examples=600, deadline=None, derandomize=True)
@given(text=texts)
def test_a_needle_only_leaves_out_spans_it_does_not_match(text: str) -> None:
    every = list(object_spans(text))
    kept = list(object_spans(text, NEEDLE))
    assert kept[:1] == every[:1], "the first span is always yielded"
    assert all(span in every for span in kept)
    for span in every[1:]:
        if NEEDLE.search(text, span.start, span.end):
            assert span in kept, f"{span} holds the needle but was left out"


@settings(max_examples=600, deadline=None, derandomize=True)
@given(text=texts)
def test_closed_spans_are_disjoint_so_decoding_them_reads_the_text_at_most_twice(
    text: str,
) -> None:
    spans = list(object_spans(text))
    closed = sorted((span for span in spans if span.closed), key=lambda span: span.start)
    for before, after in itertools.pairwise(closed):
        assert before.end <= after.start
    assert sum(span.end - span.start for span in spans) <= 2 * len(text)
    assert sum(1 for span in spans if not span.closed) <= 1


def test_braces_in_strings_are_content_and_quotes_in_prose_are_prose() -> None:
    text = 'He said "use {x}" then {"a": "}{\\"}"} and {"b": 1}'
    spans = list(object_spans(text))
    assert [text[start:end] for start, end, _ in spans] == [
        "{x}",
        '{"a": "}{\\"}"}',
        '{"b": 1}',
    ]
    assert [json.loads(text[s:e]) for s, e, _ in spans[1:]] == [{"a": '}{"}'}, {"b": 1}]


def test_deep_objects_are_one_span() -> None:
    deep = json.dumps({"a": {"b": {"c": {"d": {"e": [{"f": "}"}]}}}}})
    text = f"Result: {deep} and {{ok}}"
    assert list(object_spans(text)) == [
        ObjectSpan(8, 8 + len(deep)),
        ObjectSpan(len(text) - 4, len(text)),
    ]


def test_an_unclosed_object_then_the_objects_directly_inside_it() -> None:
    text = 'Use { to open: {"files": []} and {"x": {"y": 1}'
    assert list(object_spans(text)) == [
        ObjectSpan(4, len(text), closed=False),
        ObjectSpan(15, 28),
        ObjectSpan(39, 47),  # inside the still open {"x": ...
    ]


def test_pieces_of_an_object_that_closed_are_not_candidates() -> None:
    text = '{ {"a": {"b": {"c": {}}}} {"d": 1} {'
    spans = list(object_spans(text))
    assert spans[0] == ObjectSpan(0, len(text), closed=False)
    assert [text[s:e] for s, e, _ in spans[1:]] == ['{"a": {"b": {"c": {}}}}', '{"d": 1}']


def test_deep_siblings_inside_an_unclosed_object_are_all_candidates() -> None:
    deep = '{"p": {"q": {"r": {"s": 1}}}}'
    text = f"{{ {deep} {deep} {{{{ {deep}"
    assert [text[s:e] for s, e, _ in object_spans(text)][1:] == [deep, deep, deep]


def test_an_unterminated_string_leaves_the_object_open() -> None:
    assert list(object_spans('x {"a": "never closed }')) == [ObjectSpan(2, 23, closed=False)]


def reference_inner(text: str, span: ObjectSpan) -> list[ObjectSpan]:
    """The objects directly inside a closed span, one character at a time."""
    found: list[ObjectSpan] = []
    depth = 0
    in_string = False
    index = span.start + 1
    child_start = 0
    while index < span.end - 1:
        char = text[index]
        if in_string:
            if char == "\\":
                index += 2
                continue
            in_string = char != '"'
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
            if depth == 1:
                child_start = index
        elif char == "}":
            depth -= 1
            if depth == 0:
                found.append(ObjectSpan(child_start, index + 1))
        index += 1
    return found


@settings(max_examples=600, deadline=None, derandomize=True)
@given(text=texts)
def test_inner_spans_match_the_character_loop(text: str) -> None:
    for span in object_spans(text):
        if span.closed:
            assert list(inner_spans(text, span)) == reference_inner(text, span)


def test_inner_spans_of_doubled_braces() -> None:
    text = 'x {{"files": []} {"a": {"b": {"c": {"d": 1}}}} "{"} y'
    (outer,) = object_spans(text)
    assert [text[s:e] for s, e, _ in inner_spans(text, outer)] == [
        '{"files": []}',
        '{"a": {"b": {"c": {"d": 1}}}}',
    ]


# Five megabytes each (five times the reply cap): a loop that tried every "{" would not end.
_FIVE_MB = 5_000_000


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "unit",
    ["{", '{"a": ', "{ ", '"\\"{'],
)
def test_five_megabytes_of_braces_are_read_in_linear_time(unit: str) -> None:
    text = (unit * (_FIVE_MB // len(unit) + 1))[:_FIVE_MB]
    spans = list(object_spans(text, NEEDLE))
    assert sum(span.end - span.start for span in spans) <= 2 * len(text)
