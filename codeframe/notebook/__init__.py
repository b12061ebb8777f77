"""codeframe.notebook."""
