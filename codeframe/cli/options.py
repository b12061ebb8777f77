"""Argument types the commands share: they turn a bad value into argparse's usage error."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """A whole number from 1 (``--concurrency``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def dollars(text: str) -> float:
    """An amount in US dollars, 0 or more; a leading ``$`` is allowed (``--budget $2.50``)."""
    try:
        value = float(text.strip().removeprefix("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of dollars, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more dollars, got {text!r}")
    return value


__all__ = ["dollars", "positive_int"]
