"""The model-call ledger: every Claude request and reply, with its tokens and its cost.

Requests are stored without headers or credentials and with every known key value masked;
a call's tokens and dollars can be added to its task in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from codeframe.core.models import utc_now
from codeframe.persistence.codec import (
    Row,
    _int_in,
    _json_row,
    _opt_storable,
    _scrub_request,
)
from codeframe.persistence.store import Store
from codeframe.redaction import redact


def _count_or_none(value: object) -> int | None:
    """A token count as the ledger stores it: a non-negative int, else NULL."""
    if type(value) is int and value >= 0:
        return value
    return None


def _money_or_none(value: object) -> float | None:
    """A cost as the ledger stores it: a non-negative real number of dollars, else NULL."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


class LlmCallsMixin(Store):
    """Record Claude calls and read them back."""

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
        input_tokens: int | None,
        output_tokens: int | None,
        latency_s: float,
        error: str | None = None,
        count_tokens: bool = False,
        secrets: Iterable[str | None] = (),
        cache_write_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cost_usd: float | None = None,
    ) -> int:
        """Record one Claude call. ``request`` ({system, messages, ...}) is stored as JSON
        without header or credential keys; any API key value — from the environment, or in
        ``secrets`` (e.g. a key passed in code) — is redacted from it, the reply and the error.
        Text that UTF-8 cannot hold (a lone surrogate from an odd file name) is escaped, never
        a reason to lose the row.

        Token counts and the cost are stored only when they are real numbers; anything else
        (a stand-in client's mock usage, say) is stored as NULL, never an error. With
        ``count_tokens`` the call's tokens (cache reads and writes included) and its cost are
        added to the task's ``actual_tokens`` and ``cost_usd`` in the same transaction.
        """
        values = (
            task_id,
            _opt_storable(agent_id),
            _int_in(attempt, 0, None, "attempt"),
            _opt_storable(model),
            _scrub_request(request, secrets),
            None if reply_text is None else _opt_storable(redact(reply_text, secrets)),
            _opt_storable(stop_reason),
            _count_or_none(input_tokens),
            _count_or_none(output_tokens),
            float(latency_s or 0.0),
            None if error is None else _opt_storable(redact(error, secrets)),
            utc_now(),
            _count_or_none(cache_write_tokens),
            _count_or_none(cache_read_tokens),
            _money_or_none(cost_usd),
        )
        with self._write(("task", "tasks", task_id)) as conn:
            cur = conn.execute(
                "INSERT INTO llm_calls (task_id, agent_id, attempt, model, request, reply_text,"
                " stop_reason, input_tokens, output_tokens, latency_s, error, created_at,"
                " cache_write_tokens, cache_read_tokens, cost_usd)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            tokens = sum(n for n in (values[7], values[8], values[12], values[13]) if n)
            cost = values[14] or 0.0
            if count_tokens and task_id is not None and (tokens or cost):
                conn.execute(
                    "UPDATE tasks SET actual_tokens = COALESCE(actual_tokens, 0) + ?,"
                    " cost_usd = cost_usd + ? WHERE id = ?",
                    (tokens, cost, task_id),
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


__all__ = ["LlmCallsMixin"]
