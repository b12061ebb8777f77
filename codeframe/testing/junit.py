"""Read pytest's JUnit XML (xunit1 family) into counts and per-test outcomes; no I/O.

The XML is the run's source of truth: pytest's exit code says how the session ended,
the report says what each test did. Node ids are rebuilt in pytest's own form
(``tests/test_x.py::TestC::test_y``) so they match what a user sees in the terminal.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from codeframe.core.models import CaseOutcome, TestCase
from codeframe.errors import JUnitFormatError

MESSAGE_LIMIT = 300

# pytest's junitxml plugin uses this message for every collection error; the real
# cause sits in the last "E   ..." line of the element's text.
_COLLECTION_FAILURE = "collection failure"

_OUTCOME_BY_TAG = {
    "failure": CaseOutcome.FAILED.value,
    "error": CaseOutcome.ERROR.value,
    "skipped": CaseOutcome.SKIPPED.value,
}


@dataclass(frozen=True, slots=True)
class JUnitReport:
    """What one report says: the four counts and each test case in file order."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    cases: tuple[TestCase, ...] = ()

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped


def parse_junit_xml(text: str | bytes) -> JUnitReport:
    """Parse a JUnit report; raises :class:`JUnitFormatError` when it cannot be read."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise JUnitFormatError(f"malformed JUnit XML: {exc}") from exc
    if root.tag not in ("testsuites", "testsuite"):
        raise JUnitFormatError(f"not a JUnit report: the root element is <{root.tag}>")
    suites = list(root.iter("testsuite"))
    if not suites:
        raise JUnitFormatError("not a JUnit report: it holds no <testsuite>")
    cases = tuple(_case(element) for suite in suites for element in suite.findall("testcase"))
    if not cases:
        return _totals_from_suites(suites)
    outcomes = [case.outcome for case in cases]
    return JUnitReport(
        passed=outcomes.count(CaseOutcome.PASSED.value),
        failed=outcomes.count(CaseOutcome.FAILED.value),
        errors=outcomes.count(CaseOutcome.ERROR.value),
        skipped=outcomes.count(CaseOutcome.SKIPPED.value),
        cases=cases,
    )


def _case(element: ET.Element) -> TestCase:
    outcome, message = CaseOutcome.PASSED.value, ""
    for child in element:
        if child.tag in _OUTCOME_BY_TAG:
            outcome, message = _OUTCOME_BY_TAG[child.tag], _message(child)
            break
    return TestCase(
        node_id=node_id(element.get("classname", ""), element.get("name", ""), element.get("file")),
        outcome=outcome,
        message=message,
        duration=_number(element.get("time")),
    )


def node_id(classname: str, name: str, file: str | None) -> str:
    """Rebuild pytest's node id from xunit1's ``classname``, ``name`` and ``file``.

    pytest writes ``classname`` as the dotted file path plus any class names, so the
    classes are whatever follows the dotted form of ``file``.
    """
    if not file:
        return "::".join(part for part in (classname, name) if part)
    module = file.removesuffix(".py").replace("/", ".")
    if not classname and name == module:
        return file  # a collection error of the whole module
    if classname == module:
        return f"{file}::{name}"
    if classname.startswith(module + "."):
        classes = classname[len(module) + 1 :].split(".")
        return "::".join([file, *classes, name])
    return "::".join(part for part in (file, classname, name) if part)


def _message(element: ET.Element) -> str:
    message = (element.get("message") or "").strip()
    detail = (element.text or "").strip()
    if message == _COLLECTION_FAILURE:
        cause = last_error_line(detail)
        if cause:
            message = f"{message}: {cause}"
    elif not message and detail:
        message = detail.splitlines()[0].strip()
    return _trim(message)


def last_error_line(text: str) -> str:
    """The last ``E   ...`` line of a pytest traceback: usually the exception itself."""
    lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return lines[-1] if lines else ""


def _trim(message: str) -> str:
    if len(message) <= MESSAGE_LIMIT:
        return message
    return message[: MESSAGE_LIMIT - 1] + "…"


def _number(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def _count(suite: ET.Element, attribute: str) -> int:
    try:
        return max(int(suite.get(attribute) or 0), 0)
    except ValueError:
        return 0


def _totals_from_suites(suites: list[ET.Element]) -> JUnitReport:
    """Counts from the suite attributes, for reports that list no individual cases."""
    failed = sum(_count(suite, "failures") for suite in suites)
    errors = sum(_count(suite, "errors") for suite in suites)
    skipped = sum(_count(suite, "skipped") for suite in suites)
    tests = sum(_count(suite, "tests") for suite in suites)
    passed = max(tests - failed - errors - skipped, 0)
    return JUnitReport(passed=passed, failed=failed, errors=errors, skipped=skipped)


__all__ = [
    "MESSAGE_LIMIT",
    "JUnitFormatError",
    "JUnitReport",
    "last_error_line",
    "node_id",
    "parse_junit_xml",
]
