"""What the pool's default factory hands each worker it builds, and the factory's type.

The lead agent builds one frozen :class:`WorkerOptions` per run (its code index and its
lifecycle included), so every worker of a run shares the same dependencies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from codeframe.agents.budget import RunBudget
from codeframe.agents.lifecycle import TaskLifecycle
from codeframe.agents.seams import SuiteRunner, WorkerStore
from codeframe.indexing.codebase_index import CodebaseIndex
from codeframe.llm import DEFAULT_MAX_TOKENS
from codeframe.llm.messages import ClaudeClient
from codeframe.llm.pricing import PriceTable
from codeframe.ui.websocket_broadcasts import BroadcastTarget


class Worker(Protocol):
    """What the pool and the lead need of a worker: run a task, close when retired."""

    async def execute_task(self, task: Mapping[str, Any]) -> Mapping[str, Any]: ...


WorkerFactory = Callable[[str, str], Worker]


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Everything the default factory hands each worker it builds; one set per run.

    ``given`` names the options set on purpose: only those reach a worker's constructor,
    so a worker class keeps its own defaults for the rest (and a stand-in class patched in
    by a test sees exactly what it was given).
    """

    db: WorkerStore
    api_key: str | None = None
    ws_manager: BroadcastTarget | None = None
    client: ClaudeClient | None = None
    model: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    test_runner: SuiteRunner | None = None
    project_root: Path | str = Path(".")
    timeout: float = 300.0
    codebase_index: CodebaseIndex | None = None
    frontend_dir: str = "frontend"
    provider: str = "claude"
    max_file_bytes: int = 1_000_000
    lifecycle: TaskLifecycle | None = None
    task_timeout: float | None = None
    prices: PriceTable | None = None
    budget: RunBudget | None = None
    given: frozenset[str] = frozenset()

    @classmethod
    def of(cls, db: WorkerStore, **options: Any) -> WorkerOptions:
        """Options from keywords (an unknown one is a ``TypeError``), remembering which."""
        return cls(db, **options, given=frozenset(options))

    def with_run(self, **options: Any) -> WorkerOptions:
        """These options plus a run's own (its code index, its lifecycle)."""
        return replace(self, **options, given=self.given | frozenset(options))

    def pick(self, *names: str) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names if name in self.given}


#: Options every worker class takes; ``provider`` is the backend's, ``frontend_dir`` the
#: frontend's.
COMMON_OPTIONS = (
    "client", "model", "max_tokens", "test_runner", "project_root", "timeout",
    "codebase_index", "max_file_bytes", "lifecycle", "task_timeout", "prices", "budget",
)  # fmt: skip


__all__ = ["COMMON_OPTIONS", "Worker", "WorkerFactory", "WorkerOptions"]
