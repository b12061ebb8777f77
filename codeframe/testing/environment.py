"""The environment a pytest child runs in: ours, minus secrets, plus what keeps runs honest.

Model-written tests run with the user's rights, so they must not see API keys or tokens
(a test could print them into the output we send back to the model).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from codeframe.redaction import secret_values

_SECRET_PREFIXES = ("ANTHROPIC_",)
# Beyond the usual *_API_KEY, *_TOKEN and *_SECRET: passwords, private and access keys and
# credential files are just as bad to hand to model-written code (env= can put one back).
_SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "PASSWORD", "_PWD", "_CREDENTIALS", "APIKEY")
_SECRET_NAMES = frozenset({"TOKEN", "SECRET", "SSH_AUTH_SOCK"})  # the agent socket signs
_NUMBERED_KEY = re.compile(r"_(API_)?KEY_?\d+$")  # OPENAI_API_KEY_2, AWS_KEY2
# scheme://user:password@host — a database or broker URL with its password in it.
_URL_PASSWORD = re.compile(r"://[^/\s:@]*:[^/\s@]+@")


def is_secret_name(name: str) -> bool:
    """Whether a variable name looks like a credential (``ANTHROPIC_*``, ``*_KEY``, ...)."""
    upper = name.upper()
    return (
        upper.startswith(_SECRET_PREFIXES)
        or upper.endswith(_SECRET_SUFFIXES)
        or upper in _SECRET_NAMES
        or _NUMBERED_KEY.search(upper) is not None
    )


def _is_secret(name: str, value: str, keys: list[str]) -> bool:
    """A credential by its name, a URL carrying a password, or a Claude key under any name."""
    return (
        is_secret_name(name)
        or _URL_PASSWORD.search(value) is not None
        or any(key in value for key in keys)
    )


# Each of these changes what pytest prints, not what the tests do: colour forcing, and
# pytest's "running on CI" switch (CI, BUILD_NUMBER), which stops it cutting the short
# summary's lines to the terminal width, so the same failure read 250 characters longer
# on a CI machine and a recorded session stopped replaying there.
_OUTPUT_STYLE_VARIABLES = ("FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE", "CI", "BUILD_NUMBER")


def build_child_env(
    base: Mapping[str, str],
    *,
    plugin_autoload: bool = True,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A copy of ``base`` without secrets, set up for pytest; ``overrides`` are applied last.

    ``overrides`` is what the caller sets on purpose, so it may put a token back. An
    inherited ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` is the user's choice and is kept even
    when ``plugin_autoload`` is true.
    """
    keys = secret_values()
    env = {name: value for name, value in base.items() if not _is_secret(name, value, keys)}
    # Agents rewrite a file within the same second; a cached .pyc with the same mtime
    # and size would make pytest run the old code.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Output reaches us even when the run is killed by the timeout.
    env["PYTHONUNBUFFERED"] = "1"
    # The same failure should read the same everywhere (a notebook kernel sets FORCE_COLOR,
    # terminals differ in width): the output goes to the model and into recorded sessions.
    env["COLUMNS"] = "100"
    for name in _OUTPUT_STYLE_VARIABLES:
        env.pop(name, None)
    if not plugin_autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if overrides:
        env.update(overrides)
    return env


__all__ = ["build_child_env", "is_secret_name"]
