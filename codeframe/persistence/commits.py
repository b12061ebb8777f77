"""The commits tasks made: one row per task commit, with the merge that integrated it."""

from __future__ import annotations

import json
from collections.abc import Sequence

from codeframe.core.models import utc_now
from codeframe.persistence.codec import Row, _int_in, _to_json
from codeframe.persistence.store import Store
from codeframe.redaction import clean_text


class CommitsMixin(Store):
    """Record and read the commits of tasks."""

    def record_commit(
        self,
        task_id: int,
        *,
        sha: str,
        branch: str,
        message: str,
        files: Sequence[str] = (),
        insertions: int = 0,
        deletions: int = 0,
        merge_sha: str | None = None,
        run_id: int | None = None,
    ) -> int:
        """Record a task's commit (and the merge commit that integrated it); return its id."""
        values = (
            task_id,
            run_id,
            str(sha),
            str(branch),
            merge_sha,
            clean_text(message),
            _to_json([str(f) for f in files]),
            _int_in(insertions, 0, None, "insertions"),
            _int_in(deletions, 0, None, "deletions"),
            utc_now(),
        )
        refs = (("task", "tasks", task_id), ("run", "runs", run_id))
        with self._write(*refs) as conn:
            cur = conn.execute(
                "INSERT INTO commits (task_id, run_id, sha, branch, merge_sha, message, files,"
                " insertions, deletions, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        return int(cur.lastrowid or 0)

    def get_commits(self, task_id: int) -> list[Row]:
        """A task's commits, oldest first (``files`` decoded)."""
        rows = self._all("SELECT * FROM commits WHERE task_id = ? ORDER BY id", (task_id,))
        out = []
        for row in rows:
            commit = dict(row)
            commit["files"] = json.loads(commit["files"])
            out.append(commit)
        return out

    def latest_commits(self, task_ids: Sequence[int]) -> dict[int, Row]:
        """The newest commit of each of these tasks that has one (``files`` decoded)."""
        if not task_ids:
            return {}
        marks = ", ".join("?" * len(task_ids))
        rows = self._all(
            f"SELECT * FROM commits WHERE id IN (SELECT MAX(id) FROM commits"
            f" WHERE task_id IN ({marks}) GROUP BY task_id)",
            list(task_ids),
        )
        latest = {}
        for row in rows:
            commit = dict(row)
            commit["files"] = json.loads(commit["files"])
            latest[int(commit["task_id"])] = commit
        return latest


__all__ = ["CommitsMixin"]
