"""codeframe.ui."""
