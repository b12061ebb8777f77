"""The README's Python example runs as written, and running its cell again is harmless."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_example() -> str:
    """The first ``python`` block under "Using it from Python"."""
    section = README.read_text(encoding="utf-8").split("## Using it from Python", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "the README lost its Python example"
    return found.group(1)


async def run_as_a_cell(code: str) -> dict[str, Any]:
    """Run notebook-cell code (top-level ``await``) and return its ``summary``."""
    source = "async def _cell():\n" + textwrap.indent(code, "    ") + "    return summary\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, str(README), "exec"), namespace)
    summary: dict[str, Any] = await namespace["_cell"]()
    return summary


async def test_the_python_example_runs_and_can_be_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    code = python_example()

    first = await run_as_a_cell(code)
    again = await run_as_a_cell(code)  # a notebook user re-runs the cell

    assert (first["total_tasks"], first["completed"], first["failed"]) == (1, 1, 0)
    assert (again["total_tasks"], again["completed"]) == (1, 1)
    assert "def multiply" in (tmp_path / "work" / "calc" / "calc.py").read_text()
