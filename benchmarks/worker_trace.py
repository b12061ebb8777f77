"""One worker task that fails, corrects itself and passes — the rows it leaves, and the
event-loop lag while a CPU-bound test suite runs in a subprocess.

    .venv/bin/python -m benchmarks.worker_trace

Real files, real pytest runs; only Claude is scripted.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.llm import ScriptedClient
from codeframe.persistence.database import Database
from codeframe.testing.test_runner import TestRunner

_CALC = "def add(a, b):\n    return a + b\n"
_BUGGY = _CALC + "\n\ndef multiply(a, b):\n    return a + b\n"
_FIXED = _CALC + "\n\ndef multiply(a, b):\n    return a * b\n"
_TESTS = (
    "from calc import multiply\n\n\ndef test_multiply():\n    assert multiply(3, 4) == 12\n\n\n"
    "def test_multiply_by_zero():\n    assert multiply(7, 0) == 0\n"
)
_BUSY = (
    "import time\n\n\ndef test_busy():\n    end = time.perf_counter() + 2\n"
    "    while time.perf_counter() < end:\n        sum(range(1000))\n"
)
_TICK_S = 0.005


def _reply(explanation: str, *files: tuple[str, str, str]) -> dict:
    return {
        "files": [{"path": p, "action": a, "content": c} for p, a, c in files],
        "explanation": explanation,
    }


def _show(table: str, row: dict, keys: tuple[str, ...]) -> None:
    print(f"{table:<20} " + ", ".join(f"{k}={row[k]!r}" for k in keys))


async def _trace(root: Path, db: Database) -> None:
    project_id = db.create_project("calc", workspace_path=str(root))
    task_id = db.create_task(project_id, "Add a multiply function")
    client = ScriptedClient([("multiply", [
        _reply("added multiply", ("calc.py", "modify", _BUGGY),
               ("tests/test_multiply.py", "create", _TESTS)),
        _reply("multiply used + instead of *", ("calc.py", "modify", _FIXED)),
    ])])  # fmt: skip
    worker = BackendWorkerAgent(
        project_id, db, None, project_root=root, client=client, agent_id="backend-1",
        test_runner=TestRunner(root, plugin_autoload=False),
    )  # fmt: skip
    result = await worker.execute_task(db.get_task(task_id))
    print(f"execute_task -> status={result['status']!r} files={result['files_modified']}")
    _show("tasks", db.get_task(task_id), ("status", "actual_tokens"))
    for run in db.get_test_results_by_task(task_id):
        _show("test_results", run, ("id", "attempt", "status", "passed", "failed"))
        for case in db.get_test_cases(run["id"]):
            if case["outcome"] != "passed":
                _show("  test_cases", case, ("node_id", "outcome"))
    for attempt in db.get_correction_attempts_by_task(task_id):
        _show("correction_attempts", attempt,
              ("attempt_number", "test_result_id", "fix_description"))  # fmt: skip
    for call in db.get_llm_calls(task_id=task_id):
        _show("llm_calls", call, ("attempt", "input_tokens", "output_tokens", "stop_reason"))


async def _loop_lag(root: Path) -> None:
    (root / "tests" / "test_busy.py").write_text(_BUSY)
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(_TICK_S)
            now = time.perf_counter()
            gaps.append(now - last - _TICK_S)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        result = await TestRunner(root, plugin_autoload=False).run_tests()
    finally:
        ticker.cancel()
    gaps.sort()
    print(
        f"loop lag while a 2 s CPU-bound suite ran ({result.status}, {len(gaps)} ticks): "
        f"worst {gaps[-1] * 1000:.1f} ms, p99 {gaps[int(len(gaps) * 0.99)] * 1000:.1f} ms, "
        f"median {gaps[len(gaps) // 2] * 1000:.2f} ms"
    )


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="codeframe-trace-") as name:
        root = Path(name) / "project"
        (root / "tests").mkdir(parents=True)
        (root / "calc.py").write_text(_CALC)
        (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
        with Database(Path(name) / "trace.db") as db:
            await _trace(root, db)
        await _loop_lag(root)


if __name__ == "__main__":
    asyncio.run(main())
