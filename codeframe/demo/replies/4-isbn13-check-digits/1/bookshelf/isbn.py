"""ISBN helpers: one spelling for every way an ISBN is typed, and its check digit."""

from __future__ import annotations


def normalize_isbn(text: str) -> str:
    """``"978-0-201-61622-4"`` -> ``"9780201616224"``: no hyphens or spaces."""
    return "".join(text.split()).replace("-", "")


def is_valid_isbn13(text: str) -> bool:
    """Whether ``text`` is 13 digits whose last one is the right check digit."""
    digits = normalize_isbn(text)
    if len(digits) != 13 or not digits.isdigit():
        return False
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits[:12]))
    return 10 - total % 10 == int(digits[12])
