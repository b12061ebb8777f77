"""The long run's page: report lines summed per category, failures listed with their seeds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.faults import __main__ as driver
from tests.faults import known
from tests.faults.__main__ import CATEGORIES, render, tally_rows
from tests.faults.harness import Tally
from tests.faults.known import KnownFault

#: A fault as the suite would list one, for the page's known-faults part.
SAMPLE = KnownFault(
    name="key in a refused correction reply",
    reason="a refused correction reply that quotes the key is stored unredacted",
    case=re.compile(r"^the key in prose"),
    problem=re.compile(r"^the key is stored"),
    test="tests/faults/test_x.py::test_key",
)


@pytest.fixture(autouse=True)
def one_known_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (known, driver):
        monkeypatch.setattr(module, "KNOWN_FAULTS", (SAMPLE,))


META: dict[str, Any] = {
    "command": "python -m tests.faults --trials 3",
    "date": "2026-12-03 12:00 UTC",
    "machine": {"CPU": "test", "cores": "2"},
    "load_start": "0.10 / 0.20 / 0.30",
    "load_end": "0.40 / 0.50 / 0.60",
    "minutes": 1.5,
    "exit": 1,
    "trials": 3,
}


def line(category: str, seed: int, tried: int, failed: int, known: int) -> dict[str, Any]:
    return {
        "category": category,
        "test": f"tests/faults/test_x.py::test_y[seed{seed}]",
        "seed": seed,
        "tried": tried,
        "held": tried - failed - known,
        "known": [{"case": "c", "fault": SAMPLE.name}] * known,
        "notes": {"kills that left a group half written": 1},
        "seconds": 30.0,
        "failed": [{"case": f"case {n}", "problems": ["it | broke"]} for n in range(failed)],
    }


def test_rows_sum_each_category_and_keep_every_failure_with_its_seed() -> None:
    first = "cancels and interrupts"
    rows = tally_rows(
        [line(first, 0, 10, 1, 2), line(first, 1, 5, 0, 1), line("bad database files", 4, 7, 0, 0)]
    )
    assert (rows[first].tried, rows[first].held, rows[first].tests) == (15, 11, 2)
    assert rows[first].known[SAMPLE.name] == 3
    assert [(f["seed"], f["case"]) for f in rows[first].failures] == [(0, "case 0")]
    assert rows[first].notes["kills that left a group half written"] == 2
    assert rows[first].seconds == 60.0


def test_the_page_shows_every_category_totals_failures_and_known_faults() -> None:
    rows = tally_rows([line("cancels and interrupts", 3, 10, 1, 2)])
    page = render(rows, META)
    for name in CATEGORIES:
        assert f"| {name} |" in page
    assert "| **all** | **10** | **7** | **1** | **2** |" in page
    assert "| `tests/faults/test_x.py::test_y` | 3 | case 0 | it \\| broke |" in page
    assert META["command"] in page and META["date"] in page and "0.10 / 0.20 / 0.30" in page
    assert SAMPLE.reason in page


def test_the_page_says_when_no_known_fault_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver, "KNOWN_FAULTS", ())
    page = render(tally_rows([line("cancels and interrupts", 3, 10, 0, 0)]), META)
    assert "No known fault is open" in page


def test_a_tally_writes_its_line_and_fails_on_a_case_that_did_not_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "report.jsonl"
    monkeypatch.setenv("CODEFRAME_FAULT_REPORT", str(report))
    tally = Tally("bad database files", "t::x[seed5]", 5)
    tally.record("held", [])
    tally.record("broke", ["the folder changed"])
    tally.record("the key in prose in a correction", ["the key is stored in the database"])
    with pytest.raises(AssertionError, match="1 of 3 cases did not hold:\n- broke"):
        tally.finish()
    written = json.loads(report.read_text())
    assert (written["tried"], written["held"], written["seed"]) == (3, 1, 5)
    assert written["failed"] == [{"case": "broke", "problems": ["the folder changed"]}]
    assert written["known"] == [
        {"case": "the key in prose in a correction", "fault": "key in a refused correction reply"}
    ]
