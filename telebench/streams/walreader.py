"""Read a write-ahead log folder that another object (the hub) keeps appending to.

:class:`WalReader` reads the segment files of :class:`telebench.store.wal.WriteAheadLog`
directly, so streams can follow the hub's WAL without sharing its file handles or locks.
It keeps, per segment, the byte offset of every entry it has seen, so reading the next
batch after a cursor is a seek, not a rescan. Only entries that are durable are returned:
an ``upto`` callable (the hub's last synced seq) caps what it reads; without one, every
entry whose CRC verifies counts (right for a WAL nobody is writing to). A tail that does
not verify yet (a write in progress) is simply not read until it does.

Examples
--------
>>> import tempfile
>>> from telebench.store.wal import WriteAheadLog
>>> folder = tempfile.mkdtemp()
>>> with WriteAheadLog(folder, fsync=False) as wal:
...     _ = [wal.append(f'{{"ident":"{i}"}}\\n'.encode()) for i in range(3)]
...     _ = wal.sync()
>>> reader = WalReader(folder)
>>> [seq for seq, _ in reader(after=1, limit=10)], reader.head()
([2, 3], 3)
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Final

from telebench.store.wal import MAGIC, MAX_ENTRY_BYTES

__all__ = ["WalReader"]

# Same framing as telebench.store.wal: magic, seq u64, length u32, crc32 (seq..payload).
_HEADER: Final = struct.Struct(">4sQII")
_SUFFIX: Final = ".wal"


def _crc(seq: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(seq.to_bytes(8, "big")))


class WalReader:
    """Callable ``reader(after, limit) -> [(seq, payload), ...]`` over a WAL folder.

    Parameters
    ----------
    folder:
        The WAL folder (``DIR/wal``).
    upto:
        Returns the last durable seq; entries above it are not read. ``None`` reads every
        entry that verifies.
    """

    def __init__(self, folder: str | Path, *, upto: Callable[[], int] | None = None) -> None:
        self.folder = Path(folder)
        self.upto = upto
        self._lock = threading.Lock()  # one reader serves every stream's worker thread
        # segment first seq -> byte offsets of its entries (entry i has seq first + i)
        self._offsets: dict[int, list[int]] = {}

    def _segments(self) -> list[int]:
        firsts = sorted(int(p.stem) for p in self.folder.glob(f"*{_SUFFIX}"))
        for gone in set(self._offsets) - set(firsts):
            del self._offsets[gone]  # trimmed by the hub
        return firsts

    def _path(self, first: int) -> Path:
        return self.folder / f"{first:020d}{_SUFFIX}"

    def _index(self, first: int, fh: BinaryIO, want: int) -> list[int]:
        """Offsets of the segment's entries, extended (header hops) until ``want`` or EOF."""
        offsets = self._offsets.setdefault(first, [])
        if len(offsets) > want:
            return offsets
        offset = 0
        if offsets:
            fh.seek(offsets[-1])
            header = fh.read(_HEADER.size)
            offset = offsets[-1] + _HEADER.size + _HEADER.unpack(header)[2]
        size = fh.seek(0, 2)
        while len(offsets) <= want and offset + _HEADER.size <= size:
            fh.seek(offset)
            magic, seq, length, _crc32 = _HEADER.unpack(fh.read(_HEADER.size))
            end = offset + _HEADER.size + length
            if magic != MAGIC or seq != first + len(offsets) or length > MAX_ENTRY_BYTES:
                break
            if end > size:
                break  # still being written
            offsets.append(offset)
            offset = end
        return offsets

    def _limit(self) -> int | None:
        return None if self.upto is None else self.upto()

    def __call__(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` durable entries with ``seq > after``, in order.

        When the entries right after ``after`` were trimmed away, reading starts at the
        oldest entry still present (the caller sees the gap in the seq numbers).
        """
        top = self._limit()
        out: list[tuple[int, bytes]] = []
        with self._lock:
            self._read(after, limit, top, out)
        return out

    def _read(self, after: int, limit: int, top: int | None, out: list[tuple[int, bytes]]) -> None:
        firsts = self._segments()
        for index, first in enumerate(firsts):
            following = firsts[index + 1] if index + 1 < len(firsts) else None
            if following is not None and following <= after + 1:
                continue
            if not self._read_segment(first, max(after + 1, first), limit, top, out):
                break
            if len(out) >= limit:
                break

    def _read_segment(
        self, first: int, start: int, limit: int, top: int | None, out: list[tuple[int, bytes]]
    ) -> bool:
        """Append entries ``>= start`` of one segment to ``out``; False at a stop point."""
        try:
            fh = self._path(first).open("rb")
        except FileNotFoundError:
            return True  # trimmed between listing and opening: later segments still count
        with fh:
            offsets = self._index(first, fh, start - first + limit)
            for i in range(start - first, len(offsets)):
                seq = first + i
                if len(out) >= limit or (top is not None and seq > top):
                    return False
                fh.seek(offsets[i])
                magic, got, length, crc = _HEADER.unpack(fh.read(_HEADER.size))
                payload = fh.read(length)
                if (
                    magic != MAGIC
                    or got != seq
                    or len(payload) != length
                    or _crc(seq, payload) != crc
                ):
                    del offsets[i:]  # not (yet) a valid entry: read it again next time
                    return False
                out.append((seq, payload))
            return True

    def head(self) -> int:
        """The last durable seq in the folder (0 when empty)."""
        top = self._limit()
        if top is not None:
            return top
        with self._lock:
            firsts = self._segments()
            count = self._count_last(firsts[-1]) if firsts else 0
        if not firsts:
            return 0
        last = firsts[-1]
        if count == 0:
            return last - 1
        # The newest indexed entry counts only if it verifies (else: a write in progress).
        newest = self(after=last + count - 2, limit=1)
        return newest[0][0] if newest else last + count - 2

    def _count_last(self, last: int) -> int:
        try:
            with self._path(last).open("rb") as fh:
                return len(self._index(last, fh, 2**62))
        except FileNotFoundError:
            return 0
