"""The backend worker: Python code anywhere in the project, checked by the whole suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeframe.agents.seams import WorkerStore
from codeframe.agents.worker_agent import WorkerAgent
from codeframe.indexing.codebase_index import CodebaseIndex
from codeframe.ui.websocket_broadcasts import BroadcastTarget


class BackendWorkerAgent(WorkerAgent):
    """Writes server-side and library code; runs the project's whole test suite."""

    worker_type = "backend"

    def __init__(
        self,
        project_id: int,
        db: WorkerStore,
        codebase_index: CodebaseIndex | None = None,
        provider: str = "claude",
        api_key: str | None = None,
        project_root: Path | str = Path("."),
        ws_manager: BroadcastTarget | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            project_id, db, codebase_index, api_key, project_root, ws_manager, **options
        )
        self.provider = provider


__all__ = ["BackendWorkerAgent"]
