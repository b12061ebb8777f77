"""run_sync: the synchronous face, for scripts and for cells that cannot ``await``.

A notebook cell already runs inside the kernel's event loop, where ``asyncio.run`` refuses
to start. There we make that loop re-entrant with ``nest_asyncio`` — lazily, on first need,
never at import — because it swaps asyncio's C tasks for the Python ones process-wide.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from codeframe.errors import CodeframeError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long an interrupted nested run gets to finish its clean-up (cancelled statuses,
#: killed test processes) before ``run_sync`` gives up waiting.
CLEANUP_TIMEOUT = 10.0

_nest_applied = False  # set once nest_asyncio has patched a loop of ours


def _make_reentrant(loop: asyncio.AbstractEventLoop) -> None:
    """Apply nest_asyncio to ``loop`` unless it (or its class) is already patched."""
    global _nest_applied
    if getattr(loop, "_nest_patched", False):  # nest_asyncio (or ipykernel's fork) did it
        return
    import nest_asyncio  # imported here: importing it is harmless, applying it is not

    try:
        nest_asyncio.apply(loop)
    except ValueError as exc:  # e.g. uvloop, which nest_asyncio cannot patch
        raise CodeframeError(
            f"run_sync cannot run inside a {type(loop).__name__} event loop; "
            "use top-level `await` instead"
        ) from exc
    _nest_applied = True
    logger.info("applied nest_asyncio so run_sync can run inside the running event loop")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion and return its result, from synchronous code.

    With no event loop running this is ``asyncio.run(coro)``. Inside a running loop (a
    notebook cell) it applies ``nest_asyncio`` once and runs the coroutine on that loop.
    In a notebook, top-level ``await coro`` remains the recommended way: it needs no
    patching and keeps the kernel responsive. An interrupt cancels the run and waits (up
    to :data:`CLEANUP_TIMEOUT` seconds) for its clean-up before re-raising.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    try:
        _make_reentrant(loop)
    except BaseException:
        coro.close()  # never started: close it so it does not warn "never awaited"
        raise
    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    finally:
        if not task.done():
            # Interrupted (e.g. KeyboardInterrupt): let the run mark its tasks cancelled
            # and kill its test processes before the interrupt goes on.
            task.cancel()
            loop.run_until_complete(asyncio.wait({task}, timeout=CLEANUP_TIMEOUT))


__all__ = ["CLEANUP_TIMEOUT", "run_sync"]
