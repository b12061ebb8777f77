"""Read the progress notes the pytest process leaves (see ``child/pytest_entry.py``).

They answer the question a missing JUnit report leaves open: when pytest died, had the
project's code started running, and which test was it? The project's code starts when
pytest loads the initial ``conftest.py`` files, which it does only after every plugin has
been loaded; an end before that point belongs to the environment (interpreter, pytest,
plugins), an end after it without pytest returning belongs to the project.

The file sits in our temporary folder, but a test could still write to it, so every line
is read defensively: a malformed line is skipped, never trusted to raise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from codeframe.core.models import CaseOutcome, TestCase

_MESSAGE_LIMIT = 300
# The worse outcome wins when one test reports several phases (call failed, teardown erred).
_RANK = {
    CaseOutcome.PASSED.value: 0,
    CaseOutcome.SKIPPED.value: 1,
    CaseOutcome.FAILED.value: 2,
    CaseOutcome.ERROR.value: 3,
}


@dataclass(slots=True)
class Progress:
    """How far one pytest process got, and what its tests did before it ended."""

    stages: set[str] = field(default_factory=set)
    returned: int | None = None
    running: str | None = None  # the test (or module being collected) at the end
    last_node: str | None = None
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def project_code_ran(self) -> bool:
        """Whether pytest had got past its plugins into the project's own code."""
        return "conftest" in self.stages

    @property
    def culprit(self) -> str:
        """The node that was running when the process ended, as best we know."""
        if self.running:
            return self.running
        if "finish" in self.stages:
            return "pytest session teardown"
        if "session" not in self.stages:
            return "conftest.py"  # loading the project's conftest files
        return self.last_node or "pytest session"

    def cases(self) -> list[TestCase]:
        """The outcome of each test that finished a phase before the end, in order."""
        return [
            TestCase(node_id=node, outcome=outcome, message=message)
            for node, (outcome, message) in self.outcomes.items()
        ]

    def _note(self, fields: list[object]) -> None:
        kind = fields[0]
        if kind in ("python", "pytest", "conftest", "session", "finish"):
            self.stages.add(kind)
        elif kind == "returned" and len(fields) == 2 and isinstance(fields[1], int):
            self.returned = fields[1]
        elif kind in ("collect", "test") and len(fields) == 2 and isinstance(fields[1], str):
            self.running = self.last_node = fields[1]
        elif kind == "idle":
            self.running = None
        elif kind == "report" and len(fields) == 5 and all(isinstance(f, str) for f in fields):
            self._report(*(str(f) for f in fields[1:]))

    def _report(self, node: str, when: str, outcome: str, message: str) -> None:
        if outcome == "failed":
            mapped = CaseOutcome.FAILED.value if when == "call" else CaseOutcome.ERROR.value
        elif outcome in (CaseOutcome.PASSED.value, CaseOutcome.SKIPPED.value):
            mapped = outcome
        else:
            return
        previous = self.outcomes.get(node)
        if previous is None or _RANK[mapped] >= _RANK[previous[0]]:
            self.outcomes[node] = (mapped, message[:_MESSAGE_LIMIT])


def read_progress(path: Path) -> Progress:
    """The notes in ``path``; an empty :class:`Progress` if the process never wrote any."""
    progress = Progress()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return progress
    for line in data.splitlines():
        try:
            fields = json.loads(line)
        except ValueError:
            continue
        if isinstance(fields, list) and fields and isinstance(fields[0], str):
            progress._note(fields)
    return progress


__all__ = ["Progress", "read_progress"]
