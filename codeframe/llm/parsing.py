"""Turn a model reply into the files contract, or say precisely why it cannot be.

Pure functions: no I/O, no client. Every failure is a ``ResponseFormatError`` whose
message names the problem, so a worker can fail the task with it and the model can be
told what to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codeframe.core.models import FileChange, GenerationResult
from codeframe.errors import ResponseFormatError
from codeframe.llm.json_spans import ObjectSpan, inner_spans, object_spans
from codeframe.llm.messages import (
    block_field,
    content_blocks,
    message_text,
    reply_stop_reason,
    token_usage,
)

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

# Far above what a model can write in one reply (128k output tokens are about half a million
# characters), low enough that reading a hostile reply cannot stall the event loop for long.
MAX_REPLY_CHARS = 1_000_000

_DECODER = json.JSONDecoder()
# A "files" key is that word in quotes before a colon, unless written with \u escapes; a
# candidate with neither cannot hold the contract, so it is never decoded.
_FILES_KEY = re.compile(r'"files"\s*:|\\u')
_NOT_JSON = object()
_EXCERPT = 80


def tool_choice_for_changes() -> dict[str, str]:
    """The ``tool_choice`` that forces the model to answer through ``submit_changes``."""
    return {"type": "tool", "name": CHANGES_TOOL_NAME}


def usage_tokens(message: Any) -> tuple[int, int]:
    """``(input, output)`` tokens of a reply; cache reads and writes count as input.

    A figure that is missing or not a number counts 0; ``token_usage`` keeps them apart.
    """
    usage = token_usage(message)
    tokens_in = (
        (usage.input or 0) + (usage.cache_creation_input or 0) + (usage.cache_read_input or 0)
    )
    return (tokens_in, usage.output or 0)


def parse_changes(message: Any, *, max_chars: int = MAX_REPLY_CHARS) -> GenerationResult:
    """Read the files contract from a Messages API reply (tool call first, then text).

    ``max_chars`` caps the reply text that is searched for JSON (see ``parse_changes_text``).
    """
    stop_reason = reply_stop_reason(message)
    if stop_reason == "max_tokens":
        tokens_out = token_usage(message).output
        figure = "" if tokens_out is None else f" ({tokens_out} output tokens)"
        raise ResponseFormatError(
            f"the reply was truncated at max_tokens{figure}, so its "
            "changes are incomplete; raise max_tokens or ask for smaller changes"
        )
    if stop_reason == "model_context_window_exceeded":
        raise ResponseFormatError(
            "the reply was truncated: the request filled the model's context window; "
            "send less context"
        )
    if stop_reason == "refusal":
        raise ResponseFormatError("the model refused to answer this request")
    for block in content_blocks(message):
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
    return parse_changes_text(text, max_chars=max_chars)


def _excerpt(text: str) -> str:
    # Only the head is needed; flattening a whole multi-megabyte reply would be wasted work.
    flat = " ".join(text[: _EXCERPT * 4].split())
    return flat if len(flat) <= _EXCERPT else flat[:_EXCERPT] + "…"


@dataclass(frozen=True, slots=True)
class _DecodeFailure:
    """A candidate that is not valid JSON; described only if it is the one reported."""

    span: ObjectSpan
    error: ValueError | RecursionError

    def describe(self, text: str) -> str:
        if isinstance(self.error, json.JSONDecodeError):
            # Positions in the whole reply, not the candidate, as the user sees the reply.
            where = json.JSONDecodeError(self.error.msg, text, self.span.start + self.error.pos)
            return str(where)
        if isinstance(self.error, RecursionError):
            return f"the object at char {self.span.start} is nested too deeply to decode"
        return str(self.error)


def _decode_span(text: str, span: ObjectSpan) -> Any:
    """The decoded candidate, or a ``_DecodeFailure`` saying why it is not JSON."""
    # Decoding the slice, not the whole text at an offset: a decode error counts lines from
    # the start of the string it was given, which would make each failure cost the prefix.
    try:
        obj, _ = _DECODER.raw_decode(text[span.start : span.end])
    except (ValueError, RecursionError) as exc:
        return _DecodeFailure(span, exc)
    return obj


def _may_hold_files(text: str, span: ObjectSpan) -> bool:
    return _FILES_KEY.search(text, span.start, span.end) is not None


def _object_with_files(obj: Any) -> Mapping[str, Any] | None:
    """The first dict holding "files", in document order, within a decoded value."""
    pending = [obj]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if "files" in value:
                return value
            pending.extend(reversed(value.values()))
        elif isinstance(value, list):
            pending.extend(reversed(value))
    return None


def _files_object_inside(text: str, span: ObjectSpan) -> Mapping[str, Any] | None:
    """The first object holding "files" directly inside a candidate that did not decode."""
    if not span.closed or text.find("{", span.start + 1, span.end) == -1:
        return None
    if not _may_hold_files(text, span):
        return None
    for inner in inner_spans(text, span):
        if _may_hold_files(text, inner):
            obj = _decode_span(text, inner)
            if not isinstance(obj, _DecodeFailure):
                found = _object_with_files(obj)
                if found is not None:
                    return found
    return None


def parse_changes_text(text: str, *, max_chars: int = MAX_REPLY_CHARS) -> GenerationResult:
    """Find the files contract in reply text: plain JSON, a fenced block, or prose around it.

    The first object holding "files" wins, otherwise the first object. Time is linear in
    the text's length; text over ``max_chars`` characters is refused before it is read.
    """
    if len(text) > max_chars:
        raise ResponseFormatError(
            f"the reply text is {len(text):,} characters, over the {max_chars:,}-character "
            "cap; ask for smaller changes"
        )
    stripped = text.strip()
    too_deep = False
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = _NOT_JSON
    except RecursionError:
        whole, too_deep = _NOT_JSON, True
    if whole is not _NOT_JSON:
        return validate_changes(whole)

    first_object: Any = _NOT_JSON
    first_failure: _DecodeFailure | None = None
    for span in object_spans(stripped, needle=_FILES_KEY):
        settled = first_object is not _NOT_JSON or first_failure is not None
        # Once the fallback report is fixed, only an object holding "files" can change it.
        if settled and not _may_hold_files(stripped, span):
            continue
        obj = _decode_span(stripped, span)
        if isinstance(obj, _DecodeFailure):
            if first_failure is None:
                first_failure = obj
            found = _files_object_inside(stripped, span)
            if found is not None:
                return validate_changes(found)
            continue
        found = _object_with_files(obj)
        if found is not None:
            return validate_changes(found)
        # An object found after a broken one is most likely a piece of it (a file entry),
        # so the decode error is the better report then.
        if first_object is _NOT_JSON and first_failure is None:
            first_object = obj

    if first_object is not _NOT_JSON:
        return validate_changes(first_object)
    if first_failure is not None:
        raise ResponseFormatError(
            f"reply is not JSON: {first_failure.describe(stripped)} "
            f"(reply starts: {_excerpt(stripped)!r})"
        )
    if too_deep:
        raise ResponseFormatError(
            f"reply is not JSON: it is nested too deeply to decode "
            f"(reply starts: {_excerpt(stripped)!r})"
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
    "MAX_REPLY_CHARS",
    "parse_changes",
    "parse_changes_text",
    "tool_choice_for_changes",
    "usage_tokens",
    "validate_changes",
]
