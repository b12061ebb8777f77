"""A real little project on disk, a real database and a real pytest runner for worker tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from codeframe.testing.test_runner import TestRunner
from codeframe.ui.websocket_broadcasts import BroadcastRecorder

CALC = """\
def add(a, b):
    return a + b
"""

CALC_TESTS = """\
from calc import add


def test_add():
    assert add(2, 3) == 5
"""

MULTIPLY_OK = (
    CALC
    + """

def multiply(a, b):
    return a * b
"""
)

MULTIPLY_BUGGY = (
    CALC
    + """

def multiply(a, b):
    return a + b
"""
)

MULTIPLY_TESTS = """\
from calc import multiply


def test_multiply():
    assert multiply(3, 4) == 12


def test_multiply_by_zero():
    assert multiply(7, 0) == 0
"""


def changes(*files: tuple[str, str, str | None], explanation: str = "done") -> dict:
    """A reply in the files contract: ``(path, action, content)`` tuples."""
    out = []
    for path, action, content in files:
        entry = {"path": path, "action": action}
        if content is not None:
            entry["content"] = content
        out.append(entry)
    return {"files": out, "explanation": explanation}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "tests" / "test_calc.py").write_text(CALC_TESTS)
    # Lets `from calc import add` work from tests/ without an installed package.
    (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    return root


@pytest.fixture
def runner(project: Path) -> TestRunner:
    return TestRunner(project, timeout=60, plugin_autoload=False)


@pytest.fixture
def recorder() -> BroadcastRecorder:
    return BroadcastRecorder()


def write(root: Path, rel: str, text: str) -> None:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text))


def tree(root: Path) -> dict[str, str]:
    """Every file under root with its text, to prove that nothing changed."""
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
