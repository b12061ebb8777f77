"""Turn an exception from one step of a task into the words and the retry verdict a user sees."""

from __future__ import annotations

from dataclasses import dataclass

import anthropic

from codeframe.errors import ReplayMissError, ScriptMissError
from codeframe.redaction import redact

# HTTP statuses a retry of the task cannot mend: the request itself or the account is wrong.
_FINAL_HTTP_STATUSES = frozenset({400, 401, 403, 404, 413, 422})


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a task failed, and whether running it again could help."""

    message: str
    retryable: bool


def _scrub(text: str, secret: str | None) -> str:
    return redact(text, [secret])


def describe_failure(exc: BaseException, *, api_key: str | None = None) -> Failure:
    """``"<ExceptionClass>: <message>"`` with the key scrubbed, plus whether to retry."""
    name = type(exc).__name__
    if getattr(exc, "retryable", True) is False:
        return Failure(f"{name}: {_scrub(str(exc), api_key)}", retryable=False)
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        message = (
            f"{name}: Claude rejected the credentials (HTTP {exc.status_code}); "
            "check ANTHROPIC_API_KEY"
        )
        return Failure(message, retryable=False)
    if isinstance(exc, anthropic.APIStatusError):
        message = f"{name}: Claude API answered HTTP {exc.status_code} after the SDK's retries"
        detail = _scrub(str(exc), api_key)
        if detail:
            message += f" ({detail[:300]})"
        return Failure(message, retryable=exc.status_code not in _FINAL_HTTP_STATUSES)
    if isinstance(exc, ScriptMissError | ReplayMissError):
        return Failure(f"{name}: {_scrub(str(exc), api_key)}", retryable=False)
    return Failure(f"{name}: {_scrub(str(exc), api_key)}", retryable=True)
