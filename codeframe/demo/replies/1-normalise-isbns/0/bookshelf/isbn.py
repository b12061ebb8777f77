"""ISBN helpers: one spelling for every way an ISBN is typed, and its check digit."""

from __future__ import annotations


def normalize_isbn(text: str) -> str:
    """``"978-0-201-61622-4"`` -> ``"9780201616224"``: no hyphens or spaces."""
    return "".join(text.split()).replace("-", "")
