"""codeframe.persistence."""
