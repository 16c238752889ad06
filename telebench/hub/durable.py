"""Group commit: the hub's path from decoded records to an fsync'd write-ahead log.

Connections hand NDJSON payloads to :meth:`GroupCommit.submit` from the event loop and get
a future. One writer thread appends everything submitted since its last round to the WAL,
fsyncs once, and resolves all those futures together in a single loop callback; while it
fsyncs, new payloads pile up for the next round. So one fsync acks many packets, and the
event loop never blocks on the disk.

Durable entries are also kept in memory (:meth:`take_unflushed`) for the flush thread that
turns them into Parquet; after a crash the same entries come back from the WAL replay.

Examples
--------
>>> import asyncio, tempfile
>>> from telebench.store.wal import WriteAheadLog
>>> async def main() -> list[tuple[int, bytes]]:
...     commit = GroupCommit(WriteAheadLog(tempfile.mkdtemp()), asyncio.get_running_loop())
...     seq = await commit.submit(b'{"ident":"1","timestamp":1.0}\\n')
...     commit.close()
...     commit.wal.close()
...     return commit.take_unflushed()
>>> asyncio.run(main())
[(1, b'{"ident":"1","timestamp":1.0}\\n')]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from telebench.errors import StoreError
from telebench.store.wal import WriteAheadLog

__all__ = ["GroupCommit", "read_checkpoint", "write_checkpoint"]


class GroupCommit:
    """Append payloads to a WAL from an event loop, one fsync per round (see module doc)."""

    def __init__(
        self,
        wal: WriteAheadLog,
        loop: asyncio.AbstractEventLoop,
        on_durable: Callable[[int], None] | None = None,
    ) -> None:
        self.wal = wal
        self.loop = loop
        self.on_durable = on_durable  # told the last durable seq after each round (streams)
        self.lock = threading.Lock()  # guards the WAL against the flush thread's truncation
        self._cond = threading.Condition()
        self._queue: list[tuple[bytes, asyncio.Future[int]]] = []
        self._unflushed: list[tuple[int, bytes]] = []
        self._closing = False
        self.failure: StoreError | None = None
        self._thread = threading.Thread(target=self._run, name="telebench-wal", daemon=True)
        self._thread.start()

    def submit(self, payload: bytes) -> asyncio.Future[int]:
        """Queue ``payload``; the future resolves to its WAL seq once it is fsync'd."""
        future: asyncio.Future[int] = self.loop.create_future()
        with self._cond:
            if self.failure is not None or self._closing:
                future.set_exception(self.failure or StoreError("the hub is stopping"))
                return future
            self._queue.append((payload, future))
            self._cond.notify()
        return future

    def take_unflushed(self) -> list[tuple[int, bytes]]:
        """Hand every durable-but-unflushed ``(seq, payload)`` to the caller, oldest first."""
        with self._cond:
            taken, self._unflushed = self._unflushed, []
        return taken

    def restore_unflushed(self, entries: list[tuple[int, bytes]]) -> None:
        """Give back entries a failed flush took, ahead of newer ones."""
        with self._cond:
            self._unflushed[:0] = entries

    def close(self) -> None:
        """Commit what is queued, stop the writer thread (the WAL stays open)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                batch, self._queue = self._queue, []
                if not batch and self._closing:
                    return
            self._commit(batch)

    def _commit(self, batch: list[tuple[bytes, asyncio.Future[int]]]) -> None:
        try:
            with self.lock:
                seqs = [self.wal.append(payload) for payload, _ in batch]
                self.wal.sync()
        except (StoreError, OSError) as exc:
            # The disk failed: nothing in this round is acked, and nothing later will be.
            error = exc if isinstance(exc, StoreError) else StoreError(f"WAL write failed: {exc}")
            self.failure = error
            self._resolve_soon([(future, error) for _, future in batch])
            return
        with self._cond:
            self._unflushed.extend(zip(seqs, (payload for payload, _ in batch), strict=True))
        if self.on_durable is not None:
            self.on_durable(seqs[-1])
        self._resolve_soon([(future, seq) for seq, (_, future) in zip(seqs, batch, strict=True)])

    def _resolve_soon(self, results: list[tuple[asyncio.Future[int], int | StoreError]]) -> None:
        # A closed loop (RuntimeError) means nobody waits for these acks any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_resolve, results)


def _resolve(results: list[tuple[asyncio.Future[int], int | StoreError]]) -> None:
    for future, outcome in results:
        if future.done():
            continue
        if isinstance(outcome, StoreError):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def read_checkpoint(path: Path) -> int:
    """The last WAL seq whose records are in the Parquet dataset (0 when none).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "wal.checkpoint"
    >>> write_checkpoint(p, 42); read_checkpoint(p)
    42
    """
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return 0
    if not text.isdigit():
        raise StoreError(f"{path}: expected a WAL sequence number, found {text[:40]!r}")
    return int(text)


def write_checkpoint(path: Path, seq: int) -> None:
    """Atomically and durably record that everything up to ``seq`` is in Parquet."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="ascii") as fh:
        fh.write(f"{seq}\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
