"""``python -m codeframe``: the same command line as the ``codeframe`` script."""

from __future__ import annotations

from codeframe.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
