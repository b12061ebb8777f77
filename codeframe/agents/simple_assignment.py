"""Which worker type a task goes to: the one it names, else keyword counting.

Deliberately simple and explainable — a user can read in the activity log why a task went
where it did. A task that names its worker (``worker="frontend"``) gets it. Otherwise each
worker type scores a point per keyword found in the title and description as a whole word
(a plural "s" or "es" allowed): the seed design matched substrings, so "ui" hit "suite" and
"build", and a test-suite task went to the frontend worker.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from codeframe.errors import UnknownAgentTypeError

logger = logging.getLogger(__name__)

# The assigner's names for the worker types, and the pool's.
WORKER_TYPES: dict[str, str] = {
    "backend-worker": "backend",
    "frontend-specialist": "frontend",
    "test-engineer": "test",
}

DEFAULT_AGENT_TYPE = "backend-worker"


def normalize_agent_type(name: str) -> str:
    """``"backend"``, ``"frontend"`` or ``"test"`` for either spelling of a worker type."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key in WORKER_TYPES:
        return WORKER_TYPES[key]
    if key in WORKER_TYPES.values():
        return key
    known = ", ".join([*WORKER_TYPES.values(), *WORKER_TYPES])
    raise UnknownAgentTypeError(f"Unknown agent type: {name!r} (expected one of {known})")


def _text(task: Any, name: str) -> str:
    value = task.get(name) if isinstance(task, Mapping) else getattr(task, name, None)
    return value or ""


class SimpleAgentAssigner:
    """Scores a task's title and description against each worker type's keywords."""

    # Order matters: a tie goes to the type listed first.
    AGENT_KEYWORDS: ClassVar[dict[str, list[str]]] = {
        "frontend-specialist": [
            "frontend", "ui", "ux", "component", "react", "vue", "angular", "css", "html",
            "tailwind", "styled", "responsive", "layout", "button", "form", "modal",
            "navigation", "dashboard", "chart", "accessibility", "a11y", "wcag",
        ],
        "test-engineer": [
            "test", "testing", "spec", "unittest", "integration test", "e2e", "end-to-end",
            "pytest", "jest", "vitest", "coverage", "tdd", "test-driven", "assertion", "mock",
            "fixture",
        ],
        "backend-worker": [
            "backend", "api", "endpoint", "database", "sql", "orm", "migration", "schema",
            "middleware", "authentication", "auth", "server", "service", "controller", "model",
            "repository",
        ],
    }  # fmt: skip

    @staticmethod
    def _content(task: Any) -> str:
        return f"{_text(task, 'title')} {_text(task, 'description')}".lower()

    def _matches(self, text: str, agent_type: str) -> list[str]:
        # The substring test first: it is cheap, and most keywords are not in the text at all.
        return [
            kw
            for kw in self.AGENT_KEYWORDS.get(agent_type, ())
            if kw in text and _whole_word(kw).search(text)
        ]

    def assign_agent_type(self, task: Any) -> str:
        """The task's own ``worker`` if it names one; else the worker type with most keyword
        hits, ties to the earlier, none → backend."""
        named = _text(task, "worker")
        if named:
            return _ASSIGNER_NAMES[normalize_agent_type(named)]
        text = self._content(task)
        best, best_score = DEFAULT_AGENT_TYPE, 0
        for agent_type in self.AGENT_KEYWORDS:
            score = len(self._matches(text, agent_type))
            if score > best_score:
                best, best_score = agent_type, score
        logger.debug("task %r → %s (score %d)", _text(task, "title"), best, best_score)
        return best

    def get_assignment_explanation(self, task: Any, agent_type: str) -> str:
        """Why ``task`` went to ``agent_type``: up to five of the keywords it matched."""
        keys = agent_type
        if agent_type not in self.AGENT_KEYWORDS:
            # The pool's spelling ("frontend") explains with the assigner's keywords.
            keys = next((k for k, v in WORKER_TYPES.items() if v == agent_type), agent_type)
        matched = self._matches(self._content(task), keys)
        if not matched:
            return f"Assigned to {agent_type} (default assignment)"
        return f"Assigned to {agent_type} based on keywords: {', '.join(matched[:5])}"


_ASSIGNER_NAMES = {pool: assigner for assigner, pool in WORKER_TYPES.items()}


@functools.lru_cache(maxsize=256)
def _whole_word(keyword: str) -> re.Pattern[str]:
    """``keyword`` standing alone in lower-cased text, a plural ending allowed."""
    return re.compile(rf"(?<![a-z0-9]){re.escape(keyword)}(?:e?s)?(?![a-z0-9])")


_DEFAULT_ASSIGNER = SimpleAgentAssigner()


def assign_task_to_agent(task: Any) -> str:
    """Shortcut for ``SimpleAgentAssigner().assign_agent_type(task)``."""
    return _DEFAULT_ASSIGNER.assign_agent_type(task)


__all__ = [
    "DEFAULT_AGENT_TYPE",
    "WORKER_TYPES",
    "SimpleAgentAssigner",
    "assign_task_to_agent",
    "normalize_agent_type",
]
