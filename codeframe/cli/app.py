"""The ``codeframe`` command: its parser and its entry point.

Each subcommand lives in its own module and registers its parser here; errors a user can
act on (a missing folder, key or file, a task list that does not check) end with a message
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from codeframe import __version__
from codeframe.cli.answer import add_answer_parser
from codeframe.cli.cleanup import add_cleanup_parser
from codeframe.cli.demo import add_demo_parser
from codeframe.cli.exits import EXIT_INTERRUPTED, EXIT_USAGE
from codeframe.cli.retry import add_retry_parser
from codeframe.cli.run import add_run_parser
from codeframe.cli.status import add_status_parsers
from codeframe.errors import CommandLineError, InputFileError
from codeframe.redaction import redact


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codeframe",
        description="Asynchronous LLM coding agents that live in Jupyter.",
    )
    parser.add_argument("--version", action="version", version=f"codeframe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_demo_parser(commands)
    add_run_parser(commands)
    add_status_parsers(commands)
    add_answer_parser(commands)
    add_retry_parser(commands)
    add_cleanup_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``codeframe`` console script and ``python -m codeframe``."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse has printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status: int = handler(args)
    except (CommandLineError, InputFileError) as exc:
        print(f"codeframe {args.command}: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Before or after the run itself (which reports its own interrupt): nothing to undo.
        print(f"codeframe {args.command}: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return status


__all__ = ["build_parser", "main"]
