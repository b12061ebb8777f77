"""Keep API keys out of everything codeframe writes or shows: errors, logs, the database,
cassettes. One place decides what a secret is, so the three cannot drift apart."""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable

# Variables whose values are credentials for Claude; the SDK reads the first of these.
KEY_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
MASK = "<redacted>"
_MIN_SECRET = 8  # shorter values would mask ordinary words


def secret_values(extra: Iterable[str | None] = ()) -> list[str]:
    """The key values in the environment plus ``extra`` (e.g. an ``api_key=`` argument)."""
    values = [os.environ.get(name) for name in KEY_VARIABLES]
    values.extend(extra)
    # Longest first, so a key that contains another is masked whole.
    return sorted({v for v in values if v and len(v) >= _MIN_SECRET}, key=len, reverse=True)


def redact(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` with every known key value replaced by ``<redacted>``."""
    for secret in secret_values(extra):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redacted_traceback(exc: BaseException, extra: Iterable[str | None] = ()) -> str:
    """``exc``'s traceback, causes and contexts included, with every key value masked.

    For logging an unexpected error whose chain may hold an SDK error quoting the key.
    """
    return redact("".join(traceback.format_exception(exc)), extra).rstrip()


__all__ = ["KEY_VARIABLES", "MASK", "redact", "redacted_traceback", "secret_values"]
