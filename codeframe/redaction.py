"""Keep API keys out of everything codeframe writes or shows: errors, logs, the database,
prompts, cassettes and the test subprocess. One place decides what a secret is, so they
cannot drift apart: the Claude variables of the environment, plus every key an agent was
given in code (:func:`register_secret`)."""

from __future__ import annotations

import operator
import os
import traceback
from collections.abc import Iterable
from dataclasses import replace

from codeframe.core.models import TestCase, TestResult

# Variables whose values are credentials for Claude; the SDK reads the first of these.
KEY_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
MASK = "<redacted>"
_MIN_SECRET = 8  # shorter values would mask ordinary words

# Keys handed to agents in code (``api_key=``): as secret as the environment's, for as long
# as the process lives. A set of strings: registering the same key twice costs nothing.
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Treat ``value`` (e.g. an ``api_key=`` argument) as a secret everywhere from now on."""
    if isinstance(value, str) and len(value) >= _MIN_SECRET:
        _registered.add(value)


_known: dict[tuple[tuple[str | None, ...], int], list[str]] = {}


def _ordered(values: Iterable[str | None]) -> list[str]:
    # Longest first, so a key that contains another is masked whole.
    return sorted({v for v in values if v and len(v) >= _MIN_SECRET}, key=len, reverse=True)


def secret_values(extra: Iterable[str | None] = ()) -> list[str]:
    """The key values in the environment, those registered, plus ``extra``."""
    # Read each time (a notebook may set a key at any moment), but without building
    # anything: a task redacts a dozen texts, most with no ``extra``.
    environment = tuple(map(os.environ.get, KEY_VARIABLES))
    # Every stored text is redacted, so the common answer is remembered: it changes only
    # when the environment's keys or the registered ones do (registering only adds).
    state = (environment, len(_registered))
    known = _known.get(state)
    if known is None:
        _known.clear()
        known = _known[state] = _ordered([*environment, *_registered])
    if not extra:
        return known
    added = [v for v in extra if v and len(v) >= _MIN_SECRET and v not in known]
    return _ordered([*known, *added]) if added else known


def redact(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` with every known key value replaced by ``<redacted>``."""
    return _masked(text, secret_values(extra))


def _masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def clean_text(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` fit to store or show: keys masked, and anything UTF-8 cannot encode (a lone
    surrogate from a path, say) replaced, so a write never fails on it."""
    return _cleaned(str(text), secret_values(extra))


def _cleaned(text: str, secrets: list[str]) -> str:
    text = _masked(text, secrets)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def clean_result(result: TestResult, extra: Iterable[str | None] = ()) -> TestResult:
    """A test run with its output and every case's message passed through :func:`clean_text`.

    The same object when nothing needed cleaning (the usual case: a copy per test run and
    per case would cost more than the check)."""
    secrets = secret_values(extra)
    cases = tuple(_cleaned_case(case, secrets) for case in result.cases)
    output = _cleaned(str(result.output), secrets)  # str(text) is text: no copy
    if output is result.output and all(map(operator.is_, cases, result.cases)):
        return result
    return replace(result, output=output, cases=cases)


def _cleaned_case(case: TestCase, secrets: list[str]) -> TestCase:
    message = _cleaned(str(case.message), secrets)
    return case if message is case.message else replace(case, message=message)


def redacted_traceback(exc: BaseException, extra: Iterable[str | None] = ()) -> str:
    """``exc``'s traceback, causes and contexts included, with every key value masked.

    For logging an unexpected error whose chain may hold an SDK error quoting the key.
    """
    return redact("".join(traceback.format_exception(exc)), extra).rstrip()


__all__ = [
    "KEY_VARIABLES",
    "MASK",
    "clean_result",
    "clean_text",
    "redact",
    "redacted_traceback",
    "register_secret",
    "secret_values",
]
