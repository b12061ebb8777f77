"""The call ledger keeps every row, whatever text the call carried."""

from __future__ import annotations

import json

from codeframe.persistence.database import Database


def _record(db: Database, task_id: int, **text: object) -> int:
    fields: dict[str, object] = {
        "request": {"messages": [{"role": "user", "content": "hi"}]},
        "reply_text": "ok",
        "error": None,
        **text,
    }
    return db.record_llm_call(
        task_id=task_id,
        agent_id="backend-1",
        attempt=0,
        model="m",
        stop_reason="end_turn",
        input_tokens=1,
        output_tokens=2,
        latency_s=0.1,
        **fields,  # type: ignore[arg-type]
    )


def test_a_lone_surrogate_in_the_request_is_stored_not_dropped(
    db: Database, project_id: int
) -> None:
    task_id = db.create_task(project_id, "t")
    # What os.fsdecode gives for a file name holding the byte 0xff.
    path = "src/a\udcff.py"
    request = {"messages": [{"role": "user", "content": f"edit {path}"}], "system": path}
    call_id = _record(db, task_id, request=request, reply_text=f"changed {path}", error=path)
    (call,) = db.get_llm_calls(task_id)
    assert call["id"] == call_id
    # The request is JSON again on the way out: the path comes back exactly as it went in.
    assert call["request"] == request
    assert call["reply_text"] == "changed src/a\\udcff.py"
    assert call["error"] == "src/a\\udcff.py"
    assert db.conn is not None
    stored = db.conn.execute("SELECT request FROM llm_calls WHERE id = ?", (call_id,)).fetchone()
    assert json.loads(stored[0]) == request  # valid JSON, valid UTF-8 in the file


def test_ordinary_text_is_stored_as_given(db: Database, project_id: int) -> None:
    task_id = db.create_task(project_id, "t")
    request = {"messages": [{"role": "user", "content": "café ☕ 日本"}]}
    _record(db, task_id, request=request, reply_text="naïve ✓")
    (call,) = db.get_llm_calls(task_id)
    assert call["request"] == request and call["reply_text"] == "naïve ✓"
    assert db.conn is not None
    raw = db.conn.execute("SELECT request FROM llm_calls").fetchone()[0]
    assert "café ☕ 日本" in raw  # not escaped when it needs no escaping
