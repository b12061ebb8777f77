"""codeframe.testing."""
