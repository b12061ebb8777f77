"""Record a live Claude session to a JSON cassette, and replay it with no key and no network.

A request is keyed by a hash of its system prompt and messages with the project root
replaced by ``<root>``, so a cassette recorded in one folder replays in another (Binder,
a copy of the sample project). Model and sampling settings are not part of the key: a
replay should not break because ``CODEFRAME_MODEL`` differs. Cassettes hold requests and
responses only — never headers, never the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from anthropic.types import Message
from pydantic import ValidationError

from codeframe.errors import CodeframeError, ReplayMissError
from codeframe.llm.scripted import last_user_text
from codeframe.redaction import redact

logger = logging.getLogger(__name__)

CASSETTE_VERSION = 1
ROOT_TOKEN = "<root>"
_KEY_PREFIX = 12


def _root_text(root: str | os.PathLike[str] | None) -> str | None:
    if root is None:
        return None
    text = str(Path(root))
    # Replacing "/" would rewrite every path separator; a root that short is no root.
    return text if len(text) > 1 else None


def _jsonable(value: Any) -> Any:
    """Plain JSON data from request values that may hold SDK models (e.g. echoed blocks)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        # exclude_none makes an echoed SDK block hash like the dict a caller would write.
        return _jsonable(dump(mode="json", exclude_none=True))
    raise TypeError(f"cannot record a request value of type {type(value).__name__}")


def _replace(value: Any, old: str, new: str) -> Any:
    """``value`` with ``old`` replaced by ``new`` in every string, keys included."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {_replace(k, old, new): _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return value


def _portable(value: Any, root: str | None) -> Any:
    data = _jsonable(value)
    return _replace(data, root, ROOT_TOKEN) if root else data


def request_key(system: Any, messages: Any, *, root: str | os.PathLike[str] | None = None) -> str:
    """sha256 of the canonical JSON of ``{system, messages}`` with ``root`` → ``<root>``."""
    root_text = _root_text(root)
    payload = {"system": _portable(system, root_text), "messages": _portable(messages, root_text)}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Messages:
    """``client.messages`` for the cassette clients."""

    __slots__ = ("create",)

    def __init__(self, create: Any) -> None:
        self.create = create


def _write_atomically(path: Path, data: dict[str, Any], *, secrets: tuple[Any, ...] = ()) -> None:
    """Write the cassette whole, with any key value that slipped into a prompt masked."""
    text = redact(json.dumps(data, indent=1, ensure_ascii=False), secrets) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class RecordingClient:
    """Wraps a client with ``messages.create`` and writes a cassette after each call.

    The file is rewritten whole (temp file + ``os.replace``) so an interrupted session
    still leaves a valid cassette of the calls that finished.
    """

    def __init__(
        self,
        client: Any,
        path: str | os.PathLike[str],
        *,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.client = client
        self.path = Path(path)
        self.root = _root_text(root)
        self.entries: list[dict[str, Any]] = []
        self.messages = _Messages(self._create)

    async def _create(self, **kwargs: Any) -> Message:
        response = await self.client.messages.create(**kwargs)
        self._record(kwargs, response)
        return response

    def _record(self, kwargs: Mapping[str, Any], response: Any) -> None:
        if not hasattr(response, "model_dump"):
            raise CodeframeError(
                f"cannot record a reply of type {type(response).__name__}; "
                "the wrapped client must return anthropic Message objects"
            )
        system, messages = kwargs.get("system"), kwargs.get("messages", [])
        request: dict[str, Any] = {
            "system": _portable(system, self.root),
            "messages": _portable(messages, self.root),
            "model": kwargs.get("model"),
            "max_tokens": kwargs.get("max_tokens"),
        }
        for optional in ("tools", "tool_choice"):
            if kwargs.get(optional) is not None:
                request[optional] = _portable(kwargs[optional], self.root)
        self.entries.append(
            {
                "key": request_key(system, messages, root=self.root),
                "request": request,
                "response": _portable(response.model_dump(mode="json"), self.root),
            }
        )
        _write_atomically(
            self.path,
            {"version": CASSETTE_VERSION, "entries": self.entries},
            secrets=(getattr(self.client, "api_key", None),),
        )
        logger.debug("recorded call %d to %s", len(self.entries), self.path)

    async def close(self) -> None:
        """Close the wrapped client if it can be closed."""
        close = getattr(self.client, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


def _load_cassette(path: Path, root: str | None) -> dict[str, deque[Message]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CodeframeError(f"cassette not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CodeframeError(f"cassette {path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != CASSETTE_VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise CodeframeError(
            f"cassette {path} is not a version-{CASSETTE_VERSION} cassette (version: {version!r})"
        )
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise CodeframeError(f"cassette {path} has no 'entries' list")
    served: dict[str, deque[Message]] = {}
    for index, entry in enumerate(entries):
        try:
            key = entry["key"]
            response = entry["response"]
            if root:
                response = _replace(response, ROOT_TOKEN, root)
            message = Message.model_validate(response)
        except (KeyError, TypeError, ValidationError) as exc:
            raise CodeframeError(f"cassette {path}: entry {index} is invalid: {exc}") from exc
        served.setdefault(key, deque()).append(message)
    return served


class ReplayClient:
    """Serves a cassette's replies by request key; no key, no network.

    Identical requests are answered in recorded order; one past the recorded ones, or a
    request never recorded, raises ``ReplayMissError``. The cassette is read when the
    client is made, so a missing or broken file is reported at once.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
    ) -> None:
        self.path = Path(path)
        self.root = _root_text(root)
        self._replies = _load_cassette(self.path, self.root)
        self._served: dict[str, int] = {}
        self.history: list[dict[str, Any]] = []
        self.messages = _Messages(self._create)

    @property
    def remaining(self) -> int:
        """How many recorded replies have not been served yet."""
        return sum(len(queue) for queue in self._replies.values())

    async def _create(self, **kwargs: Any) -> Message:
        messages: Sequence[Any] = kwargs.get("messages", [])
        self.history.append({**kwargs, "messages": list(messages)})
        key = request_key(kwargs.get("system"), messages, root=self.root)
        queue = self._replies.get(key)
        # A real call always yields to the loop; so does a replayed one.
        await asyncio.sleep(0)
        if not queue:
            served = self._served.get(key, 0)
            why = (
                f"all {served} recorded replies for it were already served"
                if served
                else "it was never recorded"
            )
            raise ReplayMissError(
                f"cassette {self.path.name} has no reply for request {key[:_KEY_PREFIX]} "
                f"({why}); last user message: {last_user_text(messages)!r}"
            )
        self._served[key] = self._served.get(key, 0) + 1
        return queue.popleft()

    async def close(self) -> None:
        """Nothing to release."""


__all__ = ["CASSETTE_VERSION", "ROOT_TOKEN", "RecordingClient", "ReplayClient", "request_key"]
