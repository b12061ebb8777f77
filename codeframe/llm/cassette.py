"""Record a live Claude session to a JSON cassette, and replay it with no key and no network.

A request is keyed by a hash of its system prompt and messages with the project root
replaced by ``<root>``, so a cassette recorded in one folder replays in another (Binder,
a copy of the sample project). Model and sampling settings are not part of the key: a
replay should not break because ``CODEFRAME_MODEL`` differs. Cassettes hold requests and
responses only — never headers, never the key.

With worktree isolation a run replays exactly at any concurrency. In the shared tree it
does not: a prompt carries related code from the shared index and the test summary of a
shared tree, and both depend on which tasks happened to finish first.
``ReplayClient(match="turn")`` therefore falls back, when no recording has the exact key,
to the next recording for the same *turn* of the session — same system prompt, same task
heading, same self-correction attempt. A miss names the first line where the prompt parts
from that turn's recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from anthropic.types import Message
from pydantic import ValidationError

from codeframe.errors import CodeframeError, InvalidInputError, ReplayMissError
from codeframe.llm.messages import is_offline
from codeframe.llm.replay_diff import miss_note, prompt_text
from codeframe.llm.scripted import last_user_text, system_text, user_texts
from codeframe.redaction import redact

logger = logging.getLogger(__name__)

CASSETTE_VERSION = 1
ROOT_TOKEN = "<root>"
_KEY_PREFIX = 12
MatchMode = Literal["exact", "turn"]
_MATCH_MODES = ("exact", "turn")
# Worker prompts say which correction they are (codeframe.agents.prompts.correction_prompt).
_ATTEMPT_LINE = re.compile(r"Self-correction attempt \d+ of \d+\.")


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


def _sha256_of(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_key(system: Any, messages: Any, *, root: str | os.PathLike[str] | None = None) -> str:
    """sha256 of the canonical JSON of ``{system, messages}`` with ``root`` → ``<root>``."""
    root_text = _root_text(root)
    return _sha256_of(
        {"system": _portable(system, root_text), "messages": _portable(messages, root_text)}
    )


def turn_label(messages: Sequence[Any]) -> str:
    """``"Task #4: … / Self-correction attempt 1 of 3."``: where a request sits in a session.

    The first line of the first user message (a worker's task heading), plus the attempt
    line when it is the next line with text, as in a correction prompt. Related code and
    test output come later and are left out; ``""`` when the message has no text.
    """
    texts = user_texts(messages)
    lines = [line.strip() for line in texts[0].splitlines() if line.strip()] if texts else []
    if not lines:
        return ""
    if len(lines) > 1 and _ATTEMPT_LINE.fullmatch(lines[1]):
        return f"{lines[0]} / {lines[1]}"
    return lines[0]


def request_turn(
    system: Any, messages: Any, *, root: str | os.PathLike[str] | None = None
) -> str | None:
    """sha256 of the system prompt, the message count and :func:`turn_label`, root → ``<root>``.

    ``None`` for a request with no heading to go by: it can only be matched exactly.
    """
    root_text = _root_text(root)
    portable_messages = _portable(messages or [], root_text)
    label = turn_label(portable_messages)
    if not label:
        return None
    return _sha256_of(
        {
            "system": system_text(_portable(system, root_text)),
            "messages": len(portable_messages),
            "turn": label,
        }
    )


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

    @property
    def offline(self) -> bool:
        """Recording a simulated client simulates too: its calls cost nothing."""
        return is_offline(self.client)

    async def _create(self, **kwargs: Any) -> Message:
        response: Message = await self.client.messages.create(**kwargs)
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
            secrets=tuple(getattr(self.client, name, None) for name in ("api_key", "auth_token")),
        )
        logger.debug("recorded call %d to %s", len(self.entries), self.path)

    async def close(self) -> None:
        """Close the wrapped client if it can be closed."""
        close = getattr(self.client, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


@dataclass(slots=True)
class _Recording:
    """One recorded reply, reachable by its exact key and by its turn; served at most once."""

    key: str
    turn: str | None
    label: str
    prompt: str  # all user text, root as <root>: what a miss is compared with
    reply: Message
    served: bool = False


def _load_cassette(path: Path, root: str | None, *, turns: bool) -> list[_Recording]:
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
    recordings: list[_Recording] = []
    for index, entry in enumerate(entries):
        try:
            key = entry["key"]
            response = entry["response"]
            if root:
                response = _replace(response, ROOT_TOKEN, root)
            message = Message.model_validate(response)
            # The stored request is already portable; a hand-written entry may lack it.
            request = entry.get("request")
            messages = request.get("messages") or [] if isinstance(request, dict) else []
            turn = request_turn(request.get("system"), messages) if turns and messages else None
            label, prompt = turn_label(messages), prompt_text(messages)
        except (KeyError, TypeError, AttributeError, ValidationError) as exc:
            raise CodeframeError(f"cassette {path}: entry {index} is invalid: {exc}") from exc
        recordings.append(_Recording(key, turn, label, prompt, message))
    return recordings


def _next_unserved(queue: deque[_Recording] | None) -> _Recording | None:
    while queue:
        recording = queue.popleft()
        if not recording.served:
            return recording
    return None


class ReplayClient:
    """Serves a cassette's replies by request key; no key, no network.

    Identical requests are answered in recorded order; one past the recorded ones, or a
    request never recorded, raises ``ReplayMissError``. With ``match="turn"``, a request
    whose exact key has no reply left gets the next unserved recording of the same turn
    (system prompt, task heading, attempt) — what a concurrent run needs, since its prompts
    depend on which tasks finished first. ``turn_matches`` counts those. The cassette is
    read when the client is made, so a missing or broken file is reported at once.
    """

    #: Replayed replies cost nothing now, whatever they cost when recorded.
    offline = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        root: str | os.PathLike[str] | None = None,
        match: MatchMode = "exact",
    ) -> None:
        if match not in _MATCH_MODES:
            raise InvalidInputError(f"match must be one of {_MATCH_MODES}, got {match!r}")
        self.path = Path(path)
        self.root = _root_text(root)
        self.match = match
        self._recordings = _load_cassette(self.path, self.root, turns=match == "turn")
        self._by_key: dict[str, deque[_Recording]] = {}
        self._by_turn: dict[str, deque[_Recording]] = {}
        for recording in self._recordings:
            self._by_key.setdefault(recording.key, deque()).append(recording)
            if recording.turn is not None:
                self._by_turn.setdefault(recording.turn, deque()).append(recording)
        self._recorded = Counter(recording.key for recording in self._recordings)
        self.turn_matches = 0
        self.history: list[dict[str, Any]] = []
        self.messages = _Messages(self._create)

    @property
    def remaining(self) -> int:
        """How many recorded replies have not been served yet."""
        return sum(not recording.served for recording in self._recordings)

    async def _create(self, **kwargs: Any) -> Message:
        system, messages = kwargs.get("system"), list(kwargs.get("messages") or [])
        self.history.append({**kwargs, "messages": messages})
        # A real call always yields to the loop; so does a replayed one. It yields before the
        # lookup, so a call cancelled here takes no recording with it.
        await asyncio.sleep(0)
        key = request_key(system, messages, root=self.root)
        recording = _next_unserved(self._by_key.get(key))
        turn = None
        if recording is None and self.match == "turn":
            turn = request_turn(system, messages, root=self.root)
            recording = _next_unserved(self._by_turn.get(turn)) if turn else None
            if recording is not None:
                self.turn_matches += 1
                logger.info(
                    "replayed %s by its turn (%s): the prompt differs from the recording",
                    key[:_KEY_PREFIX],
                    recording.label,
                )
        if recording is None:
            raise self._miss(key, turn, messages)
        recording.served = True
        return recording.reply

    def _miss(self, key: str, turn: str | None, messages: Sequence[Any]) -> ReplayMissError:
        recorded = self._recorded[key]
        why = (
            f"all {recorded} recorded replies for it were already served"
            if recorded
            else "it was never recorded"
        )
        if self.match == "turn":
            label = turn_label(messages)
            if turn is None:
                why += ", and it has no task heading to match by turn"
            elif turn in self._by_turn:
                why += f", and every recording of its turn {label!r} was already served"
            else:
                why += f", and its turn {label!r} was never recorded either"
        return ReplayMissError(
            f"cassette {self.path.name} has no reply for request {key[:_KEY_PREFIX]} "
            f"({why}); last user message: {last_user_text(messages)!r}"
            f"{self._nearest(messages) if not recorded else ''}"
        )

    def _nearest(self, messages: Sequence[Any]) -> str:
        portable = _portable(messages, self.root)
        label = turn_label(portable)
        same_turn = (r.prompt for r in self._recordings if label and r.label == label)
        recorded = next(same_turn, None)
        return "" if recorded is None else miss_note(recorded, prompt_text(portable))

    async def close(self) -> None:
        """Nothing to release."""


__all__ = [
    "CASSETTE_VERSION",
    "ROOT_TOKEN",
    "MatchMode",
    "RecordingClient",
    "ReplayClient",
    "request_key",
    "request_turn",
    "turn_label",
]
