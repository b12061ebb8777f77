"""``tasks.status`` is written in one place: a guard that fails if a second writer appears."""

from __future__ import annotations

import re
from pathlib import Path

import codeframe

PACKAGE = Path(codeframe.__file__).parent
# An UPDATE of the tasks table whose SET list names the status column.
STATUS_WRITE = re.compile(r"UPDATE\s+tasks\s+SET\b[^\"']*?\bstatus\s*=", re.IGNORECASE)
SET_STATUS = re.compile(r"\"status = \?\"")


def _sources() -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8")
        for path in PACKAGE.rglob("*.py")
        if "sample_project" not in path.parts and "replies" not in path.parts
    }


def test_only_set_status_writes_the_status_column():
    writers = {
        path.relative_to(PACKAGE).as_posix()
        for path, text in _sources().items()
        if STATUS_WRITE.search(text) or SET_STATUS.search(text)
    }
    assert writers == {"persistence/task_status.py"}


def test_the_one_writer_is_one_statement():
    text = (PACKAGE / "persistence" / "task_status.py").read_text(encoding="utf-8")
    assert len(SET_STATUS.findall(text)) == 1
    assert len(re.findall(r"f\"UPDATE tasks SET", text)) == 1
