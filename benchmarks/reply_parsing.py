"""How long reading a text reply blocks the event loop: milliseconds per MB, by reply shape.

Times ``parse_changes_text`` on realistic and hostile replies, and beside it the earlier
parser (``raw_decode`` tried from every "{", kept here as ``quadratic_parse``) at sizes small
enough for it to finish, so the growth shows::

    .venv/bin/python -m benchmarks.reply_parsing [--sizes 250000 1000000] [--legacy-sizes ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable

from codeframe.errors import ResponseFormatError
from codeframe.llm.parsing import MAX_REPLY_CHARS, parse_changes_text, validate_changes


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _valid_reply(size: int) -> str:
    """A reply of exactly ``size`` characters: one big file of Python with braces."""
    unit = "def f(x):\n    return {'k': [x, '}']}\n"
    content_size = size
    while True:
        change = {"path": "a.py", "action": "create", "content": _repeat(unit, content_size)}
        reply = json.dumps({"files": [change], "explanation": "big"})
        if len(reply) <= size:
            return reply + " " * (size - len(reply))
        content_size -= len(reply) - size  # escapes (\n) make the JSON longer than its text


SHAPES: dict[str, Callable[[int], str]] = {
    "valid JSON reply": _valid_reply,
    "prose around a reply": lambda n: f"Here {{it}} is:\n{_valid_reply(n - 25)}\nBye {{x}}",
    "code in prose": lambda n: _repeat("function f() { return {a: 1}; }\n", n),
    "open braces": lambda n: "{" * n,
    "nested keys": lambda n: _repeat('{"a": ', n),
    "empty objects": lambda n: _repeat("{}", n),
    "broken contracts": lambda n: _repeat('{"files": x}', n),
}


def quadratic_parse(text: str) -> object:
    """The parser before json_spans: a decode from every "{" (quadratic on brace-rich text)."""
    decoder = json.JSONDecoder()
    stripped = text.strip()
    try:
        whole = json.loads(stripped)
    except ValueError:
        pass
    else:
        return validate_changes(whole)
    first_object: object = None
    first_error: ValueError | None = None
    start = stripped.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(stripped, start)
        except ValueError as exc:
            first_error = first_error or exc
        else:
            if isinstance(obj, dict):
                if "files" in obj:
                    return validate_changes(obj)
                if first_object is None and first_error is None:
                    first_object = obj
        start = stripped.find("{", start + 1)
    if first_object is not None:
        return validate_changes(first_object)
    raise ResponseFormatError(f"reply is not JSON: {first_error}")


def time_once(parse: Callable[[str], object], text: str) -> float:
    started = time.perf_counter()
    # Hostile shapes are refused; the earlier parser let a RecursionError out.
    with contextlib.suppress(ResponseFormatError, RecursionError):
        parse(text)
    return time.perf_counter() - started


def median_ms(parse: Callable[[str], object], text: str, runs: int) -> float:
    return 1000 * statistics.median(time_once(parse, text) for _ in range(runs))


def main(sizes: list[int], legacy_sizes: list[int], runs: int) -> None:
    print(f"parse_changes_text, median of {runs} runs (cap {MAX_REPLY_CHARS:,} characters)")
    print(f"{'shape':<22}" + "".join(f"{f'{n:,} ch ms':>16}" for n in sizes) + f"{'ms/MB':>10}")
    for name, make in SHAPES.items():
        figures = [median_ms(parse_changes_text, make(n), runs) for n in sizes]
        per_mb = figures[-1] / (sizes[-1] / 1_000_000)
        print(f"{name:<22}" + "".join(f"{ms:>16.1f}" for ms in figures) + f"{per_mb:>10.1f}")
    if not legacy_sizes:
        return
    print("\nearlier parser (decode from every '{'), one run each")
    print(f"{'shape':<22}" + "".join(f"{f'{n:,} ch ms':>16}" for n in legacy_sizes))
    for name, make in SHAPES.items():
        figures = [median_ms(quadratic_parse, make(n), 1) for n in legacy_sizes]
        print(f"{name:<22}" + "".join(f"{ms:>16.1f}" for ms in figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, MAX_REPLY_CHARS])
    parser.add_argument("--legacy-sizes", type=int, nargs="*", default=[50_000, 100_000, 200_000])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per shape and size")
    arguments = parser.parse_args()
    main(arguments.sizes, arguments.legacy_sizes, arguments.runs)
