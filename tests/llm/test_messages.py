"""The offline clients build the SDK's own Message objects."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from unittest.mock import Mock

from anthropic.types import Message, TextBlock, ToolUseBlock

from codeframe.llm import make_text_message, make_tool_message, message_text, reply_record


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


def test_a_block_without_a_real_type_but_with_str_text_is_text() -> None:
    # How the original design's tests build replies: Mock blocks, no ``type``.
    assert message_text(Mock(content=[Mock(text="one "), Mock(text="two")])) == "one two"
    assert message_text({"content": [{"text": "no type"}]}) == "no type"
    assert message_text(SimpleNamespace(content=[SimpleNamespace(type=None, text="x")])) == "x"


def test_a_real_type_other_than_text_is_still_ignored() -> None:
    blocks = [
        SimpleNamespace(type="server_tool_use", text='{"files": []}'),
        {"type": "thinking", "text": "hidden"},
        SimpleNamespace(type="text", text="shown"),
    ]
    assert message_text(SimpleNamespace(content=blocks)) == "shown"


def test_text_that_is_not_a_str_is_not_text() -> None:
    blocks = [Mock(), SimpleNamespace(type="text", text=None), {"type": "text", "text": 3}]
    assert message_text(SimpleNamespace(content=blocks)) == ""


def test_content_that_is_not_a_list_of_blocks_has_no_text() -> None:
    bare = Mock()  # every attribute, content included, is another Mock
    assert message_text(bare) == ""
    assert reply_record(bare) == ""
    assert message_text(SimpleNamespace()) == ""


def test_a_scripted_client_builds_the_reply_models_before_any_reply() -> None:
    """The SDK builds a model's validator at its first use (10-15 ms): not inside a run.

    A fresh interpreter, since any earlier test of this process may have built them.
    """
    probe = (
        "from anthropic.types import Message, TextBlock, ToolUseBlock, Usage\n"
        "from codeframe.llm import ScriptedClient\n"
        "models = (Message, TextBlock, ToolUseBlock, Usage)\n"
        "before = [m.__pydantic_complete__ for m in models]\n"
        "ScriptedClient()\n"
        "print(before, [m.__pydantic_complete__ for m in models])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    before, after = done.stdout.strip().split("] [")
    assert "True" not in before  # the SDK still defers them, so this test means something
    assert after == "True, True, True, True]"
