"""What ``codeframe.redaction`` masks, and that a clean test run passes through uncopied."""

from __future__ import annotations

import pytest

from codeframe.core.models import TestCase, TestResult
from codeframe.redaction import MASK, clean_result, clean_text

KEY = "sk-ant-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


def run(output: str, message: str) -> TestResult:
    case = TestCase("tests/test_a.py::test_a", "failed", message)
    return TestResult("failed", failed=1, output=output, cases=(case,))


def test_a_run_with_nothing_to_mask_is_handed_back_as_it_is() -> None:
    result = run("1 failed", "assert 1 == 2")
    assert clean_result(result) is result


def test_a_key_in_a_case_message_is_masked_in_a_copy() -> None:
    result = run("1 failed", f"KeyError: {KEY}")
    cleaned = clean_result(result)
    assert cleaned is not result
    assert cleaned.cases[0].message == f"KeyError: {MASK}"
    assert cleaned.output == "1 failed"
    assert result.cases[0].message == f"KeyError: {KEY}"  # the original is left alone


def test_a_key_given_in_code_and_text_utf8_cannot_hold_are_cleaned() -> None:
    extra = "given-in-code-key-42"
    cleaned = clean_result(run(f"saw {extra}", "bad \udcff byte"), (extra,))
    assert cleaned.output == f"saw {MASK}"
    assert cleaned.cases[0].message == "bad \\udcff byte"
    assert clean_text(f"{KEY} and {extra}", (extra,)) == f"{MASK} and {MASK}"
