"""A loopback HTTP server that answers like the Messages API, for driving the real SDK offline."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

HANG = "hang"  # a scripted step that never answers


def message_body(payload: dict[str, Any], *, usage: tuple[int, int] = (11, 7)) -> dict[str, Any]:
    """A Messages API reply whose only block is a submit_changes tool call."""
    return {
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": "claude-stub",
        "content": [
            {"type": "tool_use", "id": "toolu_stub", "name": "submit_changes", "input": payload}
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


@dataclass
class StubAnthropic:
    """Serves scripted ``(status, body, headers)`` steps in order; records each request."""

    steps: list[Any]
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        current = asyncio.current_task()
        assert current is not None
        self.handlers.add(current)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(
                    {"line": lines[0], "headers": headers, "json": json.loads(body or b"{}")}
                )
                step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
                if step == HANG:
                    await asyncio.sleep(3600)
                status, payload, extra = step
                data = json.dumps(payload).encode()
                header_lines = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                writer.write(
                    f"HTTP/1.1 {status} Stub\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n{header_lines}\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass  # the client closed the connection: the normal end of a keep-alive session
        finally:
            writer.close()
            self.handlers.discard(current)


@contextlib.asynccontextmanager
async def stub_anthropic(steps: list[Any]) -> AsyncIterator[StubAnthropic]:
    stub = StubAnthropic(list(steps))
    server = await asyncio.start_server(stub._handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stub.url = f"http://127.0.0.1:{port}"
    try:
        yield stub
    finally:
        server.close()
        # Handlers parked in HANG steps would outlive the server; end them first.
        for handler in list(stub.handlers):
            handler.cancel()
        await asyncio.gather(*stub.handlers, return_exceptions=True)
        await server.wait_closed()
