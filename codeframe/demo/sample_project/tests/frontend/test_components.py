"""Checks every frontend component by reading its source: no JavaScript runtime needed."""

import re
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
COMPONENTS = sorted((FRONTEND / "components").glob("*.js"))
SCRIPTS = sorted(FRONTEND.rglob("*.js"))

CLASS_ATTR = re.compile(r'class="([^"$]+)"')
CSS_CLASS = re.compile(r"\.([A-Za-z_][\w-]*)")
RELATIVE_IMPORT = re.compile(r'from\s+"(\.{1,2}/[^"]+)"')


def defined_classes() -> set[str]:
    return set(CSS_CLASS.findall((FRONTEND / "styles.css").read_text()))


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: p.stem)
def test_component_exports_a_function_named_after_its_file(path):
    assert re.search(rf"export function {path.stem}\(", path.read_text())


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: p.stem)
def test_component_classes_are_defined_in_the_stylesheet(path):
    used = {name for attr in CLASS_ATTR.findall(path.read_text()) for name in attr.split()}
    assert used, f"{path.name} renders no styled element"
    assert used <= defined_classes(), f"undefined: {sorted(used - defined_classes())}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_relative_imports_point_at_existing_files(path):
    for target in RELATIVE_IMPORT.findall(path.read_text()):
        assert (path.parent / target).resolve().is_file(), f"{path.name} imports {target}"


def test_the_page_loads_the_app_and_the_stylesheet():
    page = (FRONTEND / "index.html").read_text()
    assert 'src="app.js"' in page and (FRONTEND / "app.js").is_file()
    assert 'href="styles.css"' in page
