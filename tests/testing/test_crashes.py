"""A test that ends pytest's process is project code the model can fix; a pytest that never
got to the project's code is a runner error. Each test runs a real pytest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codeframe.agents.backend_worker_agent import BackendWorkerAgent
from codeframe.llm import ScriptedClient
from codeframe.persistence.database import Database
from codeframe.testing import TestRunner
from tests.testing.processes import make_project

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="signals and the supervisor are Linux's"
    ),
    pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"]),
]

CRASH_IN_A_TEST = """
import os, signal, time

def test_before():
    pass

def test_skipped():
    import pytest
    pytest.skip("not here")

def test_crashes():
    {crash}

def test_after():
    pass
"""


def runner(root: Path, warm: bool, **options: object) -> TestRunner:
    options.setdefault("timeout", 60)
    return TestRunner(root, plugin_autoload=False, warm=warm, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("crash", "how"),
    [
        ("os._exit(3)", "exit code 3"),
        ("os.kill(os.getpid(), signal.SIGSEGV)", "killed by SIGSEGV"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "killed by SIGKILL"),
        # The parent's death reaches pytest a moment later: the test waits for it.
        ("os.kill(os.getppid(), signal.SIGKILL); time.sleep(5)", "sent SIGKILL to pytest's parent"),
    ],
    ids=["os._exit", "segfault", "sigkill", "kills-parent"],
)
async def test_a_test_that_ends_the_process_is_an_error_the_model_can_fix(
    tmp_path: Path, crash: str, how: str, warm: bool
) -> None:
    root = make_project(
        tmp_path, {"tests/test_crash.py": CRASH_IN_A_TEST.replace("{crash}", crash)}
    )

    result = await runner(root, warm).run_tests()

    assert result.runner_error is None, result.runner_error
    assert result.status == "error"
    assert (result.passed, result.failed, result.errors, result.skipped) == (1, 0, 1, 1)
    outcomes = {case.node_id: case.outcome for case in result.cases}
    assert outcomes == {
        "tests/test_crash.py::test_before": "passed",
        "tests/test_crash.py::test_skipped": "skipped",
        "tests/test_crash.py::test_crashes": "error",
    }
    crashed = result.cases[-1]
    assert how in crashed.message
    assert "ended abruptly" in result.output
    assert "test_crashes" in result.output


async def test_a_module_that_ends_the_process_while_collected_is_named(
    tmp_path: Path, warm: bool
) -> None:
    root = make_project(
        tmp_path,
        {
            "tests/test_fine.py": "def test_fine():\n    pass\n",
            "tests/test_exit.py": "import os\nos._exit(4)\n",
        },
    )

    result = await runner(root, warm).run_tests()

    assert result.runner_error is None
    assert result.status == "error"
    assert [(case.node_id, case.outcome) for case in result.cases] == [
        ("tests/test_exit.py", "error")
    ]


async def test_a_conftest_that_ends_the_process_is_project_code(tmp_path: Path, warm: bool) -> None:
    root = make_project(
        tmp_path,
        {"conftest.py": "import os\nos._exit(0)\n", "test_a.py": "def test_a():\n    pass\n"},
    )

    result = await runner(root, warm).run_tests()

    assert result.runner_error is None
    assert result.status == "error"
    assert [case.node_id for case in result.cases] == ["conftest.py"]


async def test_a_plugin_that_ends_the_process_while_loading_is_a_runner_error(
    tmp_path: Path, warm: bool
) -> None:
    # Plugins load before any conftest: a process that ends there never reached the project.
    root = make_project(
        tmp_path,
        {"exits_plugin.py": "import os\nos._exit(3)\n", "test_a.py": "def test_a():\n    pass\n"},
    )

    result = await runner(root, warm, extra_args=["-p", "exits_plugin"]).run_tests()

    assert result.status == "error"
    assert result.runner_error is not None
    assert "exited with code 3 and wrote no report" in result.runner_error


async def test_an_unknown_plugin_is_a_runner_error(tmp_path: Path, warm: bool) -> None:
    root = make_project(tmp_path, {"test_a.py": "def test_a():\n    pass\n"})

    result = await runner(root, warm, extra_args=["-p", "no_such_plugin_here"]).run_tests()

    assert result.status == "error"
    assert result.runner_error is not None
    assert "no_such_plugin_here" in result.output


def _changes(path: str, content: str) -> dict[str, object]:
    return {"files": [{"path": path, "action": "create", "content": content}], "explanation": "x"}


async def test_the_worker_corrects_a_test_that_ended_the_process(
    db: Database, project_id: int, project: Path, warm: bool
) -> None:
    # The model's first test calls os._exit; the correction prompt carries the crash and
    # the fixed test passes: the task completes after one correction, not as a runner failure.
    crashing = "import os\n\ndef test_exits():\n    os._exit(3)\n"
    fixed = "def test_exits():\n    assert True\n"
    client = ScriptedClient(
        [  # the first rule that matches answers: the correction prompt quotes the crash
            ("ended abruptly", _changes("tests/test_exit.py", fixed)),
            ("Exit cleanly", _changes("tests/test_exit.py", crashing)),
        ]
    )
    worker = BackendWorkerAgent(
        project_id, db, None, project_root=project, client=client, test_runner=runner(project, warm)
    )
    task = db.get_task(db.create_task(project_id, "Exit cleanly", "a test that passes"))
    assert task is not None

    result = await worker.execute_task(task)

    assert result["status"] == "completed", result
    runs = db.get_test_results_by_task(task["id"])
    assert [run["status"] for run in runs] == ["error", "passed"]
    assert len(db.get_correction_attempts_by_task(task["id"])) == 1
