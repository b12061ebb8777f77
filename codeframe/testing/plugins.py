"""Which pytest plugins a run loads: the ones the project asks for, not whatever is installed.

codeframe's own environment holds plugins for codeframe's sake (hypothesis, nbmake, ...);
loading them all costs about a second a run and puts their warnings, with our paths, in
the output the model reads. So by default (``plugin_autoload=None``):

- Under codeframe's own interpreter (``python`` not given, or in the same bin folder),
  pytest's auto-loading is off and a plugin installed there is loaded only if the project
  *asks* for it, which it does by any of

  1. ``pytest_plugins`` in a top-level ``conftest.py`` naming one of its modules;
  2. ``-p NAME`` in its ``addopts`` (or ``PYTEST_ADDOPTS``, or the runner's ``extra_args``);
  3. ``required_plugins`` naming its distribution;
  4. a setting or an option named after it, in the config file or the ``addopts``:
     ``asyncio_mode = auto`` asks for pytest-asyncio, ``--timeout=5`` for pytest-timeout
     (a name asks for a plugin when it is the plugin's entry-point name or its
     distribution's name without ``pytest-``, alone or followed by ``_`` and more).

  A project whose async tests carry only ``@pytest.mark.asyncio`` marks, with no setting,
  has asked for nothing: it says so with ``asyncio_mode`` or ``-p asyncio``.
- Under another interpreter (``python=`` in another environment), that environment is the
  project's own, and everything installed there loads, as pytest would by itself.

``plugin_autoload=True`` loads everything installed (the old default); ``False`` nothing
third-party. Warnings raised by the plugin modules of codeframe's own environment are
filtered out with ``-W`` whenever codeframe's interpreter runs the tests.

The project's config file is found as pytest finds it (the first of pytest's file names,
from the project root upwards, that holds a pytest section).
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import logging
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_CONFIG_NAMES = (
    "pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini",
    "pyproject.toml", "tox.ini", "setup.cfg",
)  # fmt: skip
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_UNKNOWN_MARK = re.compile(r"Unknown pytest\.mark\.(\w+)")
_NO_ASYNC_PLUGIN = "async def functions are not natively supported"


@dataclass(frozen=True, slots=True)
class InstalledPlugin:
    """One ``pytest11`` entry point of codeframe's environment."""

    name: str  # the entry point's name, what ``-p`` loads
    module: str
    distribution: str

    @property
    def aliases(self) -> frozenset[str]:
        """The names a setting may start with to ask for this plugin."""
        short = _normal(self.distribution)
        short = short.removeprefix("pytest_")
        return frozenset({_normal(self.name), short})


@dataclass(frozen=True, slots=True)
class PluginChoice:
    """What a run needs: whether pytest auto-loads plugins, and the arguments it adds."""

    autoload: bool
    args: tuple[str, ...] = ()


@dataclass(slots=True)
class ProjectConfig:
    """The parts of a project's pytest configuration that ask for plugins."""

    settings: set[str]
    args: list[str]
    required: list[str]
    pytest_plugins: list[str]


def choose_plugins(
    project_root: Path,
    python: str,
    plugin_autoload: bool | None,
    env: Mapping[str, str],
    extra_args: Iterable[str] = (),
) -> PluginChoice:
    """The plugin arguments and auto-load setting for one run (see the module docstring)."""
    own = is_codeframes_interpreter(python)
    quiet = tuple(_quiet_args(installed_plugins())) if own else ()
    if plugin_autoload is not None:
        return PluginChoice(autoload=plugin_autoload, args=quiet)
    if not own:
        return PluginChoice(autoload=True)
    config = read_project_config(project_root)
    extra = [*shlex.split(env.get("PYTEST_ADDOPTS", "")), *extra_args]
    chosen = asked_for(installed_plugins(), config, extra)
    load = tuple(arg for plugin in chosen for arg in ("-p", plugin.name))
    if chosen:
        logger.debug("plugins %s asked for by %s", [p.name for p in chosen], project_root)
    return PluginChoice(autoload=False, args=(*load, *quiet))


def missing_plugin_hint(output: str, choice: PluginChoice) -> str | None:
    """A note for the model when a run failed for want of an installed plugin it did not ask for.

    pytest names the symptom (an unknown mark, async tests without a plugin) but not our
    rule, so without the note a model would add ``@pytest.mark.asyncio`` and fail again.
    """
    if choice.autoload:
        return None
    names = {_normal(match.group(1)) for match in _UNKNOWN_MARK.finditer(output)}
    if _NO_ASYNC_PLUGIN in output:
        names.add("asyncio")
    loaded = set(_plugin_args(list(choice.args)))
    missing = [
        plugin
        for plugin in installed_plugins()
        if plugin.name not in loaded and any(_named_after(name, plugin.aliases) for name in names)
    ]
    if not missing:
        return None
    plugin = missing[0]
    return (
        f"[codeframe: the pytest plugin {plugin.distribution} is installed but loads only when "
        f"the project asks for it: add `-p {plugin.name}` to addopts or "
        f"`required_plugins = {plugin.distribution}` in its pytest configuration"
        + (', or `asyncio_mode = "auto"`' if plugin.name == "asyncio" else "")
        + "]"
    )


def is_codeframes_interpreter(python: str) -> bool:
    """Whether ``python`` is the interpreter of codeframe's environment (its bin folder)."""
    return Path(python).absolute().parent == Path(sys.executable).absolute().parent


def asked_for(
    installed: Iterable[InstalledPlugin], config: ProjectConfig, extra_args: list[str]
) -> list[InstalledPlugin]:
    """The installed plugins the project asks for, in entry-point order."""
    args = [*config.args, *extra_args]
    named = set(_plugin_args(args))
    names = config.settings | set(_option_names(args))
    required = {_normal(requirement) for requirement in config.required}
    modules = set(config.pytest_plugins)
    chosen = []
    for plugin in installed:
        if plugin.name in named or plugin.module in named or plugin.module in modules:
            continue  # the project loads it itself; a second name for it would clash
        wanted = (
            _normal(plugin.distribution) in required
            or any(module.split(".")[0] == plugin.module.split(".")[0] for module in modules)
            or any(_named_after(name, plugin.aliases) for name in names)
        )
        if wanted:
            chosen.append(plugin)
    return chosen


def _named_after(name: str, aliases: frozenset[str]) -> bool:
    name = _normal(name)
    return any(name == alias or name.startswith(alias + "_") for alias in aliases)


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(".", "_")


def _plugin_args(args: list[str]) -> Iterable[str]:
    """The NAMEs of ``-p NAME`` / ``-pNAME`` (``no:`` blocks are not requests)."""
    for index, arg in enumerate(args):
        if arg == "-p" and index + 1 < len(args):
            yield args[index + 1]
        elif arg.startswith("-p") and len(arg) > 2 and not arg.startswith("-p="):
            yield arg[2:]


def _option_names(args: list[str]) -> Iterable[str]:
    for arg in args:
        if arg.startswith("--") and len(arg) > 2:
            yield arg[2:].split("=", 1)[0].replace("-", "_")


def _quiet_args(installed: Iterable[InstalledPlugin]) -> Iterable[str]:
    """``-W`` filters for warnings raised by codeframe's own plugin modules."""
    for plugin in installed:
        yield from ("-W", f"ignore:::{plugin.module}")


# Per sys.path entry: which folder it is and its mtime (device, inode, mtime), and the
# names and mtimes of the packaging metadata in it.
_Stamp = tuple[tuple[int, int, int] | None, tuple[tuple[str, int], ...] | None]
_installed: tuple[list[_Stamp], tuple[InstalledPlugin, ...]] | None = None
# Lower case, as importlib.metadata matches them; EGG-INFO is the metadata of an .egg folder.
_METADATA_SUFFIXES = (".dist-info", ".egg-info", ".egg-link", ".pth")


def installed_plugins() -> tuple[InstalledPlugin, ...]:
    """codeframe's environment's pytest plugins, re-read when its packaging metadata changes.

    Reading them parses every distribution's metadata (10-30 ms, on the event loop when a
    test run asks), so it is done again only when a folder on ``sys.path`` gains, loses or
    replaces a metadata entry (or ``sys.path`` names other folders) — not when some other
    file appears in one, as files do in a notebook's working folder (``''`` on its
    ``sys.path``) or in ``/tmp``. A file rewritten inside a metadata folder without
    replacing it (``entry_points.txt`` of a legacy ``setup.py develop``) is not seen.
    """
    global _installed
    if _installed is None or not _unchanged(_installed[0]):
        stamps = [(_identity(entry), _metadata(entry)) for entry in sys.path]
        plugins = tuple(
            InstalledPlugin(ep.name, ep.module, ep.dist.name if ep.dist else ep.name)
            for ep in importlib.metadata.entry_points(group="pytest11")
        )
        _installed = (stamps, plugins)
    return _installed[1]


def _unchanged(stamps: list[_Stamp]) -> bool:
    """Whether ``sys.path``'s folders hold the metadata they held; refreshes their mtimes."""
    if len(stamps) != len(sys.path):
        return False
    for index, entry in enumerate(sys.path):
        identity, metadata = stamps[index]
        now = _identity(entry)
        if now != identity:
            if metadata is None or _metadata(entry) != metadata:
                return False
            stamps[index] = (now, metadata)  # other files came or went: nothing installed
    return True


def _identity(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path or ".")
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_mtime_ns


def _metadata(path: str) -> tuple[tuple[str, int], ...] | None:
    """The packaging entries of a ``sys.path`` folder; None if it is not a readable folder."""
    try:
        with os.scandir(path or ".") as entries:
            return tuple(
                sorted(
                    (entry.name, entry.stat(follow_symlinks=False).st_mtime_ns)
                    for entry in entries
                    if entry.name.lower().endswith(_METADATA_SUFFIXES) or entry.name == "EGG-INFO"
                )
            )
    except OSError:  # a zip file, or gone: any change of its mtime re-reads
        return None


def read_project_config(project_root: Path) -> ProjectConfig:
    """The pytest config of the first file pytest itself would use, plus root conftests."""
    config = ProjectConfig(settings=set(), args=[], required=[], pytest_plugins=[])
    root = project_root.absolute()
    for base in (root, *root.parents):
        values = next(
            (found for name in _CONFIG_NAMES if (found := _section(base / name)) is not None),
            None,
        )
        if values is not None:
            config.settings = set(values)
            config.args = _as_list(values.get("addopts"), split=shlex.split)
            config.required = [
                match.group(1)
                for item in _as_list(values.get("required_plugins"), split=str.split)
                if (match := _REQUIREMENT_NAME.match(item))
            ]
            break
    for conftest in (root / "conftest.py", root / "tests" / "conftest.py"):
        config.pytest_plugins.extend(_pytest_plugins(conftest))
    return config


def _section(path: Path) -> dict[str, Any] | None:
    """The pytest settings in ``path``, or None if it holds none (or cannot be read)."""
    if not path.is_file():
        return None
    try:
        if path.suffix == ".toml":
            document = tomllib.loads(path.read_text(encoding="utf-8"))
            if path.name != "pyproject.toml":
                return dict(document.get("pytest", {}))
            tool = document.get("tool", {}).get("pytest")
            if not isinstance(tool, dict):
                return None
            ini = tool.get("ini_options")
            return dict(ini) if isinstance(ini, dict) else dict(tool)
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, configparser.Error) as exc:
        logger.debug("cannot read %s for its plugins: %s", path, exc)
        return None  # pytest reports a broken config itself
    section = "tool:pytest" if path.name == "setup.cfg" else "pytest"
    if parser.has_section(section):
        return dict(parser.items(section))
    return {} if path.name in ("pytest.ini", ".pytest.ini") else None


def _as_list(value: object, *, split: Any) -> list[str]:
    if isinstance(value, str):
        return [str(item) for item in split(value)]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def _pytest_plugins(conftest: Path) -> list[str]:
    """The literal names in a conftest's ``pytest_plugins = ...`` (it is not imported)."""
    try:
        tree = ast.parse(conftest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytest_plugins"
            for target in node.targets
        ):
            values = (
                node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            )
            names.extend(
                value.value
                for value in values
                if isinstance(value, ast.Constant) and isinstance(value.value, str)
            )
    return names


__all__ = [
    "InstalledPlugin",
    "PluginChoice",
    "ProjectConfig",
    "asked_for",
    "choose_plugins",
    "installed_plugins",
    "is_codeframes_interpreter",
    "missing_plugin_hint",
    "read_project_config",
]
