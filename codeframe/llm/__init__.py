"""Talking to Claude: response parsing, the offline clients (scripted, record/replay), prices.

Every client here has the SDK's shape — ``await client.messages.create(**kwargs)``
returning an ``anthropic.types.Message`` — so agents take any of them as ``client=``.
"""

from __future__ import annotations

from codeframe.errors import ReplayMissError, ScriptMissError
from codeframe.llm.cassette import CASSETTE_VERSION, RecordingClient, ReplayClient, request_key
from codeframe.llm.live import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    client_from_env,
    default_model,
)
from codeframe.llm.messages import (
    ClaudeClient,
    TokenUsage,
    make_text_message,
    make_tool_message,
    message_text,
    reply_record,
    token_usage,
)
from codeframe.llm.parsing import (
    CHANGES_TOOL,
    CHANGES_TOOL_NAME,
    MAX_REPLY_CHARS,
    parse_changes,
    parse_changes_text,
    tool_choice_for_changes,
    usage_tokens,
    validate_changes,
)
from codeframe.llm.pricing import Prices, PriceTable, estimate_input_tokens, format_usd
from codeframe.llm.scripted import ScriptedClient

__all__ = [
    "CASSETTE_VERSION",
    "CHANGES_TOOL",
    "CHANGES_TOOL_NAME",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "MAX_REPLY_CHARS",
    "ClaudeClient",
    "PriceTable",
    "Prices",
    "RecordingClient",
    "ReplayClient",
    "ReplayMissError",
    "ScriptMissError",
    "ScriptedClient",
    "TokenUsage",
    "client_from_env",
    "default_model",
    "estimate_input_tokens",
    "format_usd",
    "make_text_message",
    "make_tool_message",
    "message_text",
    "parse_changes",
    "parse_changes_text",
    "reply_record",
    "request_key",
    "token_usage",
    "tool_choice_for_changes",
    "usage_tokens",
    "validate_changes",
]
