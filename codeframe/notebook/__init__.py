"""The notebook face: a live panel, pandas frames of the ledger, and a sync entry point.

The only part of codeframe that imports ipywidgets and pandas.
"""

from __future__ import annotations

from codeframe.notebook.frames import (
    blockers_frame,
    commits_frame,
    correction_attempts_frame,
    llm_calls_frame,
    style_status,
    tasks_frame,
    test_cases_frame,
    test_results_frame,
)
from codeframe.notebook.panel import AgentPanel
from codeframe.notebook.sync import run_sync

__all__ = [
    "AgentPanel",
    "blockers_frame",
    "commits_frame",
    "correction_attempts_frame",
    "llm_calls_frame",
    "run_sync",
    "style_status",
    "tasks_frame",
    "test_cases_frame",
    "test_results_frame",
]
