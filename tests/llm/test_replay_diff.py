"""The first differing line of two prompts, as a replay miss reports it."""

from __future__ import annotations

from codeframe.llm.replay_diff import first_difference


def test_equal_prompts_have_no_difference():
    assert first_difference("a\nb\n", "a\nb\n") is None


def test_the_first_differing_line_and_column_are_named():
    assert first_difference("a\nbc\nd", "a\nbC\nd") == (
        "line 2, column 2: recorded 'bc', asked 'bC'"
    )


def test_long_lines_are_quoted_where_they_differ():
    """Found in review: lines cut at a fixed width hid a difference past the cut."""
    same = "x" * 120
    said = first_difference(f"{same}A tail", f"{same}B tail")
    assert said is not None and said.startswith("line 1, column 121: recorded '…")
    recorded, asked = said.split(", asked ")
    assert "A tail" in recorded and "B tail" in asked


def test_a_prompt_that_ends_early_is_said_to_end():
    assert first_difference("a\nb", "a") == (
        "line 2, column 1: recorded 'b', asked (nothing: the prompt ends before it)"
    )
    assert first_difference("a\n", "a") == "the same lines, with different line breaks"
