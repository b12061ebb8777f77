"""Prices from a file (`codeframe run --prices`): what they become, and what is refused."""

from __future__ import annotations

import pytest

from codeframe.cli.prices_file import load_prices_file
from codeframe.errors import InputFileError
from codeframe.llm import Prices, PriceTable


def test_a_toml_file_prices_a_new_model_and_overrides_a_known_one(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text(
        '["claude-future-9"]\ninput = 1\noutput = 5\ncache_write = 1.25\ncache_read = 0.1\n'
        '["claude-sonnet-4-20250514"]\ninput = 2.0\noutput = 10.0\ncache_write = 2.5\n'
        "cache_read = 0.2\n"
    )

    prices = load_prices_file(path)
    table = PriceTable.default().with_prices(prices)

    assert prices["claude-future-9"] == Prices(1, 5, 1.25, 0.1)
    assert table.cost("claude-future-9", input_tokens=1_000_000, output_tokens=0) == 1.0
    assert table.cost("claude-sonnet-4", input_tokens=0, output_tokens=1_000_000) == 10.0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("m: {input: 1, output: 5}\n", "model 'm': missing cache_write, cache_read (USD per MTok)"),
        ("m: {input: 1, output: 5, cache_write: 1, cache_read: 1, batch: 1}\n", "unknown field"),
        ("m: {input: -1, output: 5, cache_write: 1, cache_read: 1}\n", "Prices.input must be"),
        (
            "m: {input: x, output: 5, cache_write: 1, cache_read: 1}\n",
            "Prices.input must be a number",
        ),
        ("m: 3\n", "model 'm': must be a table"),
        ("[]\n", "expected one table per model"),
        (
            "claude-sonnet-4: {input: 1, output: 1, cache_write: 1, cache_read: 1}\n"
            "claude-sonnet-4-0: {input: 2, output: 1, cache_write: 1, cache_read: 1}\n",
            "are the same model with different prices",
        ),
    ],
)
def test_a_bad_prices_file_names_the_model_and_the_field(tmp_path, text, problem):
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(InputFileError, match="^" + str(path)) as caught:
        load_prices_file(path)
    assert problem in str(caught.value)
