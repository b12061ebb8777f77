"""Binder installs what pyproject.toml asks for, so the notebooks launch there as here."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _requirements(lines: list[str]) -> dict[str, str]:
    reqs = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, spec = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", line).groups()
            reqs[name.lower().replace("_", "-")] = spec.replace(" ", "")
    return reqs


def test_binder_requirements_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirements(project["dependencies"])
    dev = _requirements(project["optional-dependencies"]["dev"])
    binder = _requirements((ROOT / "binder" / "requirements.txt").read_text().splitlines())
    assert {name: binder.get(name) for name in runtime} == runtime
    assert binder["matplotlib"] == dev["matplotlib"]  # notebook 03 plots
    assert set(binder) == set(runtime) | {"matplotlib"}


def test_post_build_installs_the_package():
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert "pip install --no-deps ." in post_build.read_text()
