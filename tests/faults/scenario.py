"""A seeded little project for runs to be faulted: tasks, the model's replies, the tree's states.

Each task writes one group of changes per reply: two new files (one in a new nested folder),
a modified file it owns and, in its first group, a deleted one. Every group's content is
tagged with the task and the attempt, so the tree can be read back task by task: each
task's files are exactly as they were before any group, or exactly as one whole group left
them — anything else is a half-applied group.

Test tasks may need corrections (their first ``bad_attempts`` groups write tests that fail);
backend and frontend tasks are right first time, so one task's failing files never fail
another's run. A flaky task's first call raises a retryable error.

Two ways to judge the tests: :class:`TreeRunner` (a stand-in suite read from the tree, for
runs where pytest itself is not the point) and real pytest, whose test files record their
pid (and, in some seeds, a child process's) where the trial can check they are gone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

from codeframe.core.file_changes import JOURNAL_DIR
from codeframe.core.models import TestCase, TestResult
from codeframe.persistence.database import Database

AREAS = {"backend": "work", "frontend": "frontend", "test": "tests"}
_SPEC_FIELDS = (
    "seed", "max_concurrent", "max_retries", "real_pytest", "warm", "test_sleep",
    "spawn_child", "bulk",
)  # fmt: skip
BUG = "BUG"
_HEADING = re.compile(r"Task #\d+: \[t(\d+)\]")
_IGNORED = {"pytest.ini", "__pycache__"}


@dataclass(frozen=True)
class PlannedTask:
    number: int
    kind: str
    depends_on: tuple[int, ...]
    bad_attempts: int  # groups whose tests fail before a good one (4 or more: blocked)
    flaky: bool  # the first call raises a retryable error

    @property
    def title(self) -> str:
        return f"[t{self.number}] {self.kind} work item {self.number}"

    @property
    def priority(self) -> int:
        # Test tasks first: a pytest suite then never holds another task's failing test.
        return 1 if self.kind == "test" else 2


@dataclass
class Scenario:
    """The tasks of one seed and how their files look before and after each reply."""

    seed: int
    tasks: list[PlannedTask]
    max_concurrent: int
    max_retries: int
    real_pytest: bool
    warm: bool = False
    test_sleep: float = 0.0  # how long each real test sleeps (so a cancel lands mid-run)
    spawn_child: bool = False  # each real test leaves a ``sleep`` process behind
    pid_folder: Path | None = None
    bulk: int = 0  # extra new files per group: a group that takes a while to write
    by_number: dict[int, PlannedTask] = field(init=False)

    def __post_init__(self) -> None:
        self.by_number = {task.number: task for task in self.tasks}

    @classmethod
    def generate(
        cls, seed: int, *, real_pytest: bool, pid_folder: Path | None = None, bulk: int = 0
    ) -> Scenario:
        rng = Random(f"scenario:{seed}:{real_pytest}")
        count = rng.randint(2, 4)
        tasks: list[PlannedTask] = []
        for number in range(1, count + 1):
            kind = rng.choice(["backend", "backend", "test", "test", "frontend"])
            if real_pytest and number == 1:
                kind = "test"  # so that pytest has tests to run
            earlier = [t.number for t in tasks if not (kind == "test" and t.kind != "test")]
            depends = tuple(sorted(rng.sample(earlier, k=min(len(earlier), rng.randint(0, 2)))))
            # Under real pytest a backend run collects every test: test tasks must end green.
            most = 3 if real_pytest else 4
            bad = rng.choice([0, 0, 1, 2, most]) if kind == "test" else 0
            tasks.append(PlannedTask(number, kind, depends, bad, flaky=rng.random() < 0.25))
        return cls(
            seed=seed,
            tasks=tasks,
            # One at a time under real pytest, for the same reason as the priorities.
            max_concurrent=1 if real_pytest else rng.randint(1, 3),
            max_retries=rng.randint(1, 2),
            real_pytest=real_pytest,
            warm=rng.random() < 0.7,
            test_sleep=rng.choice([0.0, 0.02, 0.1]) if real_pytest else 0.0,
            spawn_child=real_pytest and rng.random() < 0.5,
            pid_folder=pid_folder,
            bulk=bulk,
        )

    def to_spec(self) -> dict[str, Any]:
        """A JSON-able form, to hand the same scenario to another process."""
        spec = {name: getattr(self, name) for name in _SPEC_FIELDS}
        spec["tasks"] = [dataclasses.asdict(task) for task in self.tasks]
        spec["pid_folder"] = None if self.pid_folder is None else str(self.pid_folder)
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Scenario:
        fields = {name: spec[name] for name in _SPEC_FIELDS}
        tasks = [
            PlannedTask(**{**task, "depends_on": tuple(task["depends_on"])})
            for task in spec["tasks"]
        ]
        folder = spec["pid_folder"]
        return cls(tasks=tasks, pid_folder=None if folder is None else Path(folder), **fields)

    # -- files -------------------------------------------------------------------------

    def paths(self, task: PlannedTask) -> dict[str, str]:
        area, n = AREAS[task.kind], task.number
        if task.kind == "test":
            a, c = f"tests/t{n}/test_t{n}_a.py", f"tests/t{n}/deep/test_t{n}_c.py"
        elif self.real_pytest:
            a, c = f"{area}/t{n}/mod_t{n}.py", f"{area}/t{n}/deep/util_t{n}.py"
        else:
            a, c = f"{area}/t{n}/a.txt", f"{area}/t{n}/deep/c.txt"
        found = {"a": a, "c": c, "seed": f"{area}/seed_t{n}.txt", "old": f"{area}/old_t{n}.txt"}
        for index in range(self.bulk):
            found[f"bulk{index}"] = f"{area}/t{n}/bulk/f{index:04d}.txt"
        return found

    def content(self, task: PlannedTask, which: str, tag: str) -> str:
        """A file's text for one group; ``tag`` is "attempt <j>[ BUG]" or "final"."""
        head = f"# t{task.number} {which} {tag}\n"
        if not (self.real_pytest and task.kind == "test" and which in ("a", "c")):
            return head
        folder = str(self.pid_folder)
        lines = [
            "import os, subprocess, time",
            "",
            "",
            f"def test_t{task.number}_{which}():",
            f"    open(os.path.join({folder!r}, str(os.getpid())), 'w').close()",
        ]
        if self.spawn_child:
            lines += [
                "    child = subprocess.Popen(['sleep', '30'])",
                f"    open(os.path.join({folder!r}, 'child-' + str(child.pid)), 'w').close()",
            ]
        lines += [
            f"    time.sleep({self.test_sleep!r})",
            f"    assert {BUG not in tag!r}, 'this attempt fails on purpose'",
        ]
        return head + "\n".join(lines) + "\n"

    def group(self, task: PlannedTask, attempt: int | None) -> list[dict[str, Any]]:
        """The changes of one reply: ``attempt`` 0, 1, ... or ``None`` for the final one."""
        tag = self.tag(task, attempt)
        paths = self.paths(task)
        changes: list[dict[str, Any]] = [
            {"path": paths["a"], "action": "create", "content": self.content(task, "a", tag)},
            {"path": paths["c"], "action": "create", "content": self.content(task, "c", tag)},
            {"path": paths["seed"], "action": "modify", "content": self.content(task, "seed", tag)},
        ]
        if attempt == 0:
            changes.append({"path": paths["old"], "action": "delete"})
        for index in range(self.bulk):
            which = f"bulk{index}"
            content = self.content(task, which, tag)
            changes.append({"path": paths[which], "action": "create", "content": content})
        return changes

    def tag(self, task: PlannedTask, attempt: int | None) -> str:
        if attempt is None:
            return "final"
        return f"attempt {attempt}" + (f" {BUG}" if attempt < task.bad_attempts else "")

    def states(self, task: PlannedTask) -> dict[str, list[dict[str, str | None]]]:
        """Every whole state the task's files may be in, by name."""
        paths = self.paths(task)
        before: dict[str, str | None] = {rel: None for rel in paths.values()}
        before[paths["seed"]] = self.content(task, "seed", "original")
        before[paths["old"]] = self.content(task, "old", "original")
        found: dict[str, list[dict[str, str | None]]] = {"before": [before]}
        # A task's calls (one failing flakily) number at most six: a generation, three
        # corrections, and a retry's generation.
        for attempt in range(6):
            found[f"group {attempt}"] = [self._after(task, self.tag(task, attempt), old=False)]
        found["final"] = [
            self._after(task, "final", old=False),
            self._after(task, "final", old=True),
        ]
        return found

    def _after(self, task: PlannedTask, tag: str, *, old: bool) -> dict[str, str | None]:
        paths = self.paths(task)
        after: dict[str, str | None] = {
            rel: self.content(task, which, tag) for which, rel in paths.items()
        }
        after[paths["old"]] = self.content(task, "old", "original") if old else None
        return after

    # -- the project and its database ------------------------------------------------

    def build(self, root: Path) -> None:
        """Write the project's starting tree (a clean copy: everything else is removed)."""
        root.mkdir(parents=True, exist_ok=True)
        for entry in root.iterdir():
            if entry.name == "pytest.ini":
                continue  # kept as is: a warm pytest helper restarts if its config changes
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        if not (root / "pytest.ini").exists():
            (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
        for task in self.tasks:
            paths = self.paths(task)
            for which in ("seed", "old"):
                path = root / paths[which]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(self.content(task, which, "original"))

    def create_tasks(self, db: Database, project_id: int) -> dict[int, int]:
        """The tasks in the database; returns task number → task id."""
        specs = [
            {
                "title": task.title,
                "task_number": str(task.number),
                "depends_on": [str(d) for d in task.depends_on],
                "priority": task.priority,
                "worker": task.kind,
            }
            for task in self.tasks
        ]
        ids = db.create_tasks(project_id, specs)
        return {task.number: ident for task, ident in zip(self.tasks, ids, strict=True)}

    # -- reading the tree back ---------------------------------------------------------

    def task_state(self, root: Path, task: PlannedTask) -> str | None:
        """The name of the whole state the task's files are in, or ``None`` if half."""
        now = {rel: _read(root / rel) for rel in self.paths(task).values()}
        for name, candidates in self.states(task).items():
            if now in candidates:
                return name
        return None

    def tree_problems(self, root: Path, *, allowed: Sequence[str] | None = None) -> list[str]:
        """Half-applied groups, states not ``allowed`` (name prefixes) and stray files."""
        problems = []
        known = {rel for task in self.tasks for rel in self.paths(task).values()}
        for task in self.tasks:
            state = self.task_state(root, task)
            if state is None:
                now = {rel: _short(_read(root / rel)) for rel in self.paths(task).values()}
                problems.append(f"t{task.number}'s files are half of a group: {now}")
            elif allowed is not None and not state.startswith(tuple(allowed)):
                problems.append(f"t{task.number}'s files are in state {state!r}")
        strays = [
            rel for rel in _files(root) if rel not in known and not set(Path(rel).parts) & _IGNORED
        ]
        if strays:
            problems.append(f"files no group wrote: {strays[:8]}")
        if (root / JOURNAL_DIR).exists():
            problems.append(f"a file-change journal is left in {JOURNAL_DIR}")
        return problems


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _short(text: str | None) -> str | None:
    return None if text is None else text.splitlines()[0][:40]


def _files(root: Path) -> list[str]:
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() or path.is_symlink()
    )


class Replies:
    """The model's side of a scenario: a reply per call, picked by the task's heading.

    With ``final`` every call gets the task's final (passing) group: the client of the run
    that must finish the work. A scripted client calls this as its default reply.
    """

    def __init__(self, scenario: Scenario, *, final: bool = False) -> None:
        self.scenario = scenario
        self.final = final
        self.calls: Counter[int] = Counter()

    def __call__(self, kwargs: dict[str, Any]) -> dict[str, Any] | Exception:
        content = kwargs["messages"][0]["content"]
        text = content if isinstance(content, str) else str(content)
        found = _HEADING.search(text)
        if found is None:
            raise AssertionError(f"a prompt without a task heading: {text[:120]!r}")
        task = self.scenario.by_number[int(found.group(1))]
        call = self.calls[task.number]
        self.calls[task.number] += 1
        if self.final:
            return {"files": self.scenario.group(task, None), "explanation": "final"}
        if task.flaky and call == 0:
            return ConnectionResetError("connection reset by peer (a flaky network, injected)")
        attempt = call - task.flaky
        return {"files": self.scenario.group(task, attempt), "explanation": f"attempt {attempt}"}


class TreeRunner:
    """A stand-in test suite judged from the tree: a judged file that says BUG fails.

    A run given paths judges those files (what the test worker runs: the tests it wrote);
    a whole-suite run judges the backend's files under ``work/``. No judged file: no tests.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls = 0

    async def run_tests(self, test_paths: Sequence[str] | None = None) -> TestResult:
        self.calls += 1
        await asyncio.sleep(0)  # a real run suspends: a cancel may land here
        if test_paths:
            files = [self.root / path for path in test_paths if (self.root / path).is_file()]
        else:
            files = sorted(p for p in (self.root / "work").rglob("*") if p.is_file())
        if not files:
            return TestResult("no_tests", output="no tests ran")
        cases = []
        for path in files:
            failing = BUG in path.read_text()
            cases.append(
                TestCase(
                    path.relative_to(self.root).as_posix(),
                    "failed" if failing else "passed",
                    "the file says BUG" if failing else "",
                )
            )
        failed = sum(case.outcome == "failed" for case in cases)
        return TestResult(
            "failed" if failed else "passed",
            passed=len(cases) - failed,
            failed=failed,
            output="\n".join(f"{case.node_id} {case.outcome}" for case in cases),
            cases=tuple(cases),
        )
