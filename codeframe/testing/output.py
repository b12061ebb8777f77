"""The tail of a test run's output: bounded memory however much a test prints."""

from __future__ import annotations

import codecs


class OutputTail:
    """Keeps the last ``limit`` characters of a stream without ever holding much more."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._size = 0
        self._cut = 0

    def feed(self, data: bytes) -> None:
        self._append(self._decoder.decode(data))

    def getvalue(self) -> str:
        """The kept text, headed by a line saying how much was cut from the front."""
        self._append(self._decoder.decode(b"", final=True))
        self._compact()
        text = "".join(self._parts)
        if self._cut:
            return f"[... {self._cut} characters cut ...]\n{text}"
        return text

    def _append(self, text: str) -> None:
        if text:
            self._parts.append(text)
            self._size += len(text)
            if self._size > 2 * self._limit:
                self._compact()

    def _compact(self) -> None:
        text = "".join(self._parts)
        excess = len(text) - self._limit
        if excess > 0:
            self._cut += excess
            text = text[excess:]
        self._parts = [text] if text else []
        self._size = len(text)


__all__ = ["OutputTail"]
