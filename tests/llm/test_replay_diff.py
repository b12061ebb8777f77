"""The first differing line of two prompts, as a replay miss reports it."""

from __future__ import annotations

from codeframe.llm.replay_diff import first_difference


def test_equal_prompts_have_no_difference():
    assert first_difference("a\nb\n", "a\nb\n") is None


def test_the_first_differing_line_is_named_and_long_lines_are_shortened():
    long = "x" * 200
    assert first_difference("a\nb\nc", "a\nB\nc") == "line 2: recorded 'b', asked 'B'"
    assert first_difference(f"a\n{long}", "a\ny").startswith(f"line 2: recorded '{'x' * 90}…'")


def test_a_prompt_that_ends_early_is_said_to_end():
    assert first_difference("a\nb", "a") == (
        "line 2: recorded 'b', asked (nothing: the prompt ends before it)"
    )
    assert first_difference("a\n", "a") == "the same lines with different line endings"
