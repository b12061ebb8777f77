"""The reply size cap and the token figures: refuse clearly, count only real numbers."""

from __future__ import annotations

import json
from types import SimpleNamespace
from unittest.mock import Mock

import pytest

import codeframe.errors
import codeframe.llm
from codeframe.errors import ResponseFormatError
from codeframe.llm import (
    MAX_REPLY_CHARS,
    TokenUsage,
    make_text_message,
    parse_changes,
    parse_changes_text,
    token_usage,
    usage_tokens,
)
from codeframe.llm.messages import reply_stop_reason

REPLY = json.dumps({"files": [], "explanation": "ok"})


def test_text_over_the_cap_is_refused_naming_size_and_cap() -> None:
    text = REPLY + " " * (MAX_REPLY_CHARS + 1 - len(REPLY))
    with pytest.raises(ResponseFormatError, match=r"1,000,001 characters, over the 1,000,000"):
        parse_changes_text(text)


def test_text_at_the_cap_is_read() -> None:
    text = REPLY + " " * (MAX_REPLY_CHARS - len(REPLY))
    assert parse_changes_text(text)["explanation"] == "ok"


def test_the_cap_is_a_keyword() -> None:
    with pytest.raises(ResponseFormatError, match=r"over the 10-character cap"):
        parse_changes_text(REPLY, max_chars=10)
    assert parse_changes_text(REPLY, max_chars=len(REPLY))["explanation"] == "ok"
    with pytest.raises(ResponseFormatError, match="cap"):
        parse_changes(make_text_message(REPLY), max_chars=10)


@pytest.mark.timeout(60)
def test_five_megabytes_of_open_braces_under_a_raised_cap() -> None:
    with pytest.raises(ResponseFormatError, match="Expecting property name"):
        parse_changes_text("{" * 5_000_000, max_chars=5_000_000)


def test_token_usage_of_a_real_reply() -> None:
    message = make_text_message("hi", usage=(120, 80))
    message.usage.cache_creation_input_tokens = 10
    message.usage.cache_read_input_tokens = 30
    usage = token_usage(message)
    assert usage == TokenUsage(input=120, output=80, cache_creation_input=10, cache_read_input=30)
    assert usage.total == 240
    assert usage_tokens(message) == (160, 80)


def test_missing_figures_are_none() -> None:
    usage = token_usage(make_text_message("hi", usage=(5, 7)))
    assert (usage.cache_creation_input, usage.cache_read_input) == (None, None)
    assert usage.total == 12
    assert token_usage(SimpleNamespace()) == TokenUsage()
    assert TokenUsage().total == 0


@pytest.mark.parametrize("figure", [Mock(), True, False, -3, 2.5, "12", None])
def test_figures_that_are_not_counts_are_none(figure: object) -> None:
    usage = SimpleNamespace(
        input_tokens=figure,
        output_tokens=figure,
        cache_creation_input_tokens=figure,
        cache_read_input_tokens=figure,
    )
    assert token_usage(SimpleNamespace(usage=usage)) == TokenUsage()


def test_seed_style_mock_reply_has_no_figures_and_no_stop_reason() -> None:
    message = Mock(content=[Mock(text='{"files": []}')])
    assert token_usage(message) == TokenUsage()
    assert reply_stop_reason(message) is None
    assert reply_stop_reason(make_text_message("x")) == "end_turn"


def test_dict_replies_are_read_too() -> None:
    message = {"usage": {"input_tokens": 3, "output_tokens": 4}, "stop_reason": "end_turn"}
    assert token_usage(message) == TokenUsage(input=3, output=4)
    assert reply_stop_reason(message) == "end_turn"


def test_token_usage_is_frozen() -> None:
    with pytest.raises(AttributeError):
        TokenUsage().input = 1  # type: ignore[misc]


def test_truncation_without_a_real_output_figure_still_says_max_tokens() -> None:
    message = Mock(stop_reason="max_tokens", content=[Mock(text="{")])
    with pytest.raises(ResponseFormatError, match=r"truncated at max_tokens, so its changes"):
        parse_changes(message)


def test_the_clients_errors_are_exported_beside_them() -> None:
    assert codeframe.llm.ScriptMissError is codeframe.errors.ScriptMissError
    assert codeframe.llm.ReplayMissError is codeframe.errors.ReplayMissError
    for name in ("ScriptMissError", "ReplayMissError", "TokenUsage", "token_usage"):
        assert name in codeframe.llm.__all__
