"""Fixtures of the core tests."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SHM = "/dev/shm"


@pytest.fixture
def fault_dir(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder for the many-trial fault tests, on tmpfs where there is one.

    Renames, links and locks behave as on disk, and every fsync is still made (and can be
    faulted), but costs nothing: the trials then take the same time on a busy disk.
    """
    if not (os.path.isdir(SHM) and os.access(SHM, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=SHM, prefix="codeframe-faults-") as folder:
        yield Path(folder)
