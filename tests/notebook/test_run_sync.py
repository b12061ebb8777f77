"""run_sync: asyncio.run without a loop; nest_asyncio, once and only then, inside one."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest

from codeframe.notebook.sync import run_sync


async def add(a: int, b: int) -> int:
    await asyncio.sleep(0.001)
    return a + b


async def explode() -> None:
    await asyncio.sleep(0)
    raise LookupError("no such thing")


def test_without_a_running_loop_it_is_asyncio_run():
    assert run_sync(add(2, 3)) == 5
    with pytest.raises(LookupError, match="no such thing"):
        run_sync(explode())
    # Nothing was patched: nest_asyncio is only for a loop that is already running.
    assert asyncio.run is asyncio.runners.run
    assert not hasattr(asyncio, "_nest_patched")
    assert asyncio.Task is not asyncio.tasks._PyTask


# nest_asyncio patches asyncio for the whole process (pure-Python tasks, a new loop class
# method set), so the nested case runs in a child interpreter: this test process, and the
# tests after it, keep an unpatched asyncio.
NESTED = textwrap.dedent("""
    import asyncio, json
    import nest_asyncio
    import codeframe.notebook.sync as sync

    applied = []
    real_apply = nest_asyncio.apply
    nest_asyncio.apply = lambda loop=None: (applied.append(1), real_apply(loop))[1]
    imported_patched = hasattr(asyncio, "_nest_patched")

    async def add(a, b):
        await asyncio.sleep(0.001)
        return a + b

    async def slow(log):
        try:
            await asyncio.sleep(30)
        finally:
            log.append("cleaned up")

    async def cell():
        # A notebook cell: the loop is running and the code cannot await.
        results = [sync.run_sync(add(1, 2)), sync.run_sync(add(3, 4))]
        log = []
        asyncio.get_running_loop().call_later(0.05, lambda: (_ for _ in ()).throw(
            KeyboardInterrupt()))
        try:
            sync.run_sync(slow(log))
        except KeyboardInterrupt:
            log.append("interrupted")
        return {"results": results, "applied": len(applied),
                "patched": hasattr(asyncio, "_nest_patched"),
                "imported_patched": imported_patched, "log": log}

    print(json.dumps(asyncio.run(cell())))
""")


async def test_inside_a_running_loop_it_nests_once(tmp_path: Path):
    script = tmp_path / "nested.py"
    script.write_text(NESTED)
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(script), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            out, err = await child.communicate()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, err.decode()
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["results"] == [3, 7]
    assert report["applied"] == 1  # two nested calls, one patch
    assert report["patched"] is True  # nest_asyncio's own mark on asyncio
    assert report["imported_patched"] is False  # importing codeframe patches nothing
    # An interrupt mid-run cancels the coroutine and lets its clean-up finish first.
    assert report["log"] == ["cleaned up", "interrupted"]
