"""The flush thread: durable WAL entries become Parquet, telemetry and a checkpoint.

Every ``flush_interval`` seconds (and on demand, before a query) it takes the entries the
group commit made durable, parses their NDJSON in Rust, runs the plugins, writes one
Parquet file per device-date partition, updates telemetry and then advances the
checkpoint. Only then may WAL segments go. A crash between any two steps is repaired at
start-up: files newer than the checkpoint are discarded and the WAL is replayed.
It also compacts partitions and enforces per-device TTL and size caps on their schedules.
Background compaction does one merge (about :data:`SETTLED_ROWS` rows) a pass and comes
back :data:`COMPACT_SPACING` seconds later while more are due, so the event loop, which
shares the CPU, meets a second of merging at a time rather than all of them in a row.

Telemetry is folded in every ``telemetry_interval`` seconds rather than every flush: its
cost grows with the devices heard from, not the messages, and each fold rewrites the
telemetry file (10,000 devices of 21 parameters: about 0.1 s of CPU a fold). Until then
each flushed batch is cut down to the rows that hold some device's newest value
(:func:`newest_rows`), so the wait costs about one row per device, not one per message.
``hub.telemetry()`` folds first, so it is never stale.
``telemetry.checkpoint`` records the WAL seq it covers; at start-up the hub replays the
WAL from there.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Final

import polars as pl

from telebench.hub.config import HubConfig
from telebench.hub.durable import GroupCommit, read_checkpoint, write_checkpoint
from telebench.hub.plugins import Plugin, PluginChain
from telebench.hub.priority import Background
from telebench.hub.stores import Stores
from telebench.store.dataset import MessageDataset
from telebench.store.frames import messages_frame
from telebench.store.logs import LogStore
from telebench.store.newest import newest_rows
from telebench.store.registry import DeviceRegistry
from telebench.store.telemetry import TelemetryStore

__all__ = ["Flusher", "newest_rows"]

_log = logging.getLogger("telebench.hub")
#: WAL segments kept after they are flushed, so restarts can still recognise resends.
KEEP_SEGMENTS: Final = 4
#: WAL segments deleted a flush pass at most. Segments wait for the telemetry fold (30 s
#: of them: 9 at 50,000 records/s), and deleting them all at once took 0.5 s of
#: unlinks and journal commits that the WAL's next fsync, and so every ack, waited for.
TRIM_SEGMENTS: Final = 2
#: Background compaction merges the run of newest files smaller than this, leaving the
#: day's big merged file alone (a full compaction is ``hub.compact(full=True)``).
SMALL_FILE_BYTES: Final = 64 * 2**20
#: ... and with fewer rows than this, merged in groups of about this many rows: a merge
#: holds about 300 B a row in memory, and a merged file stops being merged again.
SETTLED_ROWS: Final = 1_000_000
#: Seconds merged files stay on disk for scans that listed them before the merge.
COMPACT_GRACE: Final = 30.0
#: Seconds between background merges while more are due (see the module doc).
COMPACT_SPACING: Final = 5.0
#: NDJSON bytes of one Parquet write at most (about 130,000 records of the benchmark's).
FLUSH_CHUNK: Final = 64 * 2**20


class Flusher:
    """Moves durable records from the WAL into the Parquet dataset (see module doc)."""

    def __init__(
        self,
        store: Path,
        dataset: MessageDataset,
        telemetry: TelemetryStore,
        registry: DeviceRegistry,
        logs: LogStore,
        plugins: list[Plugin],
        *,
        checkpoint: int,
        flush_interval: float,
        compact_interval: float,
        retention_interval: float,
        telemetry_interval: float = 30.0,
        daily_snapshots: bool = True,
        logs_ttl: float = 30 * 86400.0,
        background_nice: int = 0,
    ) -> None:
        self.store = store
        self.dataset = dataset
        self.telemetry = telemetry
        self.registry = registry
        self.logs = logs
        self.chain = PluginChain(plugins)
        self.checkpoint = checkpoint
        self.flush_interval = flush_interval
        self.compact_interval = compact_interval
        self.retention_interval = retention_interval
        self.telemetry_interval = telemetry_interval
        self.daily_snapshots = daily_snapshots
        self.logs_ttl = logs_ttl
        self.background = Background(background_nice)
        self.telemetry_seq = read_checkpoint(store / "telemetry.checkpoint")
        self._telemetry_frames: list[pl.DataFrame] = []
        self._telemetry_upto = self.telemetry_seq
        self.commit: GroupCommit | None = None
        #: WAL seq up to which every enabled stream has delivered (None: nothing waiting).
        self.streams_floor: Callable[[], int | None] = lambda: None
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._due: dict[str, float] = {}  # chore -> time.monotonic() it is next due

    # --- the thread -------------------------------------------------------------------------

    @classmethod
    def for_hub(cls, config: HubConfig, stores: Stores, checkpoint: int) -> Flusher:
        """The flusher of a hub: its store folder, stores, plugins and intervals."""
        return cls(
            Path(config.store),
            stores.dataset,
            stores.telemetry,
            stores.registry,
            stores.logs,
            list(config.plugins),
            checkpoint=checkpoint,
            flush_interval=config.flush_interval,
            compact_interval=config.compact_interval,
            retention_interval=config.retention_interval,
            telemetry_interval=config.telemetry_interval,
            daily_snapshots=config.daily_snapshots,
            logs_ttl=config.logs_ttl,
            background_nice=config.background_nice,
        )

    def start(self, commit: GroupCommit) -> None:
        """Start flushing what ``commit`` makes durable."""
        self.commit = commit
        self._schedule(time.monotonic())
        self._thread = threading.Thread(target=self._run, name="telebench-flush", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after a last flush; drop compaction leftovers kept for scans.

        After a stop the message folder holds no file twice, so a plain glob of it (DuckDB,
        pandas) reads each message once.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
        self.apply_telemetry()
        self.logs.flush()
        with self.lock:
            self.dataset.reap()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.background.apply()  # Polars starts threads when it first needs them
                self.flush()
                self.trim_wal()
                self.logs.flush()
                self.chore(time.monotonic())
            except Exception as exc:  # keep flushing later; the WAL still holds everything
                _log.exception("flush failed; records stay in the WAL and are retried")
                self.logs.add("flush.error", reason=f"{type(exc).__name__}: {exc}")

    def _schedule(self, now: float) -> None:
        self._due.update(telemetry=now + self.telemetry_interval,
                         compaction=now + self.compact_interval,
                         housekeeping=now + min(self.retention_interval, 60.0))  # fmt: skip

    def chore(self, now: float) -> str | None:
        """Run the first due chore, if any, and return its name (one a flush at most).

        When the chores fall due together (the fold and a compaction, every minute) they run
        a flush apart, not as one long CPU burst that the event loop and its acks wait
        behind. ``now`` is ``time.monotonic()``.
        """
        due = self._due
        if not due:  # not started: the schedule starts now
            self._schedule(now)
        if now >= due["telemetry"]:
            self.apply_telemetry()
            due["telemetry"] = now + self.telemetry_interval
            return "telemetry"
        if now >= due["compaction"]:
            pending = self.compact(max_merges=1)["pending"]
            spacing = COMPACT_SPACING if pending else self.compact_interval
            due["compaction"] = now + min(spacing, self.compact_interval)
            return "compaction"
        if now >= due["housekeeping"]:
            self.housekeeping()
            due["housekeeping"] = now + self.retention_interval
            return "housekeeping"
        return None

    # --- steps ------------------------------------------------------------------------------

    def flush(self) -> int:
        """Flush every durable entry now; returns how many records were written.

        A backlog (a flusher short of CPU, or a stop) is written :data:`FLUSH_CHUNK` bytes
        of NDJSON at a time, so its parse never holds more than that at once; entries the
        group commit left in the WAL (past its memory limit) are read back from it.
        """
        if self.commit is None:
            return 0
        commit, count = self.commit, 0
        with self.lock:
            entries, spilled = commit.take()
            if entries:
                upto = entries[0][0] - 1  # the last seq in Parquet
            elif spilled is not None:
                upto = spilled[0] - 1
            else:
                return 0
            stream = chain(entries, commit.read_spilled(spilled) if spilled else ())
            try:
                for chunk in _chunks(stream):
                    count += self.write_entries(chunk)
                    upto = chunk[-1][0]
                    commit.flushed(sum(len(payload) for _, payload in chunk))
            except BaseException:
                commit.restore_from(upto + 1)
                raise
        return count

    def write_entries(self, entries: list[tuple[int, bytes]]) -> int:
        """Write ``(seq, ndjson)`` entries to Parquet and telemetry, then checkpoint."""
        first, last = entries[0][0], entries[-1][0]
        frame = messages_frame(b"".join(payload for _, payload in entries))
        frame = self.chain.apply(frame, idents_for=self._idents_for, on_error=self._plugin_failed)
        self.dataset.write(frame, first_seq=first, last_seq=last)
        write_checkpoint(self.store / "wal.checkpoint", last)
        self.checkpoint = last
        self._telemetry_frames.append(newest_rows(frame))
        self._telemetry_upto = last
        return frame.height

    def apply_telemetry(self, *, persist: bool = True) -> int:
        """Fold the flushed messages into telemetry now; returns values written.

        ``persist=False`` (a query) folds in memory only: the file and its checkpoint wait
        for the next scheduled fold, and a crash meanwhile replays those entries from the
        WAL, so a query costs no rewrite of the telemetry file.
        """
        with self.lock:
            written = 0
            if self._telemetry_frames:
                frames, self._telemetry_frames = self._telemetry_frames, []
                batch = pl.concat(frames, how="diagonal_relaxed")
                written = self.telemetry.update(batch, persist=False)
            if persist and self.telemetry_seq != self._telemetry_upto:
                self.telemetry.save()
                write_checkpoint(self.store / "telemetry.checkpoint", self._telemetry_upto)
                self.telemetry_seq = self._telemetry_upto
            return written

    def recover_telemetry(self, entries: list[tuple[int, bytes]]) -> None:
        """Re-apply flushed entries the telemetry had not folded in before a crash."""
        missed = [(seq, p) for seq, p in entries if self.telemetry_seq < seq <= self.checkpoint]
        if missed and missed[0][0] > self.telemetry_seq + 1:
            _log.warning(
                "telemetry: WAL entries after %d are gone; some values may be stale",
                self.telemetry_seq,
            )
        if missed:
            self._telemetry_frames.append(frame_of(missed))
            self._telemetry_upto = missed[-1][0]
            self.apply_telemetry()

    def trim_wal(self) -> int:
        """Delete WAL segments everything has taken in, a few a pass; returns how many.

        Parquet, telemetry and every enabled stream must have taken in a segment's entries,
        and the newest :data:`KEEP_SEGMENTS` stay. This runs beside the WAL writer, not
        under a lock of it: only old segments go. The file system still makes the writer's
        fsync wait for a deletion in progress, so segments are released in fsync'd steps
        (see :meth:`~telebench.store.wal.WriteAheadLog.truncate_before`).
        """
        if self.commit is None:
            return 0
        wal = self.commit.wal
        segments = wal.segments()
        if len(segments) <= KEEP_SEGMENTS:
            return 0
        done = min(self.checkpoint, self.telemetry_seq)
        floor = self.streams_floor()
        if floor is not None:  # streams read the WAL: keep what they have not sent
            done = min(done, floor)
        cut = min(done + 1, int(segments[-KEEP_SEGMENTS].stem))
        return wal.truncate_before(cut, limit=TRIM_SEGMENTS)

    def compact(self, *, full: bool = False, max_merges: int | None = None) -> dict[str, int]:
        """Merge each partition's small files (``full``: all its files) into one.

        With ``max_merges``, at most that many merges are done; ``stats["pending"]`` counts
        the ones left for a later call. Resent duplicates are dropped on the way. Merged
        inputs stay readable for :data:`COMPACT_GRACE` seconds so a scan that listed them
        can still finish. Holding the flush lock keeps compaction out of the window between
        a flush's Parquet write and its checkpoint.
        """
        with self.lock:
            if full:
                stats = self.dataset.compact(grace=COMPACT_GRACE)
            else:
                stats = self.dataset.compact(
                    grace=COMPACT_GRACE,
                    small_bytes=SMALL_FILE_BYTES,
                    settled_rows=SETTLED_ROWS,
                    max_merges=max_merges,
                )
        _log.debug("compaction: %s", stats)
        return stats

    def housekeeping(self, now: float | None = None) -> None:
        """The hourly chores: yesterday's snapshot, TTLs and size caps, old log entries."""
        now = time.time() if now is None else now
        if self.daily_snapshots:  # before the TTL, so yesterday is whole in its snapshot
            self.snapshot_yesterday(now)
        self.enforce_retention(now)
        self.logs.prune(now - self.logs_ttl)

    def snapshot_yesterday(self, now: float) -> list[Path]:
        """Snapshot the previous UTC day once (a marker file remembers it is done)."""
        day = dt.datetime.fromtimestamp(now, dt.UTC).date() - dt.timedelta(days=1)
        folder = self.store / "snapshots"
        marker = folder / f".{day.isoformat()}.done"
        if marker.exists():
            return []
        with self.lock:
            paths = self.dataset.snapshot(day, folder)
        folder.mkdir(parents=True, exist_ok=True)
        marker.touch()
        return paths

    def enforce_retention(self, now: float | None = None) -> int:
        """Apply every device's messages TTL and size cap; returns rows dropped."""
        limits = {
            d.ident: (d.messages_ttl, d.messages_rotate)
            for d in self.registry.select("all")
            if d.messages_ttl > 0 or d.messages_rotate > 0
        }
        if not limits:
            return 0
        with self.lock:
            return self.dataset.enforce_retention(limits, time.time() if now is None else now)

    # --- plugins ----------------------------------------------------------------------------

    def _idents_for(self, selector: str) -> set[str] | None:
        if selector == "all":
            return None
        return {d.ident for d in self.registry.select(selector)}

    def _plugin_failed(self, plugin: Plugin, exc: Exception) -> None:
        self.logs.add(
            "plugin.error",
            reason=f"{type(exc).__name__}: {exc}",
            detail=getattr(plugin, "name", type(plugin).__name__),
        )


def _chunks(entries: Iterable[tuple[int, bytes]]) -> Iterator[list[tuple[int, bytes]]]:
    """Runs of ``entries`` of at most :data:`FLUSH_CHUNK` bytes (one entry at least).

    >>> [len(c) for c in _chunks([(1, bytes(FLUSH_CHUNK)), (2, b"x"), (3, b"y")])]
    [1, 2]
    """
    chunk: list[tuple[int, bytes]] = []
    size = 0
    for entry in entries:
        if chunk and size + len(entry[1]) > FLUSH_CHUNK:
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry[1])
    if chunk:
        yield chunk


def frame_of(entries: list[tuple[int, bytes]]) -> pl.DataFrame:
    """The messages of WAL entries as a DataFrame (for tools and tests)."""
    return messages_frame(b"".join(payload for _, payload in entries))
