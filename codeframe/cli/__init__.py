"""The ``codeframe`` command line: ``demo``, ``run``, ``status``, ``blockers``, ``answer``.

This is the one package that prints: its output is the product. Progress comes from the
same events the notebook panel consumes, through :class:`ConsoleProgress`, a broadcast
target that turns each interesting event into one line. One module per job: the parser and
entry point (``app``), one per command, the task-list and prices files, where a project's
database lives (``location``), and the tables.
"""

from __future__ import annotations

from codeframe.cli.app import build_parser, main
from codeframe.cli.console import ConsoleProgress
from codeframe.cli.tables import TABLES, print_tables

__all__ = ["TABLES", "ConsoleProgress", "build_parser", "main", "print_tables"]
