"""JUnit XML parsing on hand-written reports in pytest's xunit1 shape."""

from __future__ import annotations

import pytest

from codeframe.errors import CodeframeError
from codeframe.testing.junit import (
    MESSAGE_LIMIT,
    JUnitFormatError,
    JUnitReport,
    node_id,
    parse_junit_xml,
)

MIXED = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests">
  <testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.1">
    <testcase classname="tests.test_x" name="test_ok" file="tests/test_x.py" line="1"
              time="0.012"/>
    <testcase classname="tests.test_x" name="test_bad" file="tests/test_x.py" line="4"
              time="0.5">
      <failure message="AssertionError: one is not two&#10;assert 1 == 2">long traceback
E   AssertionError: one is not two</failure>
    </testcase>
    <testcase classname="tests.test_x.TestC" name="test_fix" file="tests/test_x.py" line="9"
              time="0.001">
      <error message="failed on setup with &quot;RuntimeError: boom&quot;">trace</error>
    </testcase>
    <testcase classname="tests.test_x.TestC.TestInner" name="test_skip" file="tests/test_x.py"
              line="12" time="0">
      <skipped type="pytest.skip" message="not today">tests/test_x.py:12: not today</skipped>
    </testcase>
    <testcase classname="tests.sub.test_y" name="test_p[a::b]" file="tests/sub/test_y.py"
              line="3" time="0.002"/>
  </testsuite>
</testsuites>
"""


def test_counts_and_cases_come_from_the_testcases() -> None:
    report = parse_junit_xml(MIXED)

    assert (report.passed, report.failed, report.errors, report.skipped) == (2, 1, 1, 1)
    assert report.total == 5
    assert [case.node_id for case in report.cases] == [
        "tests/test_x.py::test_ok",
        "tests/test_x.py::test_bad",
        "tests/test_x.py::TestC::test_fix",
        "tests/test_x.py::TestC::TestInner::test_skip",
        "tests/sub/test_y.py::test_p[a::b]",
    ]
    assert [case.outcome for case in report.cases] == [
        "passed",
        "failed",
        "error",
        "skipped",
        "passed",
    ]


def test_case_messages_and_durations() -> None:
    ok, bad, fixture, skipped, _ = parse_junit_xml(MIXED).cases

    assert ok.message == ""
    assert ok.duration == pytest.approx(0.012)
    assert bad.message == "AssertionError: one is not two\nassert 1 == 2"
    assert bad.duration == pytest.approx(0.5)
    assert fixture.message == 'failed on setup with "RuntimeError: boom"'
    assert skipped.message == "not today"


def test_collection_error_is_named_by_its_file_with_the_real_cause() -> None:
    xml = """<testsuites><testsuite name="pytest" errors="1" failures="0" skipped="0" tests="1">
    <testcase classname="" name="tests.test_bad" file="tests/test_bad.py" time="0.000">
    <error message="collection failure">frames
E     File "/p/tests/test_bad.py", line 1
E       def test_x(:
E   SyntaxError: invalid syntax</error></testcase></testsuite></testsuites>"""

    report = parse_junit_xml(xml)

    assert report.errors == 1
    (case,) = report.cases
    assert case.node_id == "tests/test_bad.py"
    assert case.outcome == "error"
    assert case.message == "collection failure: SyntaxError: invalid syntax"


def test_long_messages_are_trimmed() -> None:
    long = "x" * 1000
    xml = (
        '<testsuite name="pytest"><testcase classname="test_a" name="test_f" file="test_a.py">'
        f'<failure message="{long}">trace</failure></testcase></testsuite>'
    )

    (case,) = parse_junit_xml(xml).cases

    assert case.node_id == "test_a.py::test_f"
    assert len(case.message) == MESSAGE_LIMIT
    assert case.message.startswith("xxx")
    assert case.message.endswith("…")


def test_message_falls_back_to_the_first_line_of_text() -> None:
    xml = (
        '<testsuite><testcase classname="test_a" name="test_f" file="test_a.py">'
        "<failure>\nValueError: bad\nmore</failure></testcase></testsuite>"
    )

    (case,) = parse_junit_xml(xml).cases

    assert case.message == "ValueError: bad"


def test_bytes_with_an_encoding_declaration_are_accepted() -> None:
    report = parse_junit_xml(MIXED.encode("utf-8"))

    assert report.total == 5


def test_totals_fall_back_to_suite_attributes_without_cases() -> None:
    xml = """<testsuites>
      <testsuite name="a" tests="7" failures="2" errors="1" skipped="1"/>
      <testsuite name="b" tests="3" failures="0" errors="0" skipped="0"/>
    </testsuites>"""

    assert parse_junit_xml(xml) == JUnitReport(passed=6, failed=2, errors=1, skipped=1)


def test_an_empty_run_counts_nothing() -> None:
    xml = (
        '<testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="0" '
        'skipped="0" tests="0" time="0.008"/></testsuites>'
    )

    assert parse_junit_xml(xml) == JUnitReport()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("<testsuites><testsuite>", "malformed"),
        ("", "malformed"),
        ("<html><body/></html>", "root element is <html>"),
        ("<testsuites/>", "no <testsuite>"),
    ],
)
def test_unreadable_reports_raise_a_clear_error(text: str, complaint: str) -> None:
    with pytest.raises(JUnitFormatError, match=complaint) as caught:
        parse_junit_xml(text)

    assert isinstance(caught.value, CodeframeError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("classname", "name", "file", "expected"),
    [
        ("tests.test_x", "test_y", "tests/test_x.py", "tests/test_x.py::test_y"),
        ("tests.test_x.A.B", "test_y", "tests/test_x.py", "tests/test_x.py::A::B::test_y"),
        # a doctest item: its name is already dotted
        ("test_x", "test_x.helper", "test_x.py", "test_x.py::test_x.helper"),
        # a module that failed to collect
        ("", "tests.test_x", "tests/test_x.py", "tests/test_x.py"),
        # a --junitprefix we cannot map back: keep every part
        ("pre.test_x", "test_y", "test_x.py", "test_x.py::pre.test_x::test_y"),
        # no file attribute (not xunit1)
        ("tests.test_x", "test_y", None, "tests.test_x::test_y"),
    ],
)
def test_node_ids(classname: str, name: str, file: str | None, expected: str) -> None:
    assert node_id(classname, name, file) == expected
