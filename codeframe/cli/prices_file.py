"""Model prices from a file, for ``codeframe run --prices``: models the package's dated table
does not know yet, negotiated rates, or a price for the offline model to rehearse a budget.

TOML (YAML: the same mapping), in US dollars per million tokens::

    ["claude-sonnet-4-5"]
    input = 3.0
    output = 15.0
    cache_write = 3.75
    cache_read = 0.30
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codeframe.cli.data_files import read_data_file
from codeframe.errors import InputFileError, InvalidInputError
from codeframe.llm.pricing import Prices, PriceTable

PRICE_FIELDS = ("input", "output", "cache_write", "cache_read")


def load_prices_file(path: Path | str) -> dict[str, Prices]:
    """``model -> Prices`` from a ``.toml``/``.yaml``/``.yml`` file, every problem listed."""
    path = Path(path)
    return parse_prices(read_data_file(path), str(path))


def parse_prices(data: Any, source: str = "<prices>") -> dict[str, Prices]:
    """Check a prices mapping already read from a file; ``source`` names it in errors."""
    if not isinstance(data, Mapping) or not data:
        raise InputFileError(
            source, ['expected one table per model, e.g. ["claude-sonnet-4-5"] in TOML']
        )
    problems: list[str] = []
    prices: dict[str, Prices] = {}
    for model, fields in data.items():
        if not isinstance(fields, Mapping):
            problems.append(f"model {model!r}: must be a table of {', '.join(PRICE_FIELDS)}")
            continue
        unknown = [str(key) for key in fields if key not in PRICE_FIELDS]
        missing = [name for name in PRICE_FIELDS if name not in fields]
        if unknown:
            problems.append(f"model {model!r}: unknown field(s) {', '.join(unknown)}")
        if missing:
            problems.append(f"model {model!r}: missing {', '.join(missing)} (USD per MTok)")
        if unknown or missing:
            continue
        try:
            prices[str(model)] = Prices(**{name: fields[name] for name in PRICE_FIELDS})
        except InvalidInputError as exc:
            problems.append(f"model {model!r}: {exc}")
    if not problems:
        try:
            PriceTable(prices)  # two spellings of one model with different prices
        except InvalidInputError as exc:
            problems.append(str(exc))
    if problems:
        raise InputFileError(source, problems)
    return prices


__all__ = ["PRICE_FIELDS", "load_prices_file", "parse_prices"]
