"""The progress notes a pytest process leaves are read defensively: a test may write there."""

from __future__ import annotations

from pathlib import Path

from codeframe.testing.progress import read_progress


def test_progress_lines_that_do_not_parse_are_skipped(tmp_path: Path) -> None:
    notes = tmp_path / "progress.jsonl"
    notes.write_bytes(
        b'["python"]\n["pytest"]\n{"not": "a list"}\nnot json\n["conftest"]\n[1, 2]\n'
        b'["test", "t.py::a"]\n["report", "t.py::a", "call", "failed", "boom"]\n'
        b'["report", "t.py::a", "teardown", 3, "x"]\n["test", 7]\n'
    )

    progress = read_progress(notes)

    assert progress.project_code_ran
    assert progress.returned is None
    assert progress.culprit == "t.py::a"
    assert [(case.node_id, case.outcome, case.message) for case in progress.cases()] == [
        ("t.py::a", "failed", "boom")
    ]
    assert not read_progress(tmp_path / "missing").project_code_ran


def test_the_culprit_follows_the_stage_reached(tmp_path: Path) -> None:
    notes = tmp_path / "progress.jsonl"
    stages = {
        b'["python"]\n["pytest"]\n["conftest"]\n': "conftest.py",
        b'["conftest"]\n["session"]\n["collect", "tests/test_a.py"]\n': "tests/test_a.py",
        b'["conftest"]\n["session"]\n["test", "t.py::a"]\n["idle"]\n["finish"]\n': (
            "pytest session teardown"
        ),
    }
    for data, culprit in stages.items():
        notes.write_bytes(data)
        assert read_progress(notes).culprit == culprit
