"""Reading the files a user hands the command line: TOML or YAML, chosen by the file's suffix."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from codeframe.errors import InputFileError

TOML_SUFFIXES = (".toml",)
YAML_SUFFIXES = (".yaml", ".yml")


def read_data_file(path: Path) -> Any:
    """The data in a ``.toml``, ``.yaml`` or ``.yml`` file; :class:`InputFileError` otherwise.

    YAML is read with ``safe_load``: plain data only, never objects the file asks to build.
    """
    suffix = path.suffix.lower()
    if suffix not in TOML_SUFFIXES + YAML_SUFFIXES:
        raise InputFileError(
            str(path), [f"unknown file type {suffix or '(no suffix)'}: use .toml, .yaml or .yml"]
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(str(path), ["no such file"]) from None
    except OSError as exc:
        raise InputFileError(str(path), [f"cannot be read: {exc.strerror or exc}"]) from None
    try:
        # utf-8-sig: editors on some systems start the file with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(str(path), [f"is not UTF-8 text ({exc.reason})"]) from None
    if suffix in TOML_SUFFIXES:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputFileError(str(path), [f"is not valid TOML: {exc}"]) from None
    import yaml  # only YAML files need it, so the other commands start without it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputFileError(str(path), [f"is not valid YAML{at}: {problem}"]) from None


__all__ = ["TOML_SUFFIXES", "YAML_SUFFIXES", "read_data_file"]
