"""The real anthropic SDK against a loopback stub: retries, a hanging server, a bad key."""

from __future__ import annotations

import time

import anthropic

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.core.models import TaskStatus
from tests.support.stub_anthropic import HANG, error_body, message_body, stub_anthropic

from .conftest import MULTIPLY_OK, MULTIPLY_TESTS, changes, tree

KEY = "sk-ant-test-not-a-real-key-1234567890"
FAST_RETRY = {"retry-after-ms": "5"}  # the SDK honours it, so retries take milliseconds


def sdk_worker(db, project_id, project, runner, url, *, timeout=30.0, max_retries=2):
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=url, max_retries=max_retries)
    return BackendWorkerAgent(
        project_id,
        db,
        None,
        project_root=project,
        client=client,
        test_runner=runner,
        timeout=timeout,
        api_key=KEY,
    ), client


def reply():
    return message_body(
        changes(
            ("calc.py", "modify", MULTIPLY_OK), ("tests/test_multiply.py", "create", MULTIPLY_TESTS)
        )
    )


async def test_overload_and_rate_limit_are_retried_by_the_sdk(db, project_id, project, runner):
    steps = [
        (529, error_body("overloaded_error", "Overloaded"), FAST_RETRY),
        (429, error_body("rate_limit_error", "slow down"), FAST_RETRY),
        (200, reply(), {}),
    ]
    async with stub_anthropic(steps) as stub:
        worker, client = sdk_worker(db, project_id, project, runner, stub.url)
        task_id = db.create_task(project_id, "Add a multiply function")
        result = await worker.execute_task(db.get_task(task_id))
        await client.close()

    assert result["status"] == "completed", result
    assert len(stub.requests) == 3
    headers = stub.requests[0]["headers"]
    # The SDK sent the key (2.x as a bearer token); we never store or show it.
    assert KEY in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    sent = stub.requests[-1]["json"]
    assert sent["tool_choice"] == {"type": "tool", "name": "submit_changes"}
    assert "Worker type: backend" in sent["system"]
    assert db.get_task(task_id)["actual_tokens"] == 18


async def test_exhausted_retries_fail_the_task_clearly(db, project_id, project, runner):
    steps = [(500, error_body("api_error", "boom"), FAST_RETRY)]
    async with stub_anthropic(steps) as stub:
        worker, client = sdk_worker(db, project_id, project, runner, stub.url, max_retries=1)
        task_id = db.create_task(project_id, "Add a multiply function")
        result = await worker.execute_task(db.get_task(task_id))
        await client.close()
    assert result["status"] == "failed"
    assert "HTTP 500 after the SDK's retries" in result["error"]
    assert result["retryable"] is True
    assert len(stub.requests) == 2


async def test_hanging_server_hits_the_worker_timeout(db, project_id, project, runner):
    before = tree(project)
    async with stub_anthropic([HANG]) as stub:
        worker, client = sdk_worker(db, project_id, project, runner, stub.url, timeout=0.5)
        task_id = db.create_task(project_id, "Add a multiply function")
        started = time.monotonic()
        result = await worker.execute_task(db.get_task(task_id))
        elapsed = time.monotonic() - started
        await client.close()
    assert result["status"] == "failed"
    assert "did not answer within 0.5 s" in result["error"]
    assert elapsed < 5
    assert tree(project) == before
    assert db.get_task(task_id)["status"] == TaskStatus.FAILED


async def test_bad_key_fails_fast_and_never_shows_the_key(db, project_id, project, runner, caplog):
    steps = [(401, error_body("authentication_error", "invalid x-api-key"), {})]
    async with stub_anthropic(steps) as stub:
        worker, client = sdk_worker(db, project_id, project, runner, stub.url)
        task_id = db.create_task(project_id, "Add a multiply function")
        started = time.monotonic()
        result = await worker.execute_task(db.get_task(task_id))
        elapsed = time.monotonic() - started
        await client.close()
    assert result["status"] == "failed"
    assert result["retryable"] is False
    assert result["error"].startswith("AuthenticationError: ")
    assert "ANTHROPIC_API_KEY" in result["error"]
    assert len(stub.requests) == 1  # a 401 is not retried
    assert elapsed < 5
    # The key appears nowhere we write: result, database, logs.
    assert KEY not in repr(result)
    assert KEY not in caplog.text
    dump = "\n".join(db.conn.iterdump())
    assert KEY not in dump
