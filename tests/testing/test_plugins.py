"""Plugins are chosen, not inherited: a run loads what the project asks for, and codeframe's
own plugins (and their warnings) stay out of it unless asked.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import textwrap
from pathlib import Path

import pytest

from codeframe.testing import TestRunner, plugins
from codeframe.testing.plugins import (
    InstalledPlugin,
    PluginChoice,
    ProjectConfig,
    asked_for,
    choose_plugins,
    installed_plugins,
    is_codeframes_interpreter,
    read_project_config,
)
from tests.testing.processes import make_project

ASYNCIO = InstalledPlugin("asyncio", "pytest_asyncio.plugin", "pytest-asyncio")
TIMEOUT = InstalledPlugin("timeout", "pytest_timeout", "pytest-timeout")
HYPOTHESIS = InstalledPlugin("hypothesispytest", "_hypothesis_pytestplugin", "hypothesis")
INSTALLED = (ASYNCIO, TIMEOUT, HYPOTHESIS)


def config(**fields: object) -> ProjectConfig:
    values: dict[str, object] = {
        "settings": set(),
        "args": [],
        "required": [],
        "pytest_plugins": [],
    }
    values.update(fields)
    return ProjectConfig(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("project", "extra", "chosen"),
    [
        (config(), [], []),
        (config(settings={"asyncio_mode", "testpaths"}), [], [ASYNCIO]),
        (config(settings={"timeout_method"}), [], [TIMEOUT]),
        (config(args=["--timeout=5", "-x"]), [], [TIMEOUT]),
        (config(), ["--hypothesis-profile", "ci"], [HYPOTHESIS]),
        (config(required=["pytest-asyncio", "Pytest_Timeout"]), [], [ASYNCIO, TIMEOUT]),
        (config(pytest_plugins=["pytest_asyncio"]), [], [ASYNCIO]),
        # Named by the project itself: pytest loads it; a second name would clash.
        (config(args=["-p", "asyncio"], settings={"asyncio_mode"}), [], []),
        (config(args=["-ppytest_asyncio.plugin"], settings={"asyncio_mode"}), [], []),
        (config(pytest_plugins=["pytest_asyncio.plugin"]), [], []),
        (config(settings={"asynciomode", "timeouts", "hypothesis"}), [], [HYPOTHESIS]),
    ],
)
def test_what_counts_as_asking_for_a_plugin(
    project: ProjectConfig, extra: list[str], chosen: list[InstalledPlugin]
) -> None:
    assert asked_for(INSTALLED, project, extra) == chosen


@pytest.mark.parametrize(
    ("files", "settings"),
    [
        ({"pytest.ini": "[pytest]\nasyncio_mode = auto\n"}, {"asyncio_mode"}),
        (
            {"pyproject.toml": '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n'},
            {"asyncio_mode"},
        ),
        ({"pyproject.toml": '[tool.pytest]\nasyncio_mode = "auto"\n'}, {"asyncio_mode"}),
        ({"pytest.toml": "[pytest]\ntimeout = 5\n"}, {"timeout"}),
        ({"tox.ini": "[pytest]\ntimeout = 5\n"}, {"timeout"}),
        ({"setup.cfg": "[tool:pytest]\ntimeout = 5\n"}, {"timeout"}),
        # pytest.ini wins even when empty; a pyproject without a pytest table does not count.
        ({"pytest.ini": "", "tox.ini": "[pytest]\ntimeout = 5\n"}, set()),
        ({"pyproject.toml": "[project]\nname = 'x'\n", "tox.ini": "[pytest]\nx = 1\n"}, {"x"}),
        ({"pyproject.toml": "not toml ["}, set()),
    ],
)
def test_the_config_is_read_from_the_file_pytest_uses(
    tmp_path: Path, files: dict[str, str], settings: set[str]
) -> None:
    root = make_project(tmp_path / "project", files)
    assert read_project_config(root).settings == settings


def test_addopts_required_plugins_and_conftest_plugins_are_read(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "project",
        {
            "pytest.ini": "[pytest]\naddopts = -p asyncio --timeout=5\n"
            "required_plugins = pytest-asyncio>=0.21 hypothesis\n",
            "tests/conftest.py": 'pytest_plugins = ["pytest_asyncio", "tests.helpers"]\n',
        },
    )
    found = read_project_config(root)
    assert found.args == ["-p", "asyncio", "--timeout=5"]
    assert found.required == ["pytest-asyncio", "hypothesis"]
    assert found.pytest_plugins == ["pytest_asyncio", "tests.helpers"]


def test_a_config_above_the_project_root_counts_as_pytest_finds_it(tmp_path: Path) -> None:
    make_project(tmp_path, {"tox.ini": "[pytest]\nasyncio_mode = auto\n"})
    assert read_project_config(tmp_path / "sub" / "project").settings == {"asyncio_mode"}


def test_installed_plugins_are_reread_only_when_a_package_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook's working folder is on ``sys.path`` and gains files all the time."""
    reads = 0
    read = importlib.metadata.entry_points

    def counting(**selection: str) -> importlib.metadata.EntryPoints:
        nonlocal reads
        reads += 1
        return read(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    monkeypatch.setattr(plugins, "_installed", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    first = installed_plugins()
    assert reads == 1
    (tmp_path / "notes.txt").write_text("x")
    os.utime(tmp_path, ns=(0, 0))  # the folder's mtime moves, whatever its clock resolution
    assert installed_plugins() == first
    assert reads == 1
    (tmp_path / "pytest_newplugin-1.0.dist-info").mkdir()
    installed_plugins()
    assert reads == 2
    installed_plugins()
    assert reads == 2
    # Another folder in its place (a notebook's chdir, with '' on sys.path), same mtime.
    other = tmp_path / "other"
    (other / "pytest_other-2.0.dist-info").mkdir(parents=True)
    os.utime(tmp_path, ns=(0, 0))
    os.utime(other, ns=(0, 0))
    installed_plugins()
    assert reads == 2
    sys.path[0] = str(other)
    installed_plugins()
    assert reads == 3


def test_only_codeframes_own_bin_folder_is_its_interpreter(tmp_path: Path) -> None:
    assert is_codeframes_interpreter(sys.executable)
    assert is_codeframes_interpreter(str(Path(sys.executable).parent / "python3"))
    assert not is_codeframes_interpreter(str(tmp_path / "bin" / "python"))


def test_the_choice_for_each_setting(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"pytest.ini": "[pytest]\nasyncio_mode = auto\n"})
    chosen = choose_plugins(root, sys.executable, None, {})
    assert not chosen.autoload
    assert chosen.args[:2] == ("-p", "asyncio")
    assert "ignore:::pytest_asyncio.plugin" in chosen.args  # its warnings stay out
    assert choose_plugins(root, sys.executable, True, {}).autoload
    assert "-p" not in choose_plugins(root, sys.executable, False, {}).args
    assert choose_plugins(root, str(tmp_path / "bin" / "python"), None, {}) == PluginChoice(True)


# Writes the names of the plugins pytest registered, so a test can see what was loaded.
LIST_PLUGINS = """
import json, os
from pathlib import Path

def test_plugins(request):
    names = [name for name, _ in request.config.pluginmanager.list_name_plugin()]
    Path(os.environ["PLUGINS_FILE"]).write_text(json.dumps(names))
"""


async def loaded_plugins(root: Path, tmp_path: Path, **options: object) -> set[str]:
    listing = tmp_path / "plugins.json"
    runner = TestRunner(root, 60, env={"PLUGINS_FILE": str(listing)}, **options)  # type: ignore[arg-type]
    try:
        result = await runner.run_tests()
    finally:
        await runner.aclose()
    assert result.status == "passed", result.output
    import json

    return set(json.loads(listing.read_text()))


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
async def test_by_default_codeframes_own_plugins_are_not_loaded(tmp_path: Path, warm: bool) -> None:
    root = make_project(tmp_path / "project", {"test_list.py": LIST_PLUGINS})

    names = await loaded_plugins(root, tmp_path, warm=warm)

    assert not {"hypothesispytest", "nbmake", "asyncio", "timeout", "anyio"} & names


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
async def test_what_the_project_asks_for_is_loaded(tmp_path: Path, warm: bool) -> None:
    files = {"test_list.py": LIST_PLUGINS, "pytest.ini": "[pytest]\ntimeout = 30\n"}
    root = make_project(tmp_path / "project", files)

    names = await loaded_plugins(root, tmp_path, warm=warm)

    assert "timeout" in names
    assert not {"hypothesispytest", "nbmake", "asyncio"} & names


async def test_autoload_true_loads_every_installed_plugin(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", {"test_list.py": LIST_PLUGINS})

    names = await loaded_plugins(root, tmp_path, plugin_autoload=True, warm=False)

    assert {"hypothesispytest", "nbmake", "asyncio", "timeout"} <= names


async def test_another_interpreter_loads_its_own_environments_plugins(tmp_path: Path) -> None:
    # A stand-in for a project's own virtual environment: an interpreter in another folder.
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    root = make_project(tmp_path / "project", {"test_list.py": LIST_PLUGINS})

    names = await loaded_plugins(root, tmp_path, python=python, warm=False)

    assert {"hypothesispytest", "asyncio"} <= names


ASYNC_TESTS = """
import asyncio

async def test_sleeps():
    await asyncio.sleep(0)

async def test_gathers():
    assert await asyncio.gather(asyncio.sleep(0, 1), asyncio.sleep(0, 2)) == [1, 2]
"""


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize(
    "config_file",
    [
        ("pyproject.toml", '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n'),
        ("pytest.ini", "[pytest]\nasyncio_mode = auto\n"),
        ("setup.cfg", "[tool:pytest]\nasyncio_mode = auto\n"),
    ],
    ids=["pyproject", "pytest.ini", "setup.cfg"],
)
async def test_a_pytest_asyncio_project_that_asks_keeps_working(
    tmp_path: Path, config_file: tuple[str, str], warm: bool
) -> None:
    name, text = config_file
    root = make_project(tmp_path, {name: text, "tests/test_async.py": ASYNC_TESTS})
    runner = TestRunner(root, 60, warm=warm)
    try:
        result = await runner.run_tests()
    finally:
        await runner.aclose()

    assert result.status == "passed", result.output
    assert result.passed == 2
    assert "Warning" not in result.output  # e.g. pytest-asyncio's unset loop scope


async def test_plugin_warnings_from_codeframes_environment_never_reach_the_output(
    tmp_path: Path,
) -> None:
    # With every plugin loaded, pytest-asyncio warns about its unset loop scope, naming our
    # environment's path; that text would go to the model.
    root = make_project(tmp_path, {"test_a.py": "def test_a():\n    assert False\n"})

    result = await TestRunner(root, 60, plugin_autoload=True, warm=False).run_tests()

    assert result.status == "failed"
    assert "PytestDeprecationWarning" not in result.output
    assert sys.prefix not in result.output
    assert "assert False" in result.output  # the project's own failure is all there


async def test_async_tests_that_did_not_ask_get_a_hint_the_model_can_act_on(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path, {"tests/test_async.py": ASYNC_TESTS})

    result = await TestRunner(root, 60, warm=False).run_tests()

    assert result.status == "failed"
    assert result.runner_error is None
    assert "pytest-asyncio is installed but loads only when the project asks" in result.output
    assert 'asyncio_mode = "auto"' in result.output


def test_module_docstring_documents_how_a_project_asks() -> None:
    from codeframe.testing import plugins

    doc = textwrap.dedent(plugins.__doc__ or "")
    for way in ("pytest_plugins", "-p NAME", "required_plugins", "asyncio_mode = auto"):
        assert way in doc
