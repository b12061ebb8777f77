"""Dollars per call: the dated price table, its id matching, budget bounds and formatting."""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import typing

import pytest
from anthropic.types import Model

from codeframe.errors import InvalidInputError
from codeframe.llm import CHANGES_TOOL, make_tool_message
from codeframe.llm.call import ChangeRequest
from codeframe.llm.live import DEFAULT_MODEL
from codeframe.llm.messages import OFFLINE_MODEL
from codeframe.llm.pricing import (
    DEFAULT_PRICES,
    PRICES_AS_OF,
    REQUEST_OVERHEAD_TOKENS,
    TOOL_USE_SYSTEM_PROMPT_TOKENS,
    Prices,
    PriceTable,
    canonical_model_name,
    estimate_input_tokens,
    format_usd,
)

OPUS_4 = Prices(input=15.0, output=75.0, cache_write=18.75, cache_read=1.50)
OPUS_4_5 = Prices(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50)
SONNET_4 = Prices(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)
HAIKU_4_5 = Prices(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10)
HAIKU_3_5 = Prices(input=0.80, output=4.0, cache_write=1.0, cache_read=0.08)


@pytest.fixture
def table() -> PriceTable:
    """A fresh table with the default prices, so warnings seen by one test are its own."""
    return PriceTable(DEFAULT_PRICES)


# --- The table and its model ids ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (("claude-sonnet-4-20250514", "claude-sonnet-4-0", "claude-sonnet-4"), SONNET_4),
        (("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"), SONNET_4),
        (("claude-opus-4-20250514", "claude-opus-4-0", "claude-opus-4"), OPUS_4),
        (("claude-opus-4-1-20250805", "claude-opus-4-1"), OPUS_4),
        (("claude-opus-4-5-20251101", "claude-opus-4-5"), OPUS_4_5),
        (("claude-haiku-4-5-20251001", "claude-haiku-4-5"), HAIKU_4_5),
        (("claude-3-5-haiku-20241022", "claude-3-5-haiku-latest", "claude-3-5-haiku"), HAIKU_3_5),
    ],
)
def test_every_form_of_a_model_id_has_its_published_price(
    table: PriceTable, ids: tuple[str, ...], expected: Prices
) -> None:
    for model in ids:
        assert table.prices(model) == expected, model
        assert model in table


def test_ids_are_matched_whatever_their_case_and_surrounding_space(table: PriceTable) -> None:
    assert table.prices("  Claude-Sonnet-4-20250514\n") == SONNET_4


def test_the_default_model_is_priced(table: PriceTable) -> None:
    assert table.prices(DEFAULT_MODEL) == SONNET_4


def test_the_table_is_dated() -> None:
    assert PRICES_AS_OF.year >= 2026


def test_matching_strips_suffixes_and_never_matches_a_prefix(table: PriceTable) -> None:
    assert canonical_model_name("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert canonical_model_name("claude-sonnet-4-0") == "claude-sonnet-4"
    assert canonical_model_name("claude-3-5-haiku-latest") == "claude-3-5-haiku"
    # Opus 4.1 is three times Opus 4.5: a prefix match would price one as the other.
    assert table.prices("claude-opus-4-1") == OPUS_4
    assert table.prices("claude-opus-4-5") == OPUS_4_5
    # A model we have no price for is unknown, not its family's first version.
    assert table.prices("claude-sonnet-4-9") is None
    assert table.prices("claude-opus-4-10-20270101") is None
    # Other platforms' ids price differently by region, so they are not matched.
    assert table.prices("anthropic.claude-sonnet-4-20250514-v1:0") is None


def test_every_model_the_sdk_names_is_priced_or_left_out_on_purpose(table: PriceTable) -> None:
    # The SDK's Model type lists the models it knows; a new SDK naming a new model should make
    # someone look up its price, not leave its calls silently uncosted.
    left_out = {"claude-haiku-5-5"}  # priced by prompt length: see the module's comment
    left_out_families = ("claude-fable-", "claude-mythos-")  # limited, footnoted cache prices
    literal = next(
        arg for arg in typing.get_args(Model) if typing.get_origin(arg) is typing.Literal
    )
    for model in typing.get_args(literal):
        key = canonical_model_name(model)
        if key in left_out or key.startswith(left_out_families):
            assert model not in table
        else:
            assert model in table, f"{model} is in the SDK but has no price"


def test_cache_reads_are_never_dearer_than_input_in_the_default_table() -> None:
    for model, price in DEFAULT_PRICES.items():
        assert price.cache_read <= price.input <= price.cache_write, model
        assert price.input < price.output, model


# --- Unknown and offline models -------------------------------------------------------------------


def test_an_unknown_model_has_no_cost_and_warns_once_per_name(
    table: PriceTable, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="codeframe.llm")
    for _ in range(5):
        assert table.cost("claude-future-9", input_tokens=10, output_tokens=10) is None
        assert table.upper_bound("claude-future-9", input_tokens=10, max_tokens=10) is None
        assert table.prices("claude-future-9-20300101") is None  # the same model, dated
    assert table.cost("other-model", input_tokens=1, output_tokens=1) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in warnings] == ["codeframe.llm.pricing"] * 2
    assert "claude-future-9" in warnings[0].getMessage()
    assert "other-model" in warnings[1].getMessage()


def test_membership_asks_without_warning(
    table: PriceTable, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert "claude-future-9" not in table
    assert 42 not in table
    assert caplog.records == []


def test_the_offline_model_costs_exactly_nothing(table: PriceTable) -> None:
    big = 10**9
    assert table.cost(OFFLINE_MODEL, input_tokens=big, output_tokens=big) == 0.0
    assert table.upper_bound(OFFLINE_MODEL, input_tokens=big, max_tokens=big) == 0.0
    assert PriceTable().cost(OFFLINE_MODEL, input_tokens=5, output_tokens=5) == 0.0
    assert OFFLINE_MODEL in PriceTable.default().models()


def test_the_offline_model_can_be_priced_to_rehearse_a_budget(table: PriceTable) -> None:
    rehearsal = table.with_prices({OFFLINE_MODEL: SONNET_4})
    assert rehearsal.cost(OFFLINE_MODEL, input_tokens=10**6, output_tokens=0) == 3.0
    # ...and a later override elsewhere keeps it.
    assert rehearsal.with_prices({"x": HAIKU_4_5}).prices(OFFLINE_MODEL) == SONNET_4


# --- Costs ----------------------------------------------------------------------------------------


def test_cost_adds_the_four_kinds_of_tokens_at_their_prices(table: PriceTable) -> None:
    cost = table.cost(
        "claude-sonnet-4-20250514",
        input_tokens=1_000,
        output_tokens=500,
        cache_write_tokens=2_000,
        cache_read_tokens=10_000,
    )
    # 1000 x $3 + 500 x $15 + 2000 x $3.75 + 10000 x $0.30, per million tokens.
    assert cost == pytest.approx(0.021, rel=1e-12)
    assert table.cost("claude-opus-4-1", input_tokens=10**6, output_tokens=10**6) == 90.0


def test_a_call_with_no_tokens_costs_nothing(table: PriceTable) -> None:
    assert table.cost("claude-opus-4-5", input_tokens=0, output_tokens=0) == 0.0


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10", None])
def test_token_counts_must_be_non_negative_ints(table: PriceTable, bad: object) -> None:
    with pytest.raises(InvalidInputError):
        table.cost("claude-sonnet-4", input_tokens=bad, output_tokens=0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        table.upper_bound("claude-sonnet-4", input_tokens=0, max_tokens=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, True, "3"])
def test_prices_must_be_finite_non_negative_numbers(bad: object) -> None:
    with pytest.raises(InvalidInputError):
        Prices(input=bad, output=1.0, cache_write=1.0, cache_read=1.0)  # type: ignore[arg-type]


# --- Overrides ------------------------------------------------------------------------------------


def test_with_prices_adds_a_model_and_leaves_the_original_alone(table: PriceTable) -> None:
    mine = Prices(input=2.0, output=8.0, cache_write=2.5, cache_read=0.2)
    extended = table.with_prices({"my-model": mine})
    assert extended.cost("my-model", input_tokens=10**6, output_tokens=10**6) == 10.0
    assert extended.prices("claude-sonnet-4") == SONNET_4
    assert "my-model" not in table


def test_an_override_given_in_one_form_prices_every_form(table: PriceTable) -> None:
    negotiated = Prices(input=2.0, output=10.0, cache_write=2.5, cache_read=0.2)
    cheaper = table.with_prices({"claude-sonnet-4-20250514": negotiated})
    for model in ("claude-sonnet-4", "claude-sonnet-4-0", "claude-sonnet-4-20250514"):
        assert cheaper.prices(model) == negotiated
    assert cheaper.prices("claude-sonnet-4-5") == SONNET_4
    assert table.prices("claude-sonnet-4") == SONNET_4


def test_a_table_can_be_built_from_a_mapping_alone() -> None:
    only = PriceTable({"claude-haiku-4-5-20251001": HAIKU_4_5})
    assert only.models() == ("claude-haiku-4-5", OFFLINE_MODEL)
    assert only.prices("claude-haiku-4-5") == HAIKU_4_5


def test_two_forms_of_one_model_with_different_prices_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="same model"):
        PriceTable({"claude-sonnet-4": SONNET_4, "claude-sonnet-4-0": HAIKU_4_5})
    with pytest.raises(InvalidInputError, match="same model"):
        PriceTable.default().with_prices({"m": SONNET_4, "M": HAIKU_4_5})


@pytest.mark.parametrize(
    "prices",
    [{"m": (1.0, 2.0, 3.0, 4.0)}, {"": SONNET_4}, {"   ": SONNET_4}, {3: SONNET_4}],
)
def test_overrides_must_be_names_and_prices(prices: dict[object, object]) -> None:
    with pytest.raises(InvalidInputError):
        PriceTable.default().with_prices(prices)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        PriceTable(prices)  # type: ignore[arg-type]


# --- Upper bounds for budgets ---------------------------------------------------------------------


def test_upper_bound_is_all_input_at_input_price_and_all_of_max_tokens(table: PriceTable) -> None:
    bound = table.upper_bound("claude-sonnet-4-5", input_tokens=20_000, max_tokens=4_096)
    assert bound == pytest.approx((20_000 * 3.0 + 4_096 * 15.0) / 1e6, rel=1e-12)


@pytest.mark.parametrize("model", sorted(DEFAULT_PRICES))
def test_no_call_within_its_bounds_costs_more_than_the_upper_bound(
    table: PriceTable, model: str
) -> None:
    prompt, max_tokens = 50_000, 8_192
    bound = table.upper_bound(model, input_tokens=prompt, max_tokens=max_tokens)
    assert bound is not None
    for cached in (0, 1, prompt // 2, prompt):  # however much of the prompt was a cache hit
        for output in (0, max_tokens // 3, max_tokens):
            cost = table.cost(
                model,
                input_tokens=prompt - cached,
                cache_read_tokens=cached,
                output_tokens=output,
            )
            assert cost is not None
            assert cost <= bound


def test_cache_writes_can_raise_the_cost_so_they_have_their_own_bound(table: PriceTable) -> None:
    all_written = table.cost(
        "claude-opus-4-5", input_tokens=0, cache_write_tokens=10_000, output_tokens=1_000
    )
    plain = table.upper_bound("claude-opus-4-5", input_tokens=10_000, max_tokens=1_000)
    writes = table.upper_bound(
        "claude-opus-4-5", input_tokens=10_000, max_tokens=1_000, cache_writes=True
    )
    assert all_written is not None and plain is not None and writes is not None
    assert plain < all_written <= writes


def test_upper_bound_holds_for_a_price_table_where_cache_reads_cost_more() -> None:
    odd = PriceTable({"odd": Prices(input=1.0, output=1.0, cache_write=1.0, cache_read=4.0)})
    bound = odd.upper_bound("odd", input_tokens=1_000, max_tokens=0)
    cost = odd.cost("odd", input_tokens=0, output_tokens=0, cache_read_tokens=1_000)
    assert bound is not None and cost is not None
    assert cost <= bound


# --- Estimating input tokens ----------------------------------------------------------------------

# Anthropic's token-counting docs: this system prompt and message count 14 tokens, and this
# weather tool with its question counts 403 (tool-use system prompt included).
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {
                "type": "string",
                "description": "The city and state, e.g. San Francisco, CA",
            }
        },
        "required": ["location"],
    },
}


def test_estimate_is_not_below_the_counts_in_anthropics_docs() -> None:
    basic = estimate_input_tokens(
        "You are a scientist", [{"role": "user", "content": "Hello, Claude"}]
    )
    assert basic >= 14
    with_tool = estimate_input_tokens(
        None,
        [{"role": "user", "content": "What's the weather like in San Francisco?"}],
        [WEATHER_TOOL],
    )
    assert with_tool >= 403


# Counted with the tokenizer Anthropic published with its SDK (Claude 2 era, byte-level BPE)
# on 2026-12-03. Anthropic says Claude 4.7 and later count about 30% more tokens for the same
# text, so the estimate must clear each count with 35% to spare.
NEWER_TOKENIZER_FACTOR = 1.35
LEGACY_COUNTED = {
    "python": (
        "def test_rounds_half_up(catalogue: Catalogue) -> None:\n"
        '    price = catalogue.price_of("978-0-306-40615-7", quantity=3)\n'
        '    assert price == Decimal("29.97"), f"got {price!r}"\n'
        "    with pytest.raises(KeyError):\n"
        '        catalogue.price_of("0", quantity=-1)\n'
        "\n"
        '@pytest.mark.parametrize(("isbn", "ok"), '
        '[("9780306406157", True), ("9780306406158", False)])\n'
        "def test_check_digit(isbn: str, ok: bool) -> None:\n"
        "    assert is_valid_isbn13(isbn) is ok\n",
        147,
    ),
    "prose": (
        "A run reports tokens but never money, and nothing stops a run that is spending too much. "
        "After a rejected reply the retry sends the identical prompt, so an unfixable reply costs "
        "four calls; a project root that does not exist is discovered only after the model has "
        "been paid. Answering a blocker from the panel resolves it, and the chain finishes.",
        75,
    ),
    "json": (
        '{"files":[{"path":"src/catalogue.py","action":"modify","content":"def f(x):\\n    '
        'return x + 1\\n"},{"path":"tests/test_catalogue.py","action":"create","content":"from '
        'src.catalogue import f\\n\\ndef test_f():\\n    assert f(1) == 2\\n"}],"explanation":'
        '"Add f and its test."}',
        85,
    ),
    "hex digests": (
        "\n".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(8)),
        312,
    ),
    "base64": (base64.b64encode(hashlib.sha512(b"codeframe").digest() * 4).decode(), 235),
    "cjk": ("敏捷的棕色狐狸跳过了懒狗。" * 10, 190),
    "emoji": ("🙂🚀🔥" * 30, 210),
}


@pytest.mark.parametrize("kind", sorted(LEGACY_COUNTED))
def test_estimate_clears_measured_counts_with_room_for_the_newer_tokenizer(kind: str) -> None:
    text, counted = LEGACY_COUNTED[kind]
    estimate = estimate_input_tokens(None, [{"role": "user", "content": text}])
    assert estimate >= math.ceil(counted * NEWER_TOKENIZER_FACTOR) + REQUEST_OVERHEAD_TOKENS


def test_estimate_counts_the_tool_use_system_prompt_only_with_tools() -> None:
    messages = [{"role": "user", "content": "hi"}]
    without = estimate_input_tokens("sys", messages)
    assert estimate_input_tokens("sys", messages, []) == without
    with_tool = estimate_input_tokens("sys", messages, [WEATHER_TOOL])
    assert with_tool >= without + TOOL_USE_SYSTEM_PROMPT_TOKENS


def test_estimate_grows_with_every_part_of_the_request() -> None:
    base = estimate_input_tokens("s", [{"role": "user", "content": "x"}])
    assert estimate_input_tokens("s" * 100, [{"role": "user", "content": "x"}]) > base
    assert estimate_input_tokens("s", [{"role": "user", "content": "x" * 100}]) > base
    longer = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    assert estimate_input_tokens("s", longer) > base


def test_estimate_reads_sdk_blocks_and_system_blocks() -> None:
    reply = make_tool_message("submit_changes", {"files": [{"path": "a.py", "content": "x" * 500}]})
    history = [
        {"role": "user", "content": "change a.py"},
        {"role": "assistant", "content": reply.content},  # SDK objects, as a client returns them
        {"role": "user", "content": [{"type": "text", "text": "again"}]},
    ]
    system = [{"type": "text", "text": "You write Python."}]
    assert estimate_input_tokens(system, history) > 500
    # Tuples and generators of blocks are read too.
    assert estimate_input_tokens(tuple(system), history) == estimate_input_tokens(system, history)
    assert estimate_input_tokens(iter(system), history) == estimate_input_tokens(system, history)


def test_estimate_counts_characters_that_normalise_into_many() -> None:
    # U+FDFA is one 3-byte character that NFKC (the published tokenizer's normaliser) expands
    # into an 18-character phrase: that tokenizer counts 1500 tokens for 300 bytes of it, more
    # than one per byte of the text as sent.
    text = "\ufdfa" * 100
    estimate = estimate_input_tokens(None, [{"role": "user", "content": text}])
    assert estimate >= math.ceil(1500 * NEWER_TOKENIZER_FACTOR) + REQUEST_OVERHEAD_TOKENS


def test_estimate_of_codeframes_own_request() -> None:
    request = ChangeRequest.of_prompt(DEFAULT_MODEL, 4_096, "You are a backend engineer.", "Add f.")
    kwargs = request.create_kwargs()
    estimate = estimate_input_tokens(kwargs["system"], kwargs["messages"], kwargs["tools"])
    assert kwargs["tools"] == [CHANGES_TOOL]
    assert estimate > TOOL_USE_SYSTEM_PROMPT_TOKENS + len(str(CHANGES_TOOL["input_schema"])) // 2


# --- Formatting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0.0, "$0.00"),
        (0, "$0.00"),
        (0.00004, "<$0.0001"),
        (0.000123, "$0.0001"),
        (0.0123456, "$0.0123"),
        (0.5, "$0.5000"),
        (0.99996, "$1.00"),
        (1.0, "$1.00"),
        (1.5, "$1.50"),
        (12.345, "$12.35"),
        (1234.5678, "$1,234.57"),
        (-0.25, "-$0.2500"),
        (-0.00001, "-<$0.0001"),
        (None, "n/a"),
    ],
)
def test_format_usd(amount: float | None, text: str) -> None:
    assert format_usd(amount) == text


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "1.00"])
def test_format_usd_refuses_what_is_not_an_amount(bad: object) -> None:
    with pytest.raises(InvalidInputError):
        format_usd(bad)  # type: ignore[arg-type]
