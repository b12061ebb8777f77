"""The tally every fault test records its cases in (see :mod:`tests.faults.harness`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.harness import Tally


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """A tally named after the test; its module's ``CATEGORY`` names the row it counts in."""
    category = getattr(request.module, "CATEGORY", request.module.__name__)
    callspec = getattr(request.node, "callspec", None)
    seed = callspec.params.get("seed") if callspec is not None else None
    record = Tally(category, request.node.nodeid, seed)
    yield record
    record.abandon("the test raised before checking its cases (see its traceback)")
