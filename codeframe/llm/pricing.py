"""What a model call costs in US dollars: a dated price table, budget bounds, and formatting.

Pure arithmetic on token counts: no I/O, no network, nothing that needs the event loop. A
run's ledger, its budgets and the panel all price calls through one :class:`PriceTable`, so
a user who overrides a price (a new model, a negotiated rate) changes every figure at once::

    table = PriceTable.default().with_prices({"my-model": Prices(1.0, 5.0, 1.25, 0.1)})
    table.cost("claude-sonnet-4-20250514", input_tokens=1_200, output_tokens=300)
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from types import MappingProxyType
from typing import Any

from codeframe.errors import InvalidInputError
from codeframe.llm.messages import OFFLINE_MODEL

logger = logging.getLogger(__name__)

_PER_TOKEN = 1e-6  # prices are quoted per million tokens (MTok)


@dataclass(frozen=True, slots=True)
class Prices:
    """One model's prices in USD per million tokens.

    ``cache_write`` is the 5-minute cache write; 1-hour writes (2x input on Anthropic's
    current models) are not modelled, since codeframe never asks for them.
    """

    input: float
    output: float
    cache_write: float
    cache_read: float

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_write", "cache_read"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInputError(f"Prices.{name} must be a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise InvalidInputError(f"Prices.{name} must be finite and >= 0, not {value!r}")

    def cost(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_write_tokens: int = 0,
        cache_read_tokens: int = 0,
    ) -> float:
        """The dollars for these counts; ``input_tokens`` excludes cache reads and writes.

        That is how the Messages API reports ``usage``: ``input_tokens`` is only the
        uncached part, beside ``cache_creation_input_tokens`` and ``cache_read_input_tokens``.
        """
        counts = (input_tokens, output_tokens, cache_write_tokens, cache_read_tokens)
        names = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
        for name, count in zip(names, counts, strict=True):
            _check_count(name, count)
        return (
            input_tokens * self.input
            + output_tokens * self.output
            + cache_write_tokens * self.cache_write
            + cache_read_tokens * self.cache_read
        ) * _PER_TOKEN


# --- The price table --------------------------------------------------------------------------
#
# Taken on 2026-12-03 from Anthropic's pricing page ("Model pricing": base input, 5m cache
# writes, cache hits, output, per MTok), https://platform.claude.com/docs/en/about-claude/pricing
# and, for the Claude 5 models it did not list, each model's own page ("Pricing"),
# https://platform.claude.com/docs/en/models/<model>/overview
#
# Not modelled, so a figure here can be below the bill in these cases:
# - long-context premiums: with a 1M-context beta, a request whose input passes 200K tokens is
#   billed at a premium for all its tokens (Sonnet 4 / 4.5: $6 input, $22.50 output). codeframe
#   sends no such beta header, so the API refuses those requests instead of billing the premium.
# - 1-hour cache writes (2x input), the Batch API (-50%), US-only inference (inference_geo,
#   1.1x), fast modes, and server-tool fees (web search, code execution hours).
# Left out on purpose (no price -> cost None and a warning, until a user adds one):
# - Claude Haiku 5.5: billed by prompt length (prompts over 100K tokens cost 5x every token of
#   the request); one flat price would understate exactly the calls that cost the most.
# - Claude Fable and Mythos: limited availability, and the page footnotes their cache prices.
# - Claude 3 and 3.7 models other than Haiku 3.5: add them if you still call them.
# Sonnet 5.5: its page gives a $0.20 cache read; third-party changelogs report a cut to $0.10
# on 2026-10-07 that no Anthropic page we could read confirms. We keep the page's figure: it
# can only overstate, and codeframe's requests set no cache_control, so they read no cache.
PRICES_AS_OF = date(2026, 12, 3)
PRICES_SOURCE = "https://platform.claude.com/docs/en/about-claude/pricing"

_OPUS_4 = Prices(input=15.0, output=75.0, cache_write=18.75, cache_read=1.50)
_OPUS_4_5 = Prices(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50)
_SONNET_4 = Prices(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)
_SONNET_5 = Prices(input=2.0, output=10.0, cache_write=2.50, cache_read=0.20)

# Keyed by canonical name (see canonical_model_name): the undated alias without a ".0" minor.
DEFAULT_PRICES: Mapping[str, Prices] = MappingProxyType(
    {
        "claude-opus-4": _OPUS_4,
        "claude-opus-4-1": _OPUS_4,
        "claude-opus-4-5": _OPUS_4_5,
        "claude-opus-4-6": _OPUS_4_5,
        "claude-opus-4-7": _OPUS_4_5,
        "claude-opus-4-8": _OPUS_4_5,
        "claude-opus-5": _OPUS_4_5,
        "claude-opus-5-5": Prices(input=4.0, output=20.0, cache_write=5.0, cache_read=0.20),
        "claude-sonnet-4": _SONNET_4,
        "claude-sonnet-4-5": _SONNET_4,
        "claude-sonnet-4-6": _SONNET_4,
        "claude-sonnet-5": _SONNET_5,
        "claude-sonnet-5-5": _SONNET_5,
        "claude-haiku-4-5": Prices(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
        "claude-3-5-haiku": Prices(input=0.80, output=4.0, cache_write=1.0, cache_read=0.08),
    }
)

_FREE = Prices(input=0.0, output=0.0, cache_write=0.0, cache_read=0.0)

# A snapshot id ends in its date ("claude-sonnet-4-20250514"), an alias may end in "-latest"
# ("claude-3-5-haiku-latest") or name a ".0" minor version ("claude-sonnet-4-0").
_SNAPSHOT_DATE = re.compile(r"-\d{8}$")
_LATEST = "-latest"
_ZERO_MINOR = "-0"


def canonical_model_name(model: str) -> str:
    """The key a model id is priced under: all forms of one model map to the same key.

    ``claude-sonnet-4-20250514``, ``claude-sonnet-4-0`` and ``claude-sonnet-4`` are one model;
    ``claude-sonnet-4-5`` is another. The rule only strips suffixes (a snapshot date, then
    ``-latest``, then a ``-0`` minor version), never matches prefixes, so one model's price
    can never be taken for a newer model whose id starts with its name. Ids of other
    platforms (Bedrock's ``anthropic.``…``-v1:0``, Vertex's ``@date``) are not recognised:
    their prices differ by region.
    """
    name = model.strip().lower()
    name = _SNAPSHOT_DATE.sub("", name)
    name = name.removesuffix(_LATEST)
    return name.removesuffix(_ZERO_MINOR)


class PriceTable:
    """Prices per model, looked up by any form of a model's id.

    Immutable: :meth:`with_prices` returns a new table. The offline clients' model
    (:data:`~codeframe.llm.messages.OFFLINE_MODEL`) costs 0.0 in every table unless the
    mapping given prices it, which is how a notebook rehearses a budget offline.
    """

    def __init__(self, prices: Mapping[str, Prices] | None = None) -> None:
        table: dict[str, Prices] = {OFFLINE_MODEL: _FREE}
        given: dict[str, str] = {}
        for model, price in (prices or {}).items():
            if not isinstance(model, str) or not model.strip():
                raise InvalidInputError(f"a model name must be a non-empty string, not {model!r}")
            if not isinstance(price, Prices):
                raise InvalidInputError(f"the price of {model!r} must be a Prices, not {price!r}")
            key = canonical_model_name(model)
            if key in given and table[key] != price:
                raise InvalidInputError(
                    f"{given[key]!r} and {model!r} are the same model with different prices"
                )
            given[key] = model
            table[key] = price
        self._prices: Mapping[str, Prices] = MappingProxyType(table)
        # One warning per unknown model, not one per call: a run makes hundreds of calls.
        self._warned: set[str] = set()

    @classmethod
    def default(cls) -> PriceTable:
        """The package's dated table (shared, so an unknown model warns once per process)."""
        return _default_table()

    def with_prices(self, prices: Mapping[str, Prices]) -> PriceTable:
        """A new table: this one's prices, with ``prices`` added or replacing them."""
        PriceTable(prices)  # checks the names and prices as the user wrote them
        merged = dict(self._prices)
        merged.update({canonical_model_name(model): price for model, price in prices.items()})
        return PriceTable(merged)

    def models(self) -> tuple[str, ...]:
        """The canonical names this table prices, sorted."""
        return tuple(sorted(self._prices))

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and canonical_model_name(model) in self._prices

    def prices(self, model: str) -> Prices | None:
        """The prices of ``model`` in any of its id forms, or ``None`` (logged once) if unknown."""
        key = canonical_model_name(model)
        found = self._prices.get(key)
        if found is None and key not in self._warned:
            self._warned.add(key)
            logger.warning(
                "no price for model %r: its calls are not costed and budgets cannot bound them; "
                "add one with PriceTable.default().with_prices({%r: Prices(...)})",
                model,
                model,
            )
        return found

    def cost(
        self,
        model: str,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_write_tokens: int = 0,
        cache_read_tokens: int = 0,
    ) -> float | None:
        """What one call cost in USD, or ``None`` for a model with no price.

        The counts are the reply's ``usage`` fields as the API reports them:
        ``input_tokens`` (uncached), ``output_tokens``, ``cache_creation_input_tokens`` and
        ``cache_read_input_tokens``.
        """
        price = self.prices(model)
        if price is None:
            return None
        return price.cost(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_write_tokens=cache_write_tokens,
            cache_read_tokens=cache_read_tokens,
        )

    def upper_bound(
        self,
        model: str,
        *,
        input_tokens: int,
        max_tokens: int,
        cache_writes: bool = False,
    ) -> float | None:
        """The most one call can cost in USD, or ``None`` for a model with no price.

        ``input_tokens`` is the whole prompt (counted, or from :func:`estimate_input_tokens`)
        and the reply is assumed to use all of ``max_tokens``. Every input token is priced at
        the dearest rate it could be billed at: cache reads are never dearer than input on
        any model in the default table, so they can only make a call cheaper, but a 5-minute
        cache write costs 1.25x input; pass ``cache_writes=True`` when the request sets
        ``cache_control``.
        """
        _check_count("input_tokens", input_tokens)
        _check_count("max_tokens", max_tokens)
        price = self.prices(model)
        if price is None:
            return None
        input_rate = max(price.input, price.cache_read)
        if cache_writes:
            input_rate = max(input_rate, price.cache_write)
        return (input_tokens * input_rate + max_tokens * price.output) * _PER_TOKEN

    def __repr__(self) -> str:
        return f"PriceTable({len(self._prices)} models)"


@cache
def _default_table() -> PriceTable:
    return PriceTable(DEFAULT_PRICES)


def _check_count(name: str, count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int):
        raise InvalidInputError(f"{name} must be an int, not {count!r}")
    if count < 0:
        raise InvalidInputError(f"{name} must be >= 0, not {count}")


# --- Estimating a prompt's tokens without the API ---------------------------------------------
#
# The estimate counts one token per UTF-8 byte of the request's JSON. That is a bound, not a
# guess, for any tokenizer that is a byte-level BPE (every token covers at least one byte) or
# falls back to bytes for what it does not know (every token covers at least one character):
# the tokenizer Anthropic published with its SDK (Claude 2 era) is a byte-level BPE over
# NFKC-normalised text. Measured with it, codeframe's own sources run at 3.65 characters per
# token (2.55 for the densest file), minified JSON at 2.0, random hex, base64 and UUIDs at
# 1.4-1.7, and CJK text at 2.05 bytes per token. Anthropic says the tokenizer of Claude 4.7 and
# later counts about 30% more tokens for the same text, which puts typical code near 2.8 and
# dense code near 2 characters per token: the usual "3.5 characters per token" would be low
# for code, and any fixed ratio above 1 is low for some text (hashes, lock files). Budgets
# must not be overrun, so we take the bound and accept an estimate about 3x high on typical
# code; it is only for when the API's count_tokens endpoint cannot be used. JSON quoting, keys
# and brackets add bytes as well, which covers the per-message role markers.

# Turn and system framing that no request text shows: Anthropic's token-counting docs count
# 14 tokens for the system prompt "You are a scientist" and the message "Hello, Claude", text
# of 7 tokens on the published tokenizer.
REQUEST_OVERHEAD_TOKENS = 32
# The tool-use system prompt the API adds when ``tools`` is set: Anthropic's tool-use pricing
# page gives 159-530 tokens for the Claude 3 models (313-346 is reported for Claude 4); newer
# tokenizers count about 30% more (530 x 1.3 = 689), rounded up for a model with a longer one.
TOOL_USE_SYSTEM_PROMPT_TOKENS = 1_000


def estimate_input_tokens(
    system: str | Iterable[Any] | None,
    messages: Sequence[Any],
    tools: Sequence[Any] | None = None,
) -> int:
    """A conservative (never low) count of a request's input tokens, from its text alone.

    For budgets when ``client.messages.count_tokens`` is not available (offline clients,
    custom clients): the result is at least what the API will count, and typically about 3x
    more for code. Blocks other than text (images, documents) are counted by their JSON,
    so their estimate is far above what the API counts for them.
    """
    request = [_plain(system), _plain(messages), _plain(tools or [])]
    payload = json.dumps(request, ensure_ascii=False)
    # NFKC can turn one character into several (ligatures, compatibility forms): count
    # whichever form of the text has more bytes.
    normalized = unicodedata.normalize("NFKC", payload)
    text_tokens = max(len(payload.encode("utf-8")), len(normalized.encode("utf-8")))
    tool_prompt = TOOL_USE_SYSTEM_PROMPT_TOKENS if tools else 0
    return text_tokens + REQUEST_OVERHEAD_TOKENS + tool_prompt


def _plain(value: Any) -> Any:
    """SDK models (pydantic) as plain JSON data; anything else JSON cannot hold as its text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return _plain(model_dump(mode="json", exclude_none=True))
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        return [_plain(item) for item in value]
    return str(value)


# --- Money as text -----------------------------------------------------------------------------


def format_usd(amount: float | None) -> str:
    """Dollars for the panel and the CLI: ``$0.0123`` below a dollar, ``$12.35`` above.

    Four decimals show a single call's cost (a cheap call is a fraction of a cent); an amount
    too small for them reads ``<$0.0001`` rather than a misleading ``$0.0000``. Zero is
    ``$0.00`` and ``None`` (a model with no price) is ``n/a``. Whether the figure is simulated
    (offline) is for the caller to say.
    """
    if amount is None:
        return "n/a"
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise InvalidInputError(f"an amount in USD must be a number, not {amount!r}")
    if not math.isfinite(amount):
        raise InvalidInputError(f"an amount in USD must be finite, not {amount!r}")
    sign = "-" if amount < 0 else ""
    size = abs(amount)
    if size == 0:
        return "$0.00"
    cents = f"{size:.4f}"
    if cents == "0.0000":
        return f"{sign}<$0.0001"
    if float(cents) < 1:
        return f"{sign}${cents}"
    return f"{sign}${size:,.2f}"


__all__ = [
    "DEFAULT_PRICES",
    "PRICES_AS_OF",
    "PRICES_SOURCE",
    "REQUEST_OVERHEAD_TOKENS",
    "TOOL_USE_SYSTEM_PROMPT_TOKENS",
    "PriceTable",
    "Prices",
    "canonical_model_name",
    "estimate_input_tokens",
    "format_usd",
]
