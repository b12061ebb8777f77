"""Turn a model reply into the files contract, or say precisely why it cannot be.

Pure functions: no I/O, no client. Every failure is a ``ResponseFormatError`` whose
message names the problem, so a worker can fail the task with it and the model can be
told what to fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from codeframe.core.models import FileChange, GenerationResult
from codeframe.errors import ResponseFormatError
from codeframe.llm.messages import block_field, message_text

CHANGES_TOOL_NAME = "submit_changes"
ACTIONS = ("create", "modify", "delete")
_ACTIONS_TEXT = ", ".join(ACTIONS)

# Treat as read-only: it is sent as-is in every request's ``tools``.
CHANGES_TOOL: dict[str, Any] = {
    "name": CHANGES_TOOL_NAME,
    "description": (
        "Submit every file change needed for the task in one call, with a short explanation. "
        "Paths are relative to the project root. 'create' and 'modify' carry the file's "
        "complete new content; 'delete' needs no content."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "files": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "relative POSIX path"},
                        "action": {"type": "string", "enum": list(ACTIONS)},
                        "content": {"type": "string", "description": "full file content"},
                    },
                    "required": ["path", "action"],
                },
            },
            "explanation": {"type": "string", "description": "what changed and why"},
        },
        "required": ["files", "explanation"],
    },
}

_DECODER = json.JSONDecoder()
_NOT_JSON = object()
_EXCERPT = 80


def tool_choice_for_changes() -> dict[str, str]:
    """The ``tool_choice`` that forces the model to answer through ``submit_changes``."""
    return {"type": "tool", "name": CHANGES_TOOL_NAME}


def usage_tokens(message: Any) -> tuple[int, int]:
    """``(input, output)`` tokens of a reply; cache reads and writes count as input."""
    usage = getattr(message, "usage", None)
    if usage is None:
        return (0, 0)
    tokens_in = (
        (getattr(usage, "input_tokens", 0) or 0)
        + (getattr(usage, "cache_creation_input_tokens", 0) or 0)
        + (getattr(usage, "cache_read_input_tokens", 0) or 0)
    )
    return (tokens_in, getattr(usage, "output_tokens", 0) or 0)


def parse_changes(message: Any) -> GenerationResult:
    """Read the files contract from a Messages API reply (tool call first, then text)."""
    stop_reason = getattr(message, "stop_reason", None)
    if stop_reason == "max_tokens":
        _, tokens_out = usage_tokens(message)
        raise ResponseFormatError(
            f"the reply was truncated at max_tokens ({tokens_out} output tokens), so its "
            "changes are incomplete; raise max_tokens or ask for smaller changes"
        )
    if stop_reason == "model_context_window_exceeded":
        raise ResponseFormatError(
            "the reply was truncated: the request filled the model's context window; "
            "send less context"
        )
    if stop_reason == "refusal":
        raise ResponseFormatError("the model refused to answer this request")
    for block in getattr(message, "content", None) or ():
        if (
            block_field(block, "type") == "tool_use"
            and block_field(block, "name") == CHANGES_TOOL_NAME
        ):
            return validate_changes(block_field(block, "input"))
    text = message_text(message)
    if not text.strip():
        raise ResponseFormatError(
            f"the reply has neither text nor a {CHANGES_TOOL_NAME} tool call "
            f"(stop_reason {stop_reason!r})"
        )
    return parse_changes_text(text)


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT else flat[:_EXCERPT] + "…"


def parse_changes_text(text: str) -> GenerationResult:
    """Find the files contract in reply text: plain JSON, a fenced block, or prose around it."""
    stripped = text.strip()
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = _NOT_JSON
    if whole is not _NOT_JSON:
        return validate_changes(whole)

    first_object: Any = _NOT_JSON
    first_error: ValueError | None = None
    start = stripped.find("{")
    # Scanning from every "{" with raw_decode respects JSON strings, so braces inside
    # file contents or prose cannot unbalance the match the way a regex would.
    while start != -1:
        try:
            obj, _ = _DECODER.raw_decode(stripped, start)
        except ValueError as exc:
            if first_error is None:
                first_error = exc
        else:
            if isinstance(obj, dict):
                if "files" in obj:
                    return validate_changes(obj)
                # An object found after a broken one is most likely a piece of it (a file
                # entry), so the decode error is the better report then.
                if first_object is _NOT_JSON and first_error is None:
                    first_object = obj
        start = stripped.find("{", start + 1)

    if first_object is not _NOT_JSON:
        return validate_changes(first_object)
    if first_error is not None:
        raise ResponseFormatError(
            f"reply is not JSON: {first_error} (reply starts: {_excerpt(stripped)!r})"
        )
    raise ResponseFormatError(
        f"reply is not JSON: no JSON object found (reply starts: {_excerpt(stripped)!r})"
    )


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _validate_file(index: int, item: Any) -> FileChange:
    where = f"files[{index}]"
    if not isinstance(item, Mapping):
        raise ResponseFormatError(f"{where} must be an object, got {_type_name(item)}")
    if "path" not in item:
        raise ResponseFormatError(f"{where}.path is missing")
    path = item["path"]
    if not isinstance(path, str) or not path.strip():
        raise ResponseFormatError(f"{where}.path must be a non-empty string")
    action = item.get("action")
    if action not in ACTIONS:
        raise ResponseFormatError(f"{where}.action must be one of {_ACTIONS_TEXT} (got {action!r})")
    if action != "delete":
        if "content" not in item:
            raise ResponseFormatError(f"{where}.content is missing (required for {action})")
        if not isinstance(item["content"], str):
            raise ResponseFormatError(
                f"{where}.content must be a string (got {_type_name(item['content'])})"
            )
    change: FileChange = dict(item)  # type: ignore[assignment]  # extra keys are kept
    return change


def validate_changes(obj: Any) -> GenerationResult:
    """Check the shape of a decoded reply; returns a fresh dict (extra keys kept)."""
    if not isinstance(obj, Mapping):
        raise ResponseFormatError(
            f"reply must be a JSON object with 'files', got {_type_name(obj)}"
        )
    if "files" not in obj:
        keys = ", ".join(repr(k) for k in list(obj)[:8]) or "none"
        raise ResponseFormatError(f"missing 'files' in the reply object (keys: {keys})")
    files = obj["files"]
    if not isinstance(files, list):
        raise ResponseFormatError(f"'files' must be a list, got {_type_name(files)}")
    explanation = obj.get("explanation")
    if explanation is None:
        explanation = ""
    elif not isinstance(explanation, str):
        raise ResponseFormatError(f"'explanation' must be a string, got {_type_name(explanation)}")
    result: GenerationResult = {**obj}  # type: ignore[typeddict-item]
    result["files"] = [_validate_file(i, item) for i, item in enumerate(files)]
    result["explanation"] = explanation
    return result


__all__ = [
    "ACTIONS",
    "CHANGES_TOOL",
    "CHANGES_TOOL_NAME",
    "parse_changes",
    "parse_changes_text",
    "tool_choice_for_changes",
    "usage_tokens",
    "validate_changes",
]
