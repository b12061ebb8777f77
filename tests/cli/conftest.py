"""Fixtures for the command line: recorded sessions, a project folder, and `main` captured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from codeframe.cli import main
from tests.cli.scenarios import make_project, record_sessions


@pytest.fixture(scope="session")
def cassettes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The multiply and divide sessions, recorded once for the whole run."""
    return record_sessions(tmp_path_factory.mktemp("recordings"))


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key unless a test sets one; pytest children start without our plugins (fast)."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture
def calc(tmp_path: Path) -> Path:
    """A fresh calculator project (not the folder the sessions were recorded in)."""
    return make_project(tmp_path / "calc")


@dataclass
class Outcome:
    code: int
    out: str
    err: str


Cli = Callable[..., Outcome]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("run", ...)`` runs ``codeframe`` in this process; exit status and output."""

    def run(*argv: object) -> Outcome:
        code = main([str(arg) for arg in argv])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
