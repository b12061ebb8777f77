"""codeframe.agents."""
