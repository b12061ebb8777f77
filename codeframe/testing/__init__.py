"""Running a project's tests: the async pytest runner, its JUnit reader and child environment.

Each run is supervised (nothing a test starts outlives it), warm where possible (forked
from a helper with pytest imported) and loads only the plugins the project asks for.
"""

from __future__ import annotations

from codeframe.core.models import CaseOutcome, TestCase, TestResult, TestStatus
from codeframe.testing.environment import build_child_env, is_secret_name
from codeframe.testing.junit import JUnitFormatError, JUnitReport, parse_junit_xml
from codeframe.testing.test_runner import TestRunner

__all__ = [
    "CaseOutcome",
    "JUnitFormatError",
    "JUnitReport",
    "TestCase",
    "TestResult",
    "TestRunner",
    "TestStatus",
    "build_child_env",
    "is_secret_name",
    "parse_junit_xml",
]
