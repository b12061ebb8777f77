"""codeframe — asynchronous LLM coding agents that live in Jupyter."""

from __future__ import annotations

import logging

from codeframe import errors as _errors
from codeframe.errors import *  # noqa: F403  # the whole tree, re-exported

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


def enable_logging(level: int | str = logging.INFO) -> logging.Handler:
    """Send codeframe's log records to stderr in a readable form; returns the handler."""
    logger = logging.getLogger(__name__)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


__all__ = [*_errors.__all__, "__version__", "enable_logging"]
