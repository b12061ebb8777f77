"""Prompt building and failure descriptions: the pure parts of the worker pipeline."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx2

from codeframe.agents.failures import describe_failure
from codeframe.agents.prompts import (
    correction_prompt,
    generation_prompt,
    read_files_in_play,
    stable_test_output,
    system_prompt,
)
from codeframe.errors import ReplayMissError, ResponseFormatError, RunnerUnavailableError


def _status_error(cls, status: int, body: str = "nope"):
    request = httpx2.Request("POST", "http://127.0.0.1/v1/messages")
    response = httpx2.Response(status, request=request, text=body)
    return cls(body, response=response, body=None)


def test_system_prompts_name_the_worker_and_its_area():
    assert system_prompt("backend").startswith("Worker type: backend\n")
    assert "`web/src`" in system_prompt("frontend", area="web/src")
    assert "submit_changes" in system_prompt("test")


def test_generation_prompt_carries_task_issue_and_human_answers():
    context = {
        "task": {"id": 7, "title": "Add login", "description": "POST /login"},
        "issue_context": {"issue_number": "2.0", "title": "Auth", "description": "users"},
        "resolved_blockers": [{"question": "Which hash?", "resolution": "argon2"}],
    }
    prompt = generation_prompt(context)
    assert prompt.startswith("Task #7: Add login")
    assert "Parent issue 2.0: Auth" in prompt
    assert "Question: Which hash?\nAnswer: argon2" in prompt


def test_correction_prompt_keeps_the_tail_of_long_output():
    output = "noise\n" * 5000 + "E   assert 1 == 2"
    prompt = correction_prompt(
        {"id": 1, "title": "t"},
        attempt=2,
        max_attempts=3,
        test_status="failed",
        failure_output=output,
        files={"a.py": "x = 1\n", "gone.py": None},
    )
    assert "Self-correction attempt 2 of 3." in prompt
    assert prompt.count("E   assert 1 == 2") == 1
    assert "earlier characters cut" in prompt
    assert "--- gone.py --- (does not exist)" in prompt


def test_test_output_reads_the_same_with_or_without_position_markers():
    """What a Python build draws under the failing line is dropped; what failed is kept,
    and so are caret lines a test prints itself (found in review)."""
    with_markers = (
        "    def test_x():\n"
        ">       catalogue = Catalogue([DUNE])\n"
        "                    ^^^^^^^^^^^^^^^^^\n"
        ">       total = a[0] + b\n"
        "                ~~~~~^~~\n"
        "E       ValueError: bad <thing at 0x7f3a2b>\n"
        "----- Captured stdout call -----\n"
        "    ^^^^\n"
        "1 failed, 2 passed in 0.12s\n"
    )
    without = with_markers.replace("                    ^^^^^^^^^^^^^^^^^\n", "").replace(
        "                ~~~~~^~~\n", ""
    )
    assert stable_test_output(with_markers) == stable_test_output(without)
    assert stable_test_output(with_markers) == (
        "    def test_x():\n"
        ">       catalogue = Catalogue([DUNE])\n"
        ">       total = a[0] + b\n"
        "E       ValueError: bad <thing>\n"
        "----- Captured stdout call -----\n"
        "    ^^^^\n"
        "1 failed, 2 passed\n"
    )
    assert stable_test_output("E   assert '^' == '~'\n") == "E   assert '^' == '~'\n"


def test_files_in_play_never_leave_the_project(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.py").write_text("a = 1\n")
    (tmp_path / "secret.txt").write_text("secret")
    files = read_files_in_play(root, ["a.py", "../secret.txt", "missing.py"])
    assert files == {"a.py": "a = 1\n", "missing.py": None}


def test_authentication_errors_are_final_and_readable():
    failure = describe_failure(
        _status_error(anthropic.AuthenticationError, 401), api_key="sk-secret"
    )
    assert failure.retryable is False
    assert failure.message.startswith("AuthenticationError: ")
    assert "ANTHROPIC_API_KEY" in failure.message


def test_server_errors_are_retryable_but_bad_requests_are_not():
    assert describe_failure(_status_error(anthropic.InternalServerError, 500)).retryable
    assert not describe_failure(_status_error(anthropic.BadRequestError, 400)).retryable


def test_the_key_is_scrubbed_from_any_message():
    failure = describe_failure(RuntimeError("boom with sk-secret inside"), api_key="sk-secret")
    assert "sk-secret" not in failure.message
    assert failure.message == "RuntimeError: boom with <redacted> inside"


def test_misses_and_runner_problems_are_not_retried():
    assert not describe_failure(ReplayMissError("no recording")).retryable
    assert not describe_failure(RunnerUnavailableError("no pytest")).retryable
    assert describe_failure(ResponseFormatError("bad json")).retryable
