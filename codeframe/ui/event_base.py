"""What every event has: its kind, its project, when it happened, and its message form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field, fields
from enum import Enum
from typing import Any, ClassVar, Self

from codeframe.core.models import utc_now

Message = dict[str, Any]


def plain(value: Any) -> Any:
    # TaskStatus.COMPLETED -> "completed": messages hold plain JSON values only.
    return value.value if isinstance(value, Enum) else value


@dataclass(frozen=True, slots=True)
class Event:
    """What every event has: its kind, its project and when it happened."""

    #: The message's ``type``.
    kind: ClassVar[str] = ""
    #: How a failed delivery names the event in the log ("Failed to broadcast <what>").
    what: ClassVar[str] = "event"

    project_id: int
    _: KW_ONLY
    timestamp: str = field(default_factory=utc_now)

    def payload(self) -> Message:
        """The kind's own keys, with the seed's rules for leaving empty ones out."""
        raise NotImplementedError

    def to_dict(self) -> Message:
        """The message a broadcast target receives: type, project, the fields, timestamp."""
        message: Message = {"type": self.kind, "project_id": self.project_id}
        message.update(self.payload())
        message["timestamp"] = self.timestamp
        return message

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Self:
        """The event a message describes; keys the kind does not know are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in message.items() if k in known}
        values.setdefault("timestamp", "")  # a message without one has no time to show
        return cls(**values)


__all__ = ["Event", "Message", "plain"]
