"""The write-ahead log: what the hub fsyncs before it acknowledges a device.

Theory of operation. Entries are appended to segment files ``<first seq>.wal`` in one
folder. Each entry is framed as::

    magic "TBW1" (4) | seq u64 | length u32 | crc32 u32 over seq..payload | payload

``append`` only buffers; ``sync`` writes the buffer and fsyncs the segment (and the folder
when a segment was created), so one fsync commits every entry appended since the last one
(group commit: the hub acks all of them together). Sequence numbers grow by one per entry
and survive restarts.

Recovery. A crash can leave the newest segment with a torn tail (a partial or unfsync'd
entry). On open the newest segment is scanned and cut at the first entry that does not
verify; entries behind it were never acknowledged. An entry that does not verify in an
*older* segment is real corruption and raises :class:`~telebench.errors.StoreError` naming
the file and byte offset, never silently skipped.

Trimming. Segments everything has taken in are renamed ``<first seq>.trim`` (out of the
log at once), then shrunk a few MB at a time, each step fsync'd, and deleted. On ext4
(``data=ordered``) an fsync waits for every file change of the running journal
transaction: while a 64 MB segment was unlinked in one go (70 ms, more with the
``discard`` mount option), the writer's fsyncs, which every ack waits for, took 40-65 ms
instead of 1-13. In steps, no fsync waits for more than one step. A ``.trim`` file left
by a crash is finished on open.

Examples
--------
>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> with WriteAheadLog(folder) as wal:
...     first = wal.append(b'[{"ident": "1"}]')
...     _ = wal.sync()
>>> with WriteAheadLog(folder) as wal:
...     [(seq, payload) for seq, payload in wal.replay()]
[(1, b'[{"ident": "1"}]')]
"""

from __future__ import annotations

import itertools
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Final

from telebench.errors import ConfigError, StoreError
from telebench.store._closing import Closing

__all__ = ["WriteAheadLog"]

MAGIC: Final = b"TBW1"
_HEADER: Final = struct.Struct(">4sQII")  # magic, seq, length, crc32
_SUFFIX: Final = ".wal"
_TRIM_SUFFIX: Final = ".trim"
#: Bytes a trimmed segment shrinks by per fsync'd step (see the module doc, *Trimming*).
RELEASE_STEP: Final = 4 << 20
DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024
#: An entry larger than this is refused (a corrupt length field must not allocate GBs).
MAX_ENTRY_BYTES: Final = 256 * 1024 * 1024


#: zlib releases the GIL for a CRC over more than 5 KiB, and under load taking it back
#: costs the WAL thread about 0.3 ms, as the event loop holds it most of the time. A round
#: of 600 entries of 5 KB (a Teltonika packet's) spent 0.2-0.3 s so before its fsync, and
#: every ack of the round waited; in chunks that keep the GIL it takes 2 ms.
_CRC_CHUNK: Final = 4096


def _crc(seq: int, payload: bytes) -> int:
    """CRC-32 of the seq (8 bytes, big-endian) then the payload, without dropping the GIL.

    >>> _crc(7, bytes(10_000)) == zlib.crc32(bytes(10_000), zlib.crc32((7).to_bytes(8, "big")))
    True
    """
    crc = zlib.crc32(seq.to_bytes(8, "big"))
    if len(payload) <= _CRC_CHUNK:
        return zlib.crc32(payload, crc)
    view = memoryview(payload)
    for start in range(0, len(view), _CRC_CHUNK):
        crc = zlib.crc32(view[start : start + _CRC_CHUNK], crc)
    return crc


def _segment_name(seq: int) -> str:
    return f"{seq:020d}{_SUFFIX}"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _shrink(path: Path, step: int) -> None:
    """Cut ``path`` down to at most ``step`` bytes, ``step`` at a time, fsync'ing each cut."""
    try:
        fh = path.open("r+b")
    except FileNotFoundError:
        return
    with fh:
        size = os.fstat(fh.fileno()).st_size
        while size > step:
            size -= step
            fh.truncate(size)
            os.fsync(fh.fileno())


def _scan(path: Path) -> Iterator[tuple[int, int, int, bytes]]:
    """Yield ``(offset, seq, end, payload)`` for each entry that verifies, in order.

    Stops at the first entry that does not verify; the caller decides whether that is a
    torn tail (newest segment) or corruption (older segment) by comparing ``end`` with the
    file size.
    """
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        magic, seq, length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        end = start + length
        if magic != MAGIC or length > MAX_ENTRY_BYTES or end > len(data):
            return
        payload = data[start:end]
        if _crc(seq, payload) != crc:
            return
        yield offset, seq, end, payload
        offset = end


class WriteAheadLog(Closing):
    """An append-only, fsync'd, segmented log of byte payloads with sequence numbers.

    Parameters
    ----------
    folder:
        Where the segments live (created if missing).
    segment_bytes:
        A new segment starts once the current one is at least this large.
    fsync:
        ``False`` skips fsync (tests and benchmarks of everything but durability).
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: bool = True,
    ) -> None:
        if segment_bytes <= 0:
            raise ConfigError(f"segment_bytes must be positive, got {segment_bytes}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self._pending = bytearray()
        self._file: BinaryIO | None = None
        self._file_size = 0
        self._new_segment = False
        self.last_seq = self._recover()
        self.synced_seq = self.last_seq

    # --- opening and recovery -------------------------------------------------------------

    def segments(self) -> list[Path]:
        """Segment files, oldest first."""
        return sorted(self.folder.glob(f"*{_SUFFIX}"))

    def _recover(self) -> int:
        leftovers = sorted(self.folder.glob(f"*{_TRIM_SUFFIX}"))
        if leftovers:  # a trim the last run did not finish
            self._release(leftovers)
        segments = self.segments()
        if not segments:
            return 0
        newest = segments[-1]
        last_seq, end = int(newest.stem) - 1, 0
        for _offset, seq, entry_end, _payload in _scan(newest):
            last_seq, end = seq, entry_end
        if end < newest.stat().st_size:  # torn tail: never acknowledged, cut it off
            with newest.open("r+b") as fh:
                fh.truncate(end)
                os.fsync(fh.fileno())
        self._open_segment(newest)
        return last_seq

    def _open_segment(self, path: Path) -> None:
        if self._file is not None:
            self._file.close()
        self._file = path.open("ab")
        self._file_size = path.stat().st_size

    # --- writing --------------------------------------------------------------------------

    def append(self, payload: bytes) -> int:
        """Buffer one entry; returns its sequence number. Durable only after :meth:`sync`."""
        return self.append_many((payload,))

    def append_many(self, payloads: Sequence[bytes]) -> int:
        """Buffer one entry per payload, all in one segment; returns the last seq.

        What one group-commit round does: one buffer append for the round instead of two
        per entry, which the event loop waits for (this runs holding the GIL).

        >>> import tempfile
        >>> with WriteAheadLog(tempfile.mkdtemp()) as wal:
        ...     wal.append_many([b"a", b"b", b"c"]), [s for s, _ in wal.replay()]
        (3, [])
        """
        if not payloads:
            return self.last_seq
        longest = max(map(len, payloads))
        if longest > MAX_ENTRY_BYTES:
            raise StoreError(f"WAL entry of {longest} bytes exceeds {MAX_ENTRY_BYTES}")
        first = self.last_seq + 1
        if self._file is None or (
            self._file_size + len(self._pending) >= self.segment_bytes and self._file_size
        ):
            self._roll(first)
        parts: list[bytes] = []
        for seq, payload in enumerate(payloads, first):
            parts += (_HEADER.pack(MAGIC, seq, len(payload), _crc(seq, payload)), payload)
        self._pending += b"".join(parts)
        self.last_seq = first + len(payloads) - 1
        return self.last_seq

    def _roll(self, seq: int) -> None:
        """Start a new segment whose name is the first sequence number it holds."""
        self._write_pending()
        self._open_segment(self.folder / _segment_name(seq))
        self._new_segment = True

    def _write_pending(self) -> None:
        if not self._pending or self._file is None:
            return
        try:
            self._file.write(self._pending)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            raise StoreError(f"cannot write the WAL in {self.folder}: {exc}") from exc
        self._file_size += len(self._pending)
        self._pending.clear()

    def sync(self) -> int:
        """Write and fsync everything appended so far; returns the last durable seq."""
        self._write_pending()
        if self._new_segment and self.fsync:
            _fsync_dir(self.folder)  # the new file's directory entry must be durable too
        self._new_segment = False
        self.synced_seq = self.last_seq
        return self.synced_seq

    # --- reading and trimming ---------------------------------------------------------------

    def replay(self, after: int = 0) -> Iterator[tuple[int, bytes]]:
        """Yield ``(seq, payload)`` of every durable entry with ``seq > after``, in order."""
        segments = self.segments()
        for index, path in enumerate(segments):
            following = segments[index + 1] if index + 1 < len(segments) else None
            if following is not None and int(following.stem) <= after + 1:
                continue  # every entry of this segment is at or below ``after``
            end = 0
            for _offset, seq, entry_end, payload in _scan(path):
                end = entry_end
                if seq > after and seq <= self.synced_seq:
                    yield seq, payload
            if following is not None and end < path.stat().st_size:
                raise StoreError(f"WAL segment {path} is corrupt at byte {end}")

    def truncate_before(self, seq: int, *, limit: int | None = None) -> int:
        """Delete whole segments whose entries are all below ``seq``; returns how many.

        The oldest go first, at most ``limit`` of them. Safe while another thread appends:
        the segment being written is the newest, and the newest is never deleted.

        >>> import tempfile
        >>> with WriteAheadLog(tempfile.mkdtemp(), segment_bytes=8, fsync=False) as wal:
        ...     for _ in range(4):  # a segment each
        ...         _ = wal.append(b"0123456789"), wal.sync()
        ...     wal.truncate_before(4, limit=2), len(wal.segments())
        (2, 2)
        """
        doomed: list[Path] = []
        for path, following in itertools.pairwise(self.segments()):
            if int(following.stem) > seq or (limit is not None and len(doomed) >= limit):
                break
            doomed.append(path.rename(path.with_suffix(_TRIM_SUFFIX)))
        if doomed:
            self._release(doomed)
        return len(doomed)

    def _release(self, trimmed: list[Path]) -> None:
        """Delete renamed-out segments, a :data:`RELEASE_STEP` at a time when fsyncing.

        The renames are made durable first: after a crash a segment is either whole under
        its old name (trimmed again later) or a ``.trim`` file (finished on open), never a
        half-shrunk segment that would read as corruption.
        """
        if self.fsync:
            _fsync_dir(self.folder)
            for path in trimmed:
                _shrink(path, RELEASE_STEP)
        for path in trimmed:
            path.unlink(missing_ok=True)
        if self.fsync:
            _fsync_dir(self.folder)

    def close(self) -> None:
        """Sync and close the current segment."""
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None
