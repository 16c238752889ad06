"""Group commit: the hub's path from decoded records to an fsync'd write-ahead log.

Connections hand NDJSON payloads to :meth:`GroupCommit.add` from the event loop and get a
:class:`Ticket` (:meth:`GroupCommit.submit` wraps it in a future). One writer thread
appends everything submitted since its last round to the WAL, fsyncs once, and hands the
round back to the loop, which settles all its tickets together (:meth:`GroupCommit.settle`,
from a callback or, sooner, between two packets) and calls each connection back
directly; while it fsyncs, new payloads pile up for the next round. So one fsync acks many
packets, the event loop never blocks on the disk, and a packet costs the loop no future
and no callback of its own.

Durable entries are also kept in memory (:meth:`take`) for the flush thread that turns
them into Parquet; after a crash the same entries come back from the WAL replay.

When the flusher falls behind (a machine short of CPU), the entries would pile up in
memory. At most ``memory_limit`` bytes of them are kept: past it, newer entries are left
in the WAL, where they are durable anyway, and :meth:`read_spilled` reads them back for
the flusher in order (a failed flush gives back everything from its first unwritten
entry the same way, :meth:`restore_from`).

A fast disk makes rounds small: with an fsync of 0.3 ms, rounds of about two packets,
and the writer thread spent a quarter of a core, mostly in the kernel, at 50,000 records
a second. With ``round_interval`` set, a round that finds payloads already waiting (they
came while the last one was written: the hub is busy) starts no sooner than that long
after the last one, so one fsync acks every packet of the interval. This is PostgreSQL's
``commit_delay`` with its ``commit_siblings`` check: a lone device, whose next packet waits
for this ack, never waits.

Backpressure: with ``max_backlog`` set, once more bytes than that are durable but not yet
in Parquet, finished rounds are held: the WAL has them, but their acks wait, so devices
(one packet in flight) stop sending until the flusher, reporting each write with
:meth:`flushed`, is back under half the limit. ``on_hold(held, backlog)`` is told of each
change (from the writer or the flush thread).

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
import functools
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from telebench.errors import StoreError, TelebenchError
from telebench.store.wal import WriteAheadLog

__all__ = ["GroupCommit", "Ticket", "read_checkpoint", "write_checkpoint"]

_log = logging.getLogger(__name__)


class Ticket:
    """What became of one submitted payload; settled in the event loop when its round ends.

    ``seq`` is its WAL sequence number once durable; ``error`` the reason it is not (a
    :class:`~telebench.errors.StoreError`, or for records decoded off the loop, the
    protocol error that kept them from being stored).
    """

    __slots__ = ("done", "error", "seq")

    def __init__(self) -> None:
        self.done = False
        self.seq = 0
        self.error: TelebenchError | None = None


_Waiting = tuple[bytes, Ticket, "Callable[[Ticket], None] | None"]
_Round = tuple[list[_Waiting], "list[int] | None", "StoreError | None"]


class GroupCommit:
    """Append payloads to a WAL from an event loop, one fsync per round (see module doc)."""

    def __init__(
        self,
        wal: WriteAheadLog,
        loop: asyncio.AbstractEventLoop,
        on_durable: Callable[[int], None] | None = None,
        *,
        max_backlog: int | None = None,
        on_hold: Callable[[bool, int], None] | None = None,
        memory_limit: int | None = None,
        round_interval: float = 0.0,
    ) -> None:
        self.wal = wal
        self.round_interval = round_interval  # s between the starts of two busy rounds
        self._round_started = -math.inf
        self._busy = False  # payloads came while the last round was written
        self.loop = loop
        self.on_durable = on_durable  # told the last durable seq after each round (streams)
        self.max_backlog = max_backlog
        self.on_hold = on_hold
        self.backlog = 0  # bytes durable, not yet reported flushed (guarded by _cond)
        self.holding = False  # finished rounds wait in _settled: their acks are held
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Waiting] = []
        self._idle = False  # the writer waits for work: the next payload must wake it
        self._unflushed: list[tuple[int, bytes]] = []
        self.memory_limit = memory_limit
        self._in_memory = 0  # bytes of _unflushed
        self._spill_from: int | None = None  # first unflushed seq left in the WAL only
        self._last = 0  # last durable seq with a payload
        # Rounds the writer finished, for the loop to settle (appended by the writer only).
        self._settled: deque[_Round] = deque()
        self._closing = False
        self.failure: StoreError | None = None
        self._thread = threading.Thread(target=self._run, name="telebench-wal", daemon=True)
        self._thread.start()

    def add(
        self,
        payload: bytes,
        on_done: Callable[[Ticket], None] | None = None,
        *,
        ticket: Ticket | None = None,
    ) -> Ticket:
        """Queue ``payload``; ``on_done(ticket)`` runs in the loop once its round is over.

        The cheap path for connections (no future, no extra loop callback per packet). A
        ticket that comes back already ``done`` failed at once: ``on_done`` is not called.
        An empty ``payload`` writes nothing: its ticket settles with the next round, after
        everything submitted before it (the ack of a resent duplicate waits for the
        original's fsync). ``ticket`` settles a ticket handed out earlier (decoder process).
        """
        ticket = Ticket() if ticket is None else ticket
        with self._cond:
            if self.failure is not None or self._closing:
                ticket.done = True
                ticket.error = self.failure or StoreError("the hub is stopping")
                return ticket
            self._queue.append((payload, ticket, on_done))
            if self._idle:
                self._idle = False
                self._cond.notify()
        return ticket

    def submit(self, payload: bytes) -> asyncio.Future[int]:
        """Queue ``payload``; the future resolves to its WAL seq once it is fsync'd."""
        future: asyncio.Future[int] = self.loop.create_future()
        ticket = self.add(payload, functools.partial(_settle, future))
        if ticket.done:
            _settle(future, ticket)
        return future

    def take(self) -> tuple[list[tuple[int, bytes]], tuple[int, int] | None]:
        """Hand over every durable-but-unflushed entry: those in memory, oldest first, then
        the ``(first, last)`` seqs of those left in the WAL (``None`` if none were)."""
        with self._cond:
            taken, self._unflushed, self._in_memory = self._unflushed, [], 0
            first, self._spill_from = self._spill_from, None
            last = self._last
        return taken, (first, last) if first is not None and first <= last else None

    def take_unflushed(self) -> list[tuple[int, bytes]]:
        """:meth:`take` with the spilled entries read back: every one, oldest first."""
        taken, spilled = self.take()
        return taken + (list(self.read_spilled(spilled)) if spilled else [])

    def read_spilled(self, seqs: tuple[int, int]) -> Iterator[tuple[int, bytes]]:
        """Read the entries ``seqs`` (first, last) back from the WAL, in order."""
        first, last = seqs
        for seq, payload in self.wal.replay(after=first - 1):
            if seq > last:
                return
            yield seq, payload

    def restore_from(self, seq: int) -> None:
        """A flush failed at ``seq``: every entry from it on is to be flushed again (all
        are in the WAL, so those still in memory are dropped and read back from it)."""
        with self._cond:
            if self._spill_from is None or seq < self._spill_from:
                self._spill_from = seq
            self._unflushed, self._in_memory = [], 0

    def flushed(self, nbytes: int) -> None:
        """Count ``nbytes`` of taken entries as in Parquet; may release held acks."""
        with self._cond:
            self.backlog -= nbytes
            release = self.holding and self.backlog <= (self.max_backlog or 0) // 2
            if release:
                self.holding = False
            backlog = self.backlog
        if release:
            self._tell_hold(False, backlog)
            with contextlib.suppress(RuntimeError):  # closed loop: nobody waits any more
                self.loop.call_soon_threadsafe(self.settle)

    def release(self) -> None:
        """Stop holding acks for good (the hub is stopping: let every ack out); in the loop."""
        with self._cond:
            self.max_backlog = None
            was, self.holding = self.holding, False
            backlog = self.backlog
        if was:
            self._tell_hold(False, backlog)
        self.settle()

    def _tell_hold(self, held: bool, backlog: int) -> None:
        if held:
            _log.warning("acks held: %d MB acked but not yet in Parquet", backlog >> 20)
        else:
            _log.info("acks released: %d MB not yet in Parquet", backlog >> 20)
        if self.on_hold is not None:
            self.on_hold(held, backlog)

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
                    self._idle = True
                    self._cond.wait()
                self._idle = False
                # Under load a round waits to gather more (adds don't wake it; close does).
                # A lone device, whose next packet waits for this ack, never waits.
                wait = self._round_started + self.round_interval - time.monotonic()
                if self._busy and wait > 0 and not self._closing:
                    self._cond.wait(wait)
                self._round_started = time.monotonic()
                batch, self._queue = self._queue, []
                if not batch and self._closing:
                    return
            self._commit(batch)

    def _commit(self, batch: list[_Waiting]) -> None:
        try:
            seq = self.wal.last_seq
            self.wal.append_many([payload for payload, _, _ in batch if payload])
            self.wal.sync()
            seqs = []
            for payload, _, _ in batch:  # an empty payload gets the seq before it
                seq += bool(payload)
                seqs.append(seq)
        except (StoreError, OSError) as exc:
            # The disk failed: nothing in this round is acked, and nothing later will be.
            error = exc if isinstance(exc, StoreError) else StoreError(f"WAL write failed: {exc}")
            self.failure = error
            self._resolve_soon(batch, None, error)
            return
        entries = [(seq, p) for seq, (p, _, _) in zip(seqs, batch, strict=True) if p]
        if entries:
            held = False
            nbytes = sum(len(p) for _, p in entries)
            with self._cond:
                self._last = entries[-1][0]
                room = self.memory_limit
                full = room is not None and self._in_memory + nbytes > room
                if full and self._spill_from is None:  # the WAL keeps them from here on
                    self._spill_from = entries[0][0]
                if self._spill_from is None:
                    self._unflushed.extend(entries)
                    self._in_memory += nbytes
                self.backlog += nbytes
                limit = self.max_backlog
                if limit is not None and not self.holding and self.backlog > limit:
                    self.holding = held = True
                backlog = self.backlog
            if held:
                self._tell_hold(True, backlog)
            if self.on_durable is not None:
                self.on_durable(entries[-1][0])
        with self._cond:  # before the acks go: a lone device's next packet waits for its ack
            self._busy = bool(self._queue)
        self._resolve_soon(batch, seqs, None)

    def _resolve_soon(
        self, batch: list[_Waiting], seqs: list[int] | None, error: StoreError | None
    ) -> None:
        self._settled.append((batch, seqs, error))
        # A closed loop (RuntimeError) means nobody waits for these acks any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.settle)

    def settle(self) -> None:
        """Settle every round the writer has finished (in the loop; cheap when none has).

        Connections call it after each packet too: an event-loop iteration first reads
        every ready socket (thousands under load) and only then runs callbacks, so acks
        left to the callback alone would wait for the whole iteration's reading. While acks
        are held (module doc) it settles nothing; the flusher calls it again on release.
        """
        settled = self._settled
        while settled and not self.holding:
            self._resolve(*settled.popleft())

    def _resolve(
        self, batch: list[_Waiting], seqs: list[int] | None, error: StoreError | None
    ) -> None:
        """Settle a round's tickets and run their callbacks (in the loop, one call a round)."""
        for index, (_, ticket, on_done) in enumerate(batch):
            ticket.done = True
            if seqs is None:
                ticket.error = error
            else:
                ticket.seq = seqs[index]
            if on_done is None:
                continue
            try:
                on_done(ticket)
            except Exception as exc:  # one broken connection must not hold back the others
                self.loop.call_exception_handler(
                    {"message": "group commit callback failed", "exception": exc}
                )


def _settle(future: asyncio.Future[int], ticket: Ticket) -> None:
    if future.done():
        return
    if ticket.error is not None:
        future.set_exception(ticket.error)
    else:
        future.set_result(ticket.seq)


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
