"""codeframe.indexing."""
