"""Binder installs what pyproject.toml asks for, so the notebooks launch there as here."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def _requirements(lines: list[str]) -> dict[str, str]:
    reqs = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, spec = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", line).groups()
            reqs[name.lower().replace("_", "-")] = spec.replace(" ", "")
    return reqs


def _pinned(name: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned in constraints.txt")


def test_binder_requirements_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirements(project["dependencies"])
    dev = _requirements(project["optional-dependencies"]["dev"])
    binder = _requirements((ROOT / "binder" / "requirements.txt").read_text().splitlines())
    # pytest's output is quoted in the bundled cassette's prompts: the version it was
    # recorded with, as CI runs it.
    assert binder["pytest"] == f"=={_pinned('pytest')}"
    runtime["pytest"] = binder["pytest"]
    assert {name: binder.get(name) for name in runtime} == runtime
    assert binder["matplotlib"] == dev["matplotlib"]  # notebook 03 plots
    assert set(binder) == set(runtime) | {"matplotlib"}


def test_post_build_installs_the_package():
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert "pip install --no-deps ." in post_build.read_text()


def test_binder_runs_a_python_the_package_accepts():
    """repo2docker's default Python (3.10) is older than the package allows."""
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(runtime.removeprefix("python-") + ".0")
