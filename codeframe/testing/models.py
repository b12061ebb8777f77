"""The result shapes of a test run, re-exported where the seed design kept them."""

from __future__ import annotations

from codeframe.core.models import CaseOutcome, TestCase, TestResult, TestStatus

__all__ = ["CaseOutcome", "TestCase", "TestResult", "TestStatus"]
