"""The offline clients build the SDK's own Message objects."""

from __future__ import annotations

from anthropic.types import Message, TextBlock, ToolUseBlock

from codeframe.llm import make_text_message, make_tool_message, message_text


def test_text_message_is_a_real_sdk_message() -> None:
    message = make_text_message("hello", model="claude-x", usage=(5, 7))
    assert isinstance(message, Message)
    assert isinstance(message.content[0], TextBlock)
    assert (message.model, message.role, message.stop_reason) == (
        "claude-x",
        "assistant",
        "end_turn",
    )
    assert (message.usage.input_tokens, message.usage.output_tokens) == (5, 7)
    # Round-trips through JSON the way cassettes store it.
    assert Message.model_validate(message.model_dump(mode="json")) == message


def test_tool_message() -> None:
    message = make_tool_message("submit_changes", {"files": []}, model="m")
    block = message.content[0]
    assert isinstance(block, ToolUseBlock)
    assert (block.name, block.input, message.stop_reason) == (
        "submit_changes",
        {"files": []},
        "tool_use",
    )
    assert block.id.startswith("toolu_")


def test_ids_are_unique() -> None:
    assert make_text_message("a").id != make_text_message("a").id


def test_message_text_joins_text_blocks_only() -> None:
    message = make_tool_message("t", {"x": 1}, model="m")
    assert message_text(message) == ""
    message.content.extend(make_text_message("one ").content + make_text_message("two").content)
    assert message_text(message) == "one two"
    assert message_text({"content": [{"type": "text", "text": "dict"}]}) == "dict"
