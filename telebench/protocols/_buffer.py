"""Receive buffer for byte streams, with absolute stream offsets for error reports.

Theory of operation: bytes arrive in arbitrary chunks (a TCP read may hold half a frame or
three frames). Framers look at the buffer without consuming (``peek``/``find``), decide
whether a whole frame is there, and only then ``take`` it. ``offset`` is the position of the
buffer's first byte in the whole stream, so an error found at buffer index ``i`` is reported
at stream byte ``offset + i``.

Examples
--------
>>> buf = ReceiveBuffer()
>>> buf.feed(b"#P#\\r\\n#L#")
>>> end = buf.find(b"\\r\\n")
>>> buf.take(end + 2), buf.offset, len(buf)
(b'#P#\\r\\n', 5, 3)
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]


class ReceiveBuffer:
    """A growable byte buffer that remembers how much of the stream it has consumed."""

    __slots__ = ("_data", "offset")

    def __init__(self) -> None:
        self._data = bytearray()
        #: Stream offset of the first byte still in the buffer.
        self.offset = 0

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes."""
        self._data += data

    def peek(self, n: int | None = None) -> bytes:
        """The first ``n`` bytes (all when ``None``) without consuming them."""
        return bytes(self._data if n is None else self._data[:n])

    def view(self) -> bytearray:
        """The live buffer, for zero-copy struct reads; do not mutate it."""
        return self._data

    def find(self, needle: bytes, start: int = 0) -> int:
        """Index of ``needle`` in the buffer, or -1."""
        return self._data.find(needle, start)

    def take(self, n: int) -> bytes:
        """Consume and return the first ``n`` bytes."""
        chunk = bytes(self._data[:n])
        del self._data[:n]
        self.offset += len(chunk)
        return chunk

    def clear(self) -> bytes:
        """Consume everything; returns what was buffered."""
        return self.take(len(self._data))
