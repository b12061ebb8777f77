"""Reading the files contract out of model replies, and the errors that name what is wrong."""

from __future__ import annotations

import json
from types import SimpleNamespace
from unittest.mock import Mock

import pytest

from codeframe.errors import ResponseFormatError
from codeframe.llm import (
    CHANGES_TOOL,
    make_text_message,
    make_tool_message,
    parse_changes,
    parse_changes_text,
    tool_choice_for_changes,
    usage_tokens,
    validate_changes,
)

CHANGES = {
    "files": [
        {"path": "app/models.py", "action": "create", "content": "class User:\n    pass\n"},
        {"path": "old.py", "action": "delete"},
    ],
    "explanation": "Add the User model.",
}


def test_plain_json() -> None:
    assert parse_changes_text(json.dumps(CHANGES)) == CHANGES


def test_fenced_json_block() -> None:
    text = f"Here you go:\n```json\n{json.dumps(CHANGES, indent=2)}\n```\n"
    assert parse_changes_text(text) == CHANGES


def test_bare_fence_without_language() -> None:
    assert parse_changes_text(f"```\n{json.dumps(CHANGES)}\n```") == CHANGES


def test_prose_before_and_after() -> None:
    text = f"I made these changes.\n{json.dumps(CHANGES)}\nLet me know if {{anything}} is off."
    assert parse_changes_text(text) == CHANGES


def test_braces_inside_strings_and_prose() -> None:
    changes = {
        "files": [
            {
                "path": "a.py",
                "action": "create",
                "content": 'def f():\n    return {"a": {"b": "}"}}\n',
            }
        ],
        "explanation": "uses } and { in strings",
    }
    text = "Use {curly} braces like {this}: " + json.dumps(changes) + " done }"
    assert parse_changes_text(text) == changes


def test_prefers_the_object_with_files() -> None:
    text = 'Context: {"note": 1}\nAnswer: ' + json.dumps(CHANGES)
    assert parse_changes_text(text) == CHANGES


def test_invalid_json_names_the_problem() -> None:
    with pytest.raises(ResponseFormatError, match=r"reply is not JSON: Expecting"):
        parse_changes_text('Result: {"files": [, ]}')


def test_broken_contract_reports_decode_error_not_inner_object() -> None:
    # The file entry inside decodes on its own; the report must still be the JSON error.
    text = '{"files": [{"path": "a.py", "action": "create", "content": "x"}], oops}'
    with pytest.raises(ResponseFormatError, match="reply is not JSON"):
        parse_changes_text(text)


def test_no_json_at_all() -> None:
    with pytest.raises(ResponseFormatError, match=r"no JSON object found.*Sorry"):
        parse_changes_text("Sorry, I cannot help with that.")


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([1, 2], "reply must be a JSON object with 'files', got list"),
        ({"explanation": "x"}, "missing 'files'"),
        ({"files": "a.py"}, "'files' must be a list, got str"),
        ({"files": ["a.py"]}, r"files\[0\] must be an object, got str"),
        ({"files": [{"action": "create", "content": ""}]}, r"files\[0\]\.path is missing"),
        ({"files": [{"path": "", "action": "create"}]}, r"files\[0\]\.path must be a non-empty"),
        (
            {"files": [CHANGES["files"][0], CHANGES["files"][1], {"path": "c", "action": "edit"}]},
            r"files\[2\]\.action must be one of create, modify, delete \(got 'edit'\)",
        ),
        ({"files": [{"path": "a", "action": "modify"}]}, r"files\[0\]\.content is missing"),
        (
            {"files": [{"path": "a", "action": "create", "content": 3}]},
            r"files\[0\]\.content must be a string \(got int\)",
        ),
        ({"files": [], "explanation": ["x"]}, "'explanation' must be a string, got list"),
    ],
)
def test_wrong_shapes(obj: object, message: str) -> None:
    with pytest.raises(ResponseFormatError, match=message):
        validate_changes(obj)


def test_validate_defaults_explanation_and_keeps_extra_keys() -> None:
    obj = {"files": [{"path": "a", "action": "delete", "why": "unused"}], "confidence": 0.9}
    result = validate_changes(obj)
    assert result == {
        "files": [{"path": "a", "action": "delete", "why": "unused"}],
        "explanation": "",
        "confidence": 0.9,
    }
    result["files"][0]["path"] = "changed"
    assert obj["files"][0]["path"] == "a", "the result must not alias the input"


def test_response_format_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_changes({})


def test_parse_changes_reads_the_tool_call() -> None:
    message = make_tool_message("submit_changes", CHANGES, model="m")
    assert parse_changes(message) == CHANGES


def test_parse_changes_ignores_other_tools_and_reads_text() -> None:
    message = make_tool_message("other_tool", {"x": 1}, model="m")
    message.content.append(make_text_message(json.dumps(CHANGES)).content[0])
    assert parse_changes(message) == CHANGES


def test_parse_changes_reads_text_reply() -> None:
    message = make_text_message(f"```json\n{json.dumps(CHANGES)}\n```", model="m")
    assert parse_changes(message) == CHANGES


def test_parse_changes_checks_the_tool_input_shape() -> None:
    message = make_tool_message("submit_changes", {"files": [{"path": "a"}]}, model="m")
    with pytest.raises(ResponseFormatError, match=r"files\[0\]\.action"):
        parse_changes(message)


def test_truncated_reply_says_max_tokens() -> None:
    message = make_text_message(
        '{"files": [{"path": "a.py", "action": "create", "content": "x = ',
        model="m",
        usage=(10, 4096),
        stop_reason="max_tokens",
    )
    with pytest.raises(ResponseFormatError, match=r"truncated at max_tokens \(4096.*raise max"):
        parse_changes(message)


def test_truncated_tool_call_is_refused_too() -> None:
    message = make_tool_message("submit_changes", CHANGES, model="m", stop_reason="max_tokens")
    with pytest.raises(ResponseFormatError, match="max_tokens"):
        parse_changes(message)


def test_empty_reply() -> None:
    with pytest.raises(ResponseFormatError, match="neither text nor a submit_changes"):
        parse_changes(make_text_message("  ", model="m"))


def test_parse_changes_accepts_duck_typed_messages() -> None:
    message = SimpleNamespace(
        stop_reason="end_turn", content=[{"type": "text", "text": json.dumps(CHANGES)}]
    )
    assert parse_changes(message) == CHANGES


def test_usage_tokens() -> None:
    message = make_text_message("hi", model="m", usage=(120, 80))
    assert usage_tokens(message) == (120, 80)
    message.usage.cache_read_input_tokens = 30
    assert usage_tokens(message) == (150, 80)
    assert usage_tokens(SimpleNamespace()) == (0, 0)


def test_tool_definition_forces_submit_changes() -> None:
    assert tool_choice_for_changes() == {"type": "tool", "name": CHANGES_TOOL["name"]}
    schema = CHANGES_TOOL["input_schema"]
    item = schema["properties"]["files"]["items"]
    assert item["properties"]["action"]["enum"] == ["create", "modify", "delete"]
    assert schema["required"] == ["files", "explanation"]
    json.dumps(CHANGES_TOOL)  # it is sent over the wire as-is


# -- replies built the way the original design's tests build them --------------------------


def test_seed_style_mock_reply_parses_as_text() -> None:
    message = Mock(content=[Mock(text='{"files": []}')])
    assert parse_changes(message) == {"files": [], "explanation": ""}


def test_seed_style_mock_reply_with_prose_and_changes() -> None:
    message = Mock(content=[Mock(text=f"Done:\n```json\n{json.dumps(CHANGES)}\n```")])
    assert parse_changes(message) == CHANGES


def test_usage_tokens_of_a_mock_reply_counts_zero() -> None:
    assert usage_tokens(Mock(content=[Mock(text="{}")])) == (0, 0)


def test_usage_tokens_ignores_figures_that_are_not_numbers() -> None:
    usage = SimpleNamespace(
        input_tokens=True,
        output_tokens=7,
        cache_read_input_tokens=Mock(),
        cache_creation_input_tokens=None,
    )
    assert usage_tokens(SimpleNamespace(usage=usage)) == (0, 7)


# -- which object wins -----------------------------------------------------------------------


def test_a_stray_brace_in_prose_does_not_hide_the_json() -> None:
    text = f"I replaced every {{ with a [ here:\n{json.dumps(CHANGES)}\nThat is all."
    assert parse_changes_text(text) == CHANGES


def test_truncated_text_reports_the_decode_error_not_a_file_entry() -> None:
    text = 'Here: {"files": [{"path": "a.py", "action": "delete"}, {"path": "b.py", "acti'
    with pytest.raises(ResponseFormatError, match="reply is not JSON: Unterminated string"):
        parse_changes_text(text)


def test_contract_wrapped_in_another_object_inside_prose_is_found() -> None:
    text = "Result: " + json.dumps({"result": CHANGES}) + " (end)"
    assert parse_changes_text(text) == CHANGES


def test_doubled_braces_around_the_contract_are_read() -> None:
    # As a model writes JSON inside an f-string or a template: {{ ... }}.
    assert parse_changes_text("{" + json.dumps(CHANGES) + "}") == CHANGES
    assert parse_changes_text("Answer: {see " + json.dumps(CHANGES) + " here}") == CHANGES


def test_files_key_written_with_unicode_escapes_is_found() -> None:
    text = 'Note {"a": 1} then {"fil\\u0065s": [], "explanation": "escaped"}'
    assert parse_changes_text(text) == {"files": [], "explanation": "escaped"}


def test_an_object_merely_mentioning_files_does_not_win() -> None:
    text = 'Context {"note": "files are below"} and {"other": "files"}'
    with pytest.raises(ResponseFormatError, match=r"missing 'files'.*keys: 'note'"):
        parse_changes_text(text)


def test_decode_error_position_counts_from_the_start_of_the_reply() -> None:
    text = 'Line one\nline two {oops} and {"files": [, ]}'
    # The first broken candidate is reported, at its place in the whole reply.
    with pytest.raises(ResponseFormatError, match=r"line 2 column 11 \(char 19\)"):
        parse_changes_text(text)


def test_a_too_deeply_nested_reply_is_a_format_error() -> None:
    with pytest.raises(ResponseFormatError, match="nested too deeply"):
        parse_changes_text('{"a": ' * 5_000)
    with pytest.raises(ResponseFormatError, match="nested too deeply"):
        parse_changes_text('{"files": [], "x": ' + "[" * 5_000 + "]" * 5_000 + "}")
    with pytest.raises(ResponseFormatError, match="nested too deeply"):
        parse_changes_text("[" * 5_000 + "]" * 5_000)


# -- large replies: linear time ---------------------------------------------------------------
# Each reply is a million characters (the default cap). Trying a decode from every "{" needs
# minutes to hours for these (each failure counts lines from the start of the text); a
# linear parse needs well under a second, so the timeout is generous, not a speed target.

_MILLION = 1_000_000


def _repeat(unit: str, size: int = _MILLION) -> str:
    return (unit * (size // len(unit) + 1))[:size]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("{" * _MILLION, "Expecting property name", id="open-braces"),
        pytest.param(_repeat('{"a": '), "nested too deeply", id="nested-keys"),
        pytest.param(_repeat("function f() { return {a: 1}; }\n"), "Expecting", id="code-prose"),
        pytest.param(_repeat('{"files": x}'), "Expecting value", id="broken-contracts"),
        pytest.param(_repeat("{}"), "missing 'files'", id="empty-objects"),
        pytest.param("{" + _repeat('"\\"', _MILLION - 1), "Expecting", id="quotes-and-escapes"),
    ],
)
def test_brace_rich_replies_of_a_million_characters_are_refused(text: str, message: str) -> None:
    with pytest.raises(ResponseFormatError, match=message):
        parse_changes_text(text)


@pytest.mark.timeout(30)
def test_the_contract_after_a_million_characters_of_braces_is_found() -> None:
    reply = json.dumps(CHANGES)
    text = "Use { carefully. " + _repeat("{} ", _MILLION - len(reply) - 17) + reply
    assert len(text) == _MILLION
    assert parse_changes_text(text) == CHANGES
