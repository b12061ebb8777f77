"""The asyncio locks that keep our own git commands from tripping over each other.

Two per repository, shared by every manager on the same event loop:

* the integration lock: one integration at a time, so each merge starts from the branch
  the previous one left;
* the worktree-admin lock, a shared/exclusive lock. ``git worktree add``, ``remove`` and
  ``prune`` create or delete folders in ``.git/worktrees`` that other commands read
  (``checkout`` and ``worktree list`` look at every worktree's HEAD): git reads a half-made
  one as an error ("failed to read .git/worktrees/slot-3/commondir"). Those three take the
  lock exclusively, the readers shared.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path


class SharedExclusiveLock:
    """Many shared holders or one exclusive holder; a waiting exclusive holder goes first."""

    def __init__(self) -> None:
        self._condition = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._exclusive_waiting = 0

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._condition:
            await self._condition.wait_for(
                lambda: not self._exclusive and not self._exclusive_waiting
            )
            self._shared += 1
        try:
            yield
        finally:
            await self._release(shared=True)

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._condition:
            self._exclusive_waiting += 1
            try:
                await self._condition.wait_for(lambda: not self._exclusive and not self._shared)
            finally:
                self._exclusive_waiting -= 1
                # A cancelled exclusive waiter may have been holding shared ones back.
                self._condition.notify_all()
            self._exclusive = True
        try:
            yield
        finally:
            await self._release(shared=False)

    async def _release(self, *, shared: bool) -> None:
        # Shielded: a cancel arriving here must not leave the lock held for ever.
        await asyncio.shield(self._do_release(shared=shared))

    async def _do_release(self, *, shared: bool) -> None:
        async with self._condition:
            if shared:
                self._shared -= 1
            else:
                self._exclusive = False
            self._condition.notify_all()


_integration_locks: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[Path, asyncio.Lock]
] = weakref.WeakKeyDictionary()
_admin_locks: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[Path, SharedExclusiveLock]
] = weakref.WeakKeyDictionary()


def integration_lock(common_dir: Path) -> asyncio.Lock:
    """The lock that serialises integrations into the repository at ``common_dir``."""
    locks = _integration_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(common_dir, asyncio.Lock())


def admin_lock(common_dir: Path) -> SharedExclusiveLock:
    """The lock between adding/removing worktrees and commands that read all worktrees."""
    locks = _admin_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(common_dir, SharedExclusiveLock())


__all__ = ["SharedExclusiveLock", "admin_lock", "integration_lock"]
