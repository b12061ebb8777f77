"""codeframe.llm."""
