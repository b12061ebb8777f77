"""Kept for code that imported it here: failure classification lives in :mod:`codeframe.llm`."""

from __future__ import annotations

from codeframe.llm.failures import Failure, describe_failure

__all__ = ["Failure", "describe_failure"]
