"""bookshelf — a tiny catalogue of books, the sample project of ``codeframe demo``."""
