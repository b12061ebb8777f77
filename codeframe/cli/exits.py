"""The ``codeframe`` command's exit statuses, shared by every subcommand."""

from __future__ import annotations

#: Every task completed (``run``), or the command did what it was asked.
EXIT_OK = 0
#: The command ran but not everything succeeded: a task failed, blocked or was left pending.
EXIT_FAILED = 1
#: The command line, a file it names or the environment is wrong; nothing was run.
EXIT_USAGE = 2
#: Interrupted with Ctrl-C (128 + SIGINT, as shells report it); running tasks were cancelled.
EXIT_INTERRUPTED = 130

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE"]
