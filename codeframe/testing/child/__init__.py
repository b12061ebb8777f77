"""Code that runs in the test interpreter, not in the agent process.

These modules use the standard library only and are loaded by file path (never through
``sys.path``), so they can run under another interpreter than codeframe's and leave no
trace on the project's import path:

- :mod:`~codeframe.testing.child.reaper` supervises one pytest and every process it starts;
- :mod:`~codeframe.testing.child.pytest_entry` is what the pytest process itself runs;
- :mod:`~codeframe.testing.child.forkserver` is the warm helper that forks a run per request.
"""

from __future__ import annotations

from pathlib import Path

CHILD_DIR = Path(__file__).resolve().parent
REAPER_PATH = CHILD_DIR / "reaper.py"
ENTRY_PATH = CHILD_DIR / "pytest_entry.py"
FORKSERVER_PATH = CHILD_DIR / "forkserver.py"

__all__ = ["CHILD_DIR", "ENTRY_PATH", "FORKSERVER_PATH", "REAPER_PATH"]
