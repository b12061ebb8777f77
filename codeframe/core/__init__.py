"""codeframe.core."""
