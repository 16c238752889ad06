"""The delivery engine: one worker thread per enabled stream, POSTing batches over HTTP.

Lifecycle (what the hub calls)::

    reader = WalReader(store_dir / "wal", upto=lambda: wal.synced_seq)
    delivery = StreamDelivery(store_dir, reader, logs).start()   # after WAL recovery
    delivery.notify(seq)     # after each group commit (cheap, thread-safe): wakes workers
    floor = delivery.min_cursor()   # WAL trimming: keep every entry > floor (None: any)
    delivery.stop()          # before closing the WAL and the log store

A supervisor thread reloads the stream registry when it changes (so ``telebench streams
add`` reaches a running hub within ``reload_interval``) and refreshes the device ids that
``devices:`` subscriptions select. Each worker loops: read the WAL after its cursor, cut
the next batch (one per ident for ``%ident%`` URIs, sent in parallel), POST it, and only
on a **200** advance and persist the cursor. Any other answer, a timeout or a connection
error leaves the cursor where it was; the worker waits an exponential backoff with jitter
and rebuilds the batch from the cursor up to the failed batch's end (the WAL may have grown
meanwhile), so a retried batch has the same messages and the same ``X-Telebench-Batch`` id
(unless messages expired meanwhile). Messages older than
``queue_ttl`` (by ``server.timestamp``) are dropped with a ``stream.dropped`` log entry.
A restart resumes from the persisted cursor: at-least-once delivery, where the only
duplicates are batches whose 200 was lost, recognisable by their batch id.

``%ident%`` streams work in rounds: each round cuts at most one batch per ident from a
window of about 20,000 messages after the stream's base cursor and POSTs them in parallel
(``parallel`` at once). Idents answered 200 move on; failed idents keep their cursor and
are retried in the next round, after the backoff. That backoff delays the whole stream,
and windows start at the slowest ident, so an ident whose receiver keeps failing holds the
others back to within one window of it (until its messages pass ``queue_ttl``); nothing
is ever reordered or skipped.

Log events: ``stream.batch`` (detail: stream, batch, read, accepted, rejected, dropped,
skipped, status, latency), ``stream.failed`` (same, reason = the error), ``stream.dropped``
and ``stream.gap`` (WAL entries were trimmed before the stream read them).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Protocol, Self

import orjson

from telebench.store.registry import DeviceRegistry
from telebench.streams._worker import BATCH_HEADER, Reader, Worker
from telebench.streams.config import StreamConfig, parse_subscription
from telebench.streams.state import StreamState, stream_state
from telebench.streams.store import StreamStore

__all__ = ["BATCH_HEADER", "StreamDelivery"]


class EventLog(Protocol):
    """What delivery needs of :class:`telebench.store.logs.LogStore`."""

    def add(self, event: str, *, ident: str | None = ..., reason: str | None = ...,
            detail: str | None = ...) -> None: ...  # fmt: skip


class StreamDelivery:
    """Deliver every enabled stream of ``store_dir`` (module doc).

    Parameters
    ----------
    store_dir:
        The hub store (``streams.sqlite`` and ``devices.sqlite`` live there).
    wal_reader:
        ``reader(after, limit) -> [(seq, payload)]`` over durable WAL entries, e.g.
        :class:`~telebench.streams.walreader.WalReader`.
    logs:
        Where per-batch log entries go (a ``LogStore``), or ``None``.
    backoff:
        ``(first, max)`` retry delays in seconds; attempt ``n`` waits a random time in
        ``[d/2, d]`` with ``d = min(max, first * 2**(n-1))``.
    reload_interval:
        How often the registry is checked for changes, and idle workers poll the WAL.
    parallel:
        Batches in flight at once for a ``%ident%`` stream (one per ident).
    """

    def __init__(
        self,
        store_dir: str | Path,
        wal_reader: Reader,
        logs: EventLog | None = None,
        *,
        registry: DeviceRegistry | None = None,
        backoff: tuple[float, float] = (0.5, 30.0),
        reload_interval: float = 1.0,
        parallel: int = 8,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.store = StreamStore(self.store_dir)
        self.reader = wal_reader
        self.logs = logs
        self.backoff = backoff
        self.reload_interval = reload_interval
        self.parallel = parallel
        self._registry = registry
        self._own_registry = False
        self._head: int | None = None
        self._workers: dict[str, Worker] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._revision = -1
        self._lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the supervisor (and a worker per enabled stream); returns ``self``."""
        self._sync()
        self._thread = threading.Thread(target=self._supervise, name="telebench-streams")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop every worker (an in-flight request may take up to its timeout) and close."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.halt()
        for worker in workers:
            worker.join()
        self.store.close()
        if self._own_registry and self._registry is not None:
            self._registry.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def notify(self, seq: int) -> None:
        """WAL entries up to ``seq`` are durable: wake the workers (cheap, thread-safe)."""
        if self._head is None or seq > self._head:
            self._head = seq
        for worker in list(self._workers.values()):
            worker.wake.set()

    def min_cursor(self) -> int | None:
        """WAL seq up to which every enabled stream is done (see ``StreamStore.min_cursor``)."""
        return self.store.min_cursor()

    def head(self) -> int | None:
        """The newest durable WAL seq, or ``None`` before the first :meth:`notify`."""
        head_of = getattr(self.reader, "head", None)
        if callable(head_of):
            value = head_of()
            return int(value) if isinstance(value, int) else None
        return self._head

    def states(self) -> dict[str, StreamState]:
        """Each stream's state (cursor, queue size, lag, counters, last error)."""
        now = time.time()
        return {c.name: stream_state(self.store, self.reader, c.name, now=now)
                for c in self.store.list()}  # fmt: skip

    # --- supervisor ---------------------------------------------------------------------------

    def _supervise(self) -> None:
        while not self._stop.wait(self.reload_interval):
            try:
                self._sync()
            except Exception as exc:  # a broken registry must not kill delivery
                self.log_event("stream.failed", None, reason=f"registry reload failed: {exc}")

    def _devices(self, cfg: StreamConfig) -> set[int] | None:
        selectors = [v for k, v in map(parse_subscription, cfg.subscriptions) if k == "devices"]
        if not selectors:
            return None
        if self._registry is None:
            self._registry = DeviceRegistry(self.store_dir / "devices.sqlite")
            self._own_registry = True
        return {d.id for s in selectors for d in self._registry.select(str(s))}

    def _sync(self) -> None:
        revision = self.store.revision()
        configs = {c.name: c for c in self.store.list()} if revision != self._revision else None
        with self._lock:
            if configs is not None:
                self._revision = revision
                for name in [n for n, w in self._workers.items() if _gone(configs, n, w)]:
                    self._workers.pop(name).halt()
                for cfg in configs.values():
                    worker = self._workers.get(cfg.name)
                    if worker is not None:
                        worker.config = cfg
                    elif cfg.enabled:
                        worker = Worker(self, cfg, self.store.uid(cfg.name))
                        self._workers[cfg.name] = worker
                        worker.start()
            for worker in self._workers.values():
                worker.devices = self._devices(worker.config)

    def log_event(self, event: str, ident: str | None, *, reason: str, **detail: Any) -> None:
        """Add a log entry (``detail`` as JSON) when the engine has a log store."""
        if self.logs is not None:
            text = orjson.dumps(detail).decode() if detail else None
            self.logs.add(event, ident=ident, reason=reason, detail=text)


def _gone(configs: dict[str, StreamConfig], name: str, worker: Worker) -> bool:
    cfg = configs.get(name)
    return cfg is None or not cfg.enabled or worker.uid != worker.engine.store.uid(name)
