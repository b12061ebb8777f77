"""The bundled demo: a sample project, a task list and a scripted Claude that plays it.

``await run_demo("codeframe-demo")`` (or ``codeframe demo`` in a shell) copies the sample
project to a work folder and runs the lead agent on it offline; see :mod:`.runner`.
"""

from __future__ import annotations

from codeframe.demo.runner import (
    DEFAULT_WORKDIR,
    SAMPLE_PROJECT,
    DemoResult,
    DemoWorkdirError,
    check_workdir,
    init_repository,
    prepare_workdir,
    run_demo,
)
from codeframe.demo.script import demo_client
from codeframe.demo.tasks import DEMO_TASKS, DemoTask

__all__ = [
    "DEFAULT_WORKDIR",
    "DEMO_TASKS",
    "SAMPLE_PROJECT",
    "DemoResult",
    "DemoTask",
    "DemoWorkdirError",
    "check_workdir",
    "demo_client",
    "init_repository",
    "prepare_workdir",
    "run_demo",
]
