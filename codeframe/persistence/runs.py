"""Who did the work: lead-agent runs (claimed, beating, finished), worker agents, assignments."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codeframe.core.models import utc_now
from codeframe.errors import InvalidInputError, NotFoundError, RunInProgressError
from codeframe.persistence.codec import (
    _AGENT_STATUSES,
    Row,
    _choice,
    _Encoder,
    _folder_key,
    _int_in,
    _json_row,
    _opt_text,
    _to_json,
)
from codeframe.persistence.store import _OPEN_RUNS, Store

logger = logging.getLogger(__name__)

#: An open run whose last heartbeat is older than this is dead, even if a process with its
#: pid is alive: pids are reused (after a reboot, in a container's fresh pid namespace, on a
#: busy machine), and a run that has not written for this long is not moving. The lead
#: writes a heartbeat every 5 s; 120 s is 24 missed beats — far past any stall of a live
#: run (a beat that meets a locked database waits at most the busy timeout and is retried
#: 5 s later; the loop is kept under 20 ms per step) — so a live run is never taken over,
#: while a project held by a reused pid frees itself within two minutes, no human needed.
#: Taking over a live run would let two runs write the same tasks; waiting costs minutes.
STALE_RUN_AFTER_S = 120.0


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


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _age_s(stamp: object, now: datetime) -> float | None:
    """Seconds since an ISO-8601 UTC stamp; ``None`` if it cannot be read."""
    if not isinstance(stamp, str):
        return None
    try:
        then = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return (now - then).total_seconds()


_AGENT_UPDATES: dict[str, _Encoder] = {
    "status": lambda v: _choice(v, _AGENT_STATUSES, "agent status"),
    "current_task_id": lambda v: v,
    "tasks_completed": lambda v: _int_in(v, 0, None, "tasks_completed"),
    "retired_at": _opt_text,
    "run_id": lambda v: v,
}


class RunsMixin(Store):
    """Claim and finish runs, track agents and task assignments."""

    # --- runs -------------------------------------------------------------------------

    def _run_is_live(self, run_id: int, pid: int, heartbeat_age: float | None) -> bool:
        if pid == os.getpid():
            # Our own pid: this process knows for certain whether it still has the run open.
            return (self._key, run_id) in _OPEN_RUNS
        if not _pid_alive(pid):
            return False
        # The pid may now belong to an unrelated process: a stale heartbeat wins over it.
        return heartbeat_age is None or heartbeat_age <= STALE_RUN_AFTER_S

    def start_run(self, project_id: int, *, workspace_path: str | Path | None = None) -> int:
        """Claim the project, and the folder it works in, for a lead-agent run; return its id.

        ``workspace_path`` is the folder the run works in (default: the project's). An open
        run of this project, or of another project in the same folder (symlinks resolved),
        raises ``RunInProgressError`` while it is live: its process exists and, if that is
        not this process, its heartbeat is under ``STALE_RUN_AFTER_S`` old. A dead one is
        ended with a note and taken over. The row is committed at once so other
        connections see the claim.
        """
        now = utc_now()
        clock = datetime.now(UTC)
        with self._write(immediate=True) as conn:
            project = conn.execute(
                "SELECT workspace_path FROM projects WHERE id = ?", (project_id,)
            ).fetchone()
            if project is None:
                raise NotFoundError(f"no project with id {project_id!r}")
            folder = _folder_key(
                project["workspace_path"] if workspace_path is None else workspace_path
            )
            for row in self._open_runs_in_the_way(conn, project_id, folder):
                age = _age_s(row["heartbeat_at"] or row["started_at"], clock)
                if self._run_is_live(row["id"], row["pid"], age):
                    raise self._in_progress(row, project_id, folder, age)
                note = f"taken over at {now}: process {row['pid']} no longer runs it"
                if age is not None and age > STALE_RUN_AFTER_S:
                    note += f" (no heartbeat for {age:.0f} s)"
                conn.execute(
                    "UPDATE runs SET ended_at = ?, note = ? WHERE id = ?", (now, note, row["id"])
                )
                logger.warning("project %s: run %s %s", row["project_id"], row["id"], note)
            cur = conn.execute(
                "INSERT INTO runs (project_id, pid, started_at, heartbeat_at, workspace)"
                " VALUES (?, ?, ?, ?, ?)",
                (project_id, os.getpid(), now, now, folder),
            )
            run_id = int(cur.lastrowid or 0)
        _OPEN_RUNS.add((self._key, run_id))
        self._my_runs.add(run_id)
        return run_id

    @staticmethod
    def _open_runs_in_the_way(
        conn: sqlite3.Connection, project_id: int, folder: str | None
    ) -> list[sqlite3.Row]:
        """Open runs of this project, and of other projects working in ``folder``."""
        rows = conn.execute(
            "SELECT r.*, p.name AS project_name, p.workspace_path AS project_folder"
            " FROM runs r JOIN projects p ON p.id = r.project_id"
            " WHERE r.ended_at IS NULL AND (r.project_id = ? OR r.workspace = ?"
            " OR r.workspace IS NULL) ORDER BY r.id",
            (project_id, folder),
        ).fetchall()
        in_the_way = []
        for row in rows:
            if row["project_id"] == project_id:
                in_the_way.append(row)
            elif folder is not None:
                # Runs from before runs.workspace existed: their project's folder stands in.
                theirs = row["workspace"] or _folder_key(row["project_folder"])
                if theirs == folder:
                    in_the_way.append(row)
        return in_the_way

    def _in_progress(
        self, row: sqlite3.Row, project_id: int, folder: str | None, age: float | None
    ) -> RunInProgressError:
        pid, run_id, holder = row["pid"], row["id"], row["project_id"]
        if pid == os.getpid():
            where = f"this process ({pid})"
            how = f"let it finish or stop it; or end it with db.finish_run({run_id})"
        else:
            where = f"process {pid}"
            how = (
                f"stop that run; if process {pid} is not a codeframe run (its pid was reused), "
                f"end it with db.finish_run({run_id}), or it is taken over once its heartbeat "
                f"is {STALE_RUN_AFTER_S:.0f} s old"
            )
        beat = "no readable heartbeat" if age is None else f"last heartbeat {max(age, 0):.0f} s ago"
        if holder == project_id:
            message = f"a run is already in progress for project {project_id}"
        else:
            message = (
                f"a run is already in progress for project {holder} ({row['project_name']!r}) "
                f"in folder {folder}, which project {project_id} also uses; two projects "
                "cannot run in one folder at once"
            )
        return RunInProgressError(
            f"{message}: run {run_id} held by {where}, {beat}. To take over: {how}",
            project_id=holder,
            run_id=run_id,
            pid=pid,
        )

    def ensure_no_live_run(self, project_id: int) -> None:
        """Raise ``RunInProgressError`` while a run of the project is live, here or in another
        process (the test ``start_run`` makes, without claiming anything)."""
        clock = datetime.now(UTC)
        try:
            rows = self._open_runs_in_the_way(self._db(), project_id, None)
        except sqlite3.OperationalError as exc:
            raise self._translated_read(exc) from exc
        for row in rows:
            age = _age_s(row["heartbeat_at"] or row["started_at"], clock)
            if self._run_is_live(row["id"], row["pid"], age):
                raise self._in_progress(row, project_id, None, age)

    def heartbeat_run(self, run_id: int) -> None:
        """Stamp ``heartbeat_at`` so observers can tell a run is still moving."""
        with self._write() as conn:
            cur = conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (utc_now(), run_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"no run with id {run_id!r}")

    def finish_run(self, run_id: int, summary: Mapping[str, Any] | None = None) -> None:
        """End a run, storing its summary as JSON; the project is free for the next run.

        The in-process claim is released even if the write fails (a full disk, a lock): the
        row then stays open with this pid, which the next ``start_run`` here takes over
        and other processes take over once its heartbeat is stale.
        """
        now = utc_now()
        try:
            encoded = None if summary is None else _to_json(dict(summary))
            with self._write() as conn:
                cur = conn.execute(
                    "UPDATE runs SET ended_at = ?, heartbeat_at = ?, summary = ? WHERE id = ?",
                    (now, now, encoded, run_id),
                )
                if cur.rowcount == 0:
                    raise NotFoundError(f"no run with id {run_id!r}")
        finally:
            _OPEN_RUNS.discard((self._key, run_id))
            self._my_runs.discard(run_id)

    def runs_claimed_here(self, project_id: int) -> list[int]:
        """Runs of the project this ``Database`` started and has not finished, oldest first."""
        if not self._my_runs:
            return []
        marks = ", ".join("?" * len(self._my_runs))
        rows = self._all(
            f"SELECT id FROM runs WHERE project_id = ? AND ended_at IS NULL AND id IN ({marks})"
            " ORDER BY id",
            (project_id, *sorted(self._my_runs)),
        )
        return [int(row[0]) for row in rows]

    def dead_run_span(self, project_id: int, *, before: int) -> tuple[float, float] | None:
        """When a run this one took over started and last showed life (epoch seconds).

        A lock file that run's git left was made between the two; ``None`` when the run
        before ``before`` ended normally (or there was none).
        """
        row = self._one(
            "SELECT heartbeat_at, started_at, note FROM runs WHERE project_id = ? AND id < ?"
            " ORDER BY id DESC LIMIT 1",
            (project_id, before),
        )
        if row is None or "taken over" not in (row["note"] or ""):
            return None
        started = _epoch(row["started_at"])
        return started, _epoch(row["heartbeat_at"]) if row["heartbeat_at"] else started

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
