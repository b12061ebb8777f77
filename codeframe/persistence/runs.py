"""Who did the work: LLM calls, lead-agent runs, worker agents and task assignments."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from codeframe.core.models import utc_now
from codeframe.errors import CodeframeError, InvalidInputError, NotFoundError
from codeframe.persistence.codec import (
    _AGENT_STATUSES,
    Row,
    _choice,
    _Encoder,
    _int_in,
    _json_row,
    _opt_text,
    _scrub_request,
    _to_json,
)
from codeframe.persistence.store import _OPEN_RUNS, Store
from codeframe.redaction import redact

logger = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


_AGENT_UPDATES: dict[str, _Encoder] = {
    "status": lambda v: _choice(v, _AGENT_STATUSES, "agent status"),
    "current_task_id": lambda v: v,
    "tasks_completed": lambda v: _int_in(v, 0, None, "tasks_completed"),
    "retired_at": _opt_text,
    "run_id": lambda v: v,
}


class RunsMixin(Store):
    """Record LLM calls, claim and finish runs, track agents and task assignments."""

    # --- LLM calls --------------------------------------------------------------------

    def record_llm_call(
        self,
        *,
        task_id: int | None,
        agent_id: str | None,
        attempt: int,
        model: str | None,
        request: Mapping[str, Any],
        reply_text: str | None,
        stop_reason: str | None,
        input_tokens: int,
        output_tokens: int,
        latency_s: float,
        error: str | None = None,
        count_tokens: bool = False,
        secrets: Iterable[str | None] = (),
    ) -> int:
        """Record one Claude call. ``request`` ({system, messages, ...}) is stored as JSON
        without header or credential keys; any API key value — from the environment, or in
        ``secrets`` (e.g. a key passed in code) — is redacted from it, the reply and the error.

        With ``count_tokens`` the call's tokens are added to the task's ``actual_tokens`` in
        the same transaction (one commit per call keeps a worker's orchestration cheap).
        """
        values = (
            task_id,
            agent_id,
            _int_in(attempt, 0, None, "attempt"),
            model,
            _scrub_request(request, secrets),
            None if reply_text is None else redact(reply_text, secrets),
            stop_reason,
            _int_in(input_tokens or 0, 0, None, "input_tokens"),
            _int_in(output_tokens or 0, 0, None, "output_tokens"),
            float(latency_s or 0.0),
            None if error is None else redact(error, secrets),
            utc_now(),
        )
        with self._write(("task", "tasks", task_id)) as conn:
            cur = conn.execute(
                "INSERT INTO llm_calls (task_id, agent_id, attempt, model, request, reply_text,"
                " stop_reason, input_tokens, output_tokens, latency_s, error, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            tokens = values[7] + values[8]
            if count_tokens and task_id is not None and tokens:
                conn.execute(
                    "UPDATE tasks SET actual_tokens = COALESCE(actual_tokens, 0) + ? WHERE id = ?",
                    (tokens, task_id),
                )
        return int(cur.lastrowid or 0)

    def get_llm_calls(self, task_id: int | None = None, project_id: int | None = None) -> list[Row]:
        """Recorded calls (``request`` decoded), oldest first, filtered by task and/or project."""
        where: list[str] = []
        params: list[object] = []
        if task_id is not None:
            where.append("c.task_id = ?")
            params.append(task_id)
        if project_id is not None:
            where.append("t.project_id = ?")
            params.append(project_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._all(
            f"SELECT c.* FROM llm_calls c LEFT JOIN tasks t ON t.id = c.task_id{clause}"
            " ORDER BY c.id",
            params,
        )
        return [_json_row(row, "request") for row in rows]

    # --- runs -------------------------------------------------------------------------

    def _run_is_live(self, run_id: int, pid: int) -> bool:
        if not _pid_alive(pid):
            return False
        if pid == os.getpid():
            # Our own pid: alive only if this process still has the run open.
            return (self._key, run_id) in _OPEN_RUNS
        return True

    def start_run(self, project_id: int) -> int:
        """Claim the project for a lead-agent run; return the run id.

        A live run (not ended, its process alive, and — if that is this process — still
        open here) raises ``CodeframeError``; a dead one is ended with a note and taken
        over. The row is committed at once so other connections see the claim.
        """
        now = utc_now()
        with self._write(immediate=True) as conn:
            if (
                conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone()
                is None
            ):
                raise NotFoundError(f"no project with id {project_id!r}")
            stale = conn.execute(
                "SELECT id, pid FROM runs WHERE project_id = ? AND ended_at IS NULL ORDER BY id",
                (project_id,),
            ).fetchall()
            for row in stale:
                if self._run_is_live(row["id"], row["pid"]):
                    raise CodeframeError(f"a run is already in progress for project {project_id}")
                note = f"taken over at {now}: process {row['pid']} no longer runs it"
                conn.execute(
                    "UPDATE runs SET ended_at = ?, note = ? WHERE id = ?", (now, note, row["id"])
                )
                logger.warning("project %s: run %s %s", project_id, row["id"], note)
            cur = conn.execute(
                "INSERT INTO runs (project_id, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?)",
                (project_id, os.getpid(), now, now),
            )
            run_id = int(cur.lastrowid or 0)
        _OPEN_RUNS.add((self._key, run_id))
        self._my_runs.add(run_id)
        return run_id

    def heartbeat_run(self, run_id: int) -> None:
        """Stamp ``heartbeat_at`` so observers can tell a run is still moving."""
        with self._write() as conn:
            cur = conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (utc_now(), run_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"no run with id {run_id!r}")

    def finish_run(self, run_id: int, summary: Mapping[str, Any] | None = None) -> None:
        """End a run, storing its summary as JSON; the project is free for the next run."""
        now = utc_now()
        encoded = None if summary is None else _to_json(dict(summary))
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET ended_at = ?, heartbeat_at = ?, summary = ? WHERE id = ?",
                (now, now, encoded, run_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no run with id {run_id!r}")
        _OPEN_RUNS.discard((self._key, run_id))
        self._my_runs.discard(run_id)

    def get_runs(self, project_id: int) -> list[Row]:
        """A project's runs, oldest first, ``summary`` decoded."""
        rows = self._all("SELECT * FROM runs WHERE project_id = ? ORDER BY id", (project_id,))
        return [_json_row(row, "summary") for row in rows]

    # --- agents -----------------------------------------------------------------------

    def record_agent(
        self,
        project_id: int,
        agent_id: str,
        agent_type: str,
        *,
        run_id: int | None = None,
        status: str = "idle",
    ) -> int:
        """Record a worker agent (``agent_id`` like "backend-1"); return the row id."""
        if not agent_id or not agent_type:
            raise InvalidInputError("an agent needs an agent_id and an agent_type")
        values = (
            str(agent_id),
            project_id,
            run_id,
            str(agent_type),
            _choice(status, _AGENT_STATUSES, "agent status"),
            utc_now(),
        )
        refs = (("project", "projects", project_id), ("run", "runs", run_id))
        with self._write(*refs) as conn:
            cur = conn.execute(
                "INSERT INTO agents (agent_id, project_id, run_id, agent_type, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
        return int(cur.lastrowid or 0)

    def update_agent(
        self,
        project_id: int,
        agent_id: str,
        updates: Mapping[str, Any] | None = None,
        *,
        run_id: int | None = None,
        **fields: Any,
    ) -> int:
        """Update the newest record of ``agent_id`` in the project (in ``run_id`` if given).

        Columns: status (idle/busy/blocked/retired), current_task_id, tasks_completed,
        retired_at; ``status="retired"`` stamps ``retired_at``. Returns rows affected.
        """
        data = {**(updates or {}), **fields}
        columns, params = self._assignments(data, _AGENT_UPDATES, "agent")
        if data.get("status") == "retired" and "retired_at" not in data:
            columns.append("retired_at = ?")
            params.append(utc_now())
        run_clause = "" if run_id is None else " AND run_id = ?"
        target = (project_id, agent_id) if run_id is None else (project_id, agent_id, run_id)
        newest = (
            "SELECT id FROM agents WHERE project_id = ? AND agent_id = ?"
            f"{run_clause} ORDER BY id DESC LIMIT 1"
        )
        missing = NotFoundError(f"no agent {agent_id!r} recorded for project {project_id}")
        if not columns:
            if self._one(newest, target) is None:
                raise missing
            return 0
        refs = (("task", "tasks", data.get("current_task_id")), ("run", "runs", data.get("run_id")))
        with self._write(*refs) as conn:
            # One statement: the pool updates an agent at every task it runs.
            cur = conn.execute(
                f"UPDATE agents SET {', '.join(columns)} WHERE id = ({newest})", (*params, *target)
            )
            if cur.rowcount == 0:
                raise missing
        return cur.rowcount

    def get_agents(self, project_id: int, run_id: int | None = None) -> list[Row]:
        """A project's agent records (of one run if given), oldest first."""
        if run_id is None:
            rows = self._all("SELECT * FROM agents WHERE project_id = ? ORDER BY id", (project_id,))
        else:
            rows = self._all(
                "SELECT * FROM agents WHERE project_id = ? AND run_id = ? ORDER BY id",
                (project_id, run_id),
            )
        return [dict(row) for row in rows]

    def record_assignment(self, task_id: int, agent_id: str, run_id: int | None = None) -> int:
        """Append to a task's assignment history; ``tasks.assigned_to`` is left to the caller."""
        refs = (("task", "tasks", task_id), ("run", "runs", run_id))
        with self._write(*refs) as conn:
            cur = conn.execute(
                "INSERT INTO task_assignments (task_id, agent_id, run_id, assigned_at)"
                " VALUES (?, ?, ?, ?)",
                (task_id, str(agent_id), run_id, utc_now()),
            )
        return int(cur.lastrowid or 0)

    def get_task_assignments(self, task_id: int) -> list[Row]:
        """A task's assignment history, oldest first."""
        rows = self._all("SELECT * FROM task_assignments WHERE task_id = ? ORDER BY id", (task_id,))
        return [dict(row) for row in rows]
