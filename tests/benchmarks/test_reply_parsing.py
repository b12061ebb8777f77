"""The reply-parsing benchmark at toy sizes: every shape is built at its size and timed."""

from __future__ import annotations

import json

import pytest

from benchmarks.reply_parsing import SHAPES, main, quadratic_parse
from codeframe.llm import parse_changes_text


@pytest.mark.parametrize("name", list(SHAPES))
def test_each_shape_is_the_size_asked_for(name: str) -> None:
    assert len(SHAPES[name](5_000)) in (5_000, 4_997)  # prose adds its words around a reply


def test_the_earlier_parser_agrees_on_an_ordinary_reply() -> None:
    reply = "Done: " + json.dumps({"files": [], "explanation": "x"}) + " {bye}"
    assert quadratic_parse(reply) == parse_changes_text(reply)


def test_main_prints_both_tables(capsys: pytest.CaptureFixture[str]) -> None:
    main([2_000], [2_000], runs=1)
    out = capsys.readouterr().out
    assert "parse_changes_text" in out and "earlier parser" in out
    assert all(name in out for name in SHAPES)
