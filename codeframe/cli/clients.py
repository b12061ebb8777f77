"""Which Claude a ``codeframe run`` talks to: live, live and recorded, or a replayed cassette.

Live needs ``ANTHROPIC_API_KEY``; the key is read here, handed to the SDK client and to the
redaction registry, and never printed, logged or stored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeframe.errors import CodeframeError, CommandLineError
from codeframe.llm import live as live_llm
from codeframe.llm.cassette import RecordingClient, ReplayClient


@dataclass(frozen=True, slots=True)
class ChosenClient:
    """The client for a run, checked but not built yet, and what to tell the user about it.

    Building waits for :meth:`make`, inside the run's event loop: a live client holds a
    connection pool that the run closes when it ends, so nothing may be left open if a
    later check (the database, the task list) refuses the run first.
    """

    factory: Callable[[], Any] = field(repr=False)
    #: Its calls are offline (a replay): tokens are simulated and cost nothing.
    simulated: bool
    #: "live (model)", "live (model), recording to …" or "offline, replaying …".
    description: str
    api_key: str | None = field(default=None, repr=False)

    def make(self) -> Any:
        """The client, with ``messages.create`` and ``close``."""
        return self.factory()


def choose_client(
    *,
    live: bool = False,
    record: Path | None = None,
    replay: Path | None = None,
    project_root: Path,
    environ: Mapping[str, str] = os.environ,
) -> ChosenClient:
    """The client the options ask for; :class:`CommandLineError` when it cannot be had.

    With none of ``live``, ``record`` and ``replay``: live if the key is set. A cassette to
    replay is read now, so a missing or broken one is reported before anything runs.
    """
    if replay is not None:
        try:
            # "turn": a concurrent run's prompts depend on which tasks finished first, so a
            # prompt that differs from the recording falls back to the same task and attempt.
            client = ReplayClient(replay, root=project_root, match="turn")
        except CodeframeError as exc:
            raise CommandLineError(f"cannot replay: {exc}") from None
        return ChosenClient(lambda: client, True, f"offline, replaying {replay}")
    key = environ.get(live_llm.API_KEY_ENV, "").strip()
    if not key:
        if live or record is not None:
            flag = "--live" if live else "--record"
            raise CommandLineError(
                f"{flag} needs the {live_llm.API_KEY_ENV} environment variable (your Claude "
                "API key); it is not set"
            )
        raise CommandLineError(
            f"{live_llm.API_KEY_ENV} is not set: set it to run the tasks with Claude, or pass "
            "--replay CASSETTE to replay a recorded session offline"
        )
    model = live_llm.default_model()
    if record is not None:
        if record.exists():
            raise CommandLineError(
                f"--record {record}: the file exists; choose a new file (a recording is "
                "never written over)"
            )
        path = record

        def recording() -> RecordingClient:
            return RecordingClient(live_llm.live_client(key), path, root=project_root)

        return ChosenClient(recording, False, f"live ({model}), recording to {record}", key)
    return ChosenClient(lambda: live_llm.live_client(key), False, f"live ({model})", key)


__all__ = ["ChosenClient", "choose_client"]
