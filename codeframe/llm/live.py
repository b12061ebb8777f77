"""Choosing between the live Claude client and an offline one, and the model settings.

Notebooks and user code call :func:`client_from_env` so the same cell runs offline by
default and live once ``ANTHROPIC_API_KEY`` is set — no code change.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import anthropic

from codeframe.llm.scripted import ScriptedClient

# Users filter on the package's logger name, so this module logs on ``codeframe.llm``.
logger = logging.getLogger("codeframe.llm")

API_KEY_ENV = "ANTHROPIC_API_KEY"
MODEL_ENV = "CODEFRAME_MODEL"
DEFAULT_MODEL = "claude-sonnet-4-20250514"
DEFAULT_MAX_TOKENS = 4096

OFFLINE_EXPLANATION = (
    f"No {API_KEY_ENV} is set, so codeframe is offline and this placeholder client proposes "
    "no changes. Set the key to use Claude, or pass a ScriptedClient or ReplayClient."
)


def default_model(model: str | None = None) -> str:
    """The model to ask: ``model`` > ``$CODEFRAME_MODEL`` > the seed design's default."""
    return model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def live_client(api_key: str) -> anthropic.AsyncAnthropic:
    """The live Claude client: the one place codeframe builds one.

    ``anthropic.AsyncAnthropic`` is looked up on the module at call time, so tests can patch
    it there.
    """
    return anthropic.AsyncAnthropic(api_key=api_key)


def client_from_env(*, offline: Any = None, api_key: str | None = None) -> Any:
    """``AsyncAnthropic`` when a key is given or set, else ``offline`` (or a placeholder).

    Logs one INFO line on ``codeframe.llm`` saying ``live`` or ``offline``; never the key.
    """
    key = (api_key or os.environ.get(API_KEY_ENV) or "").strip()
    if key:
        client = live_client(key)
        logger.info("Claude client: live (anthropic.AsyncAnthropic)")
        return client
    if offline is None:
        offline = ScriptedClient(default={"files": [], "explanation": OFFLINE_EXPLANATION})
    logger.info(
        "Claude client: offline (%s); set %s to go live", type(offline).__name__, API_KEY_ENV
    )
    return offline


__all__ = [
    "API_KEY_ENV",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "MODEL_ENV",
    "OFFLINE_EXPLANATION",
    "client_from_env",
    "default_model",
    "live_client",
]
