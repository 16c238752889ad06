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

import functools
import random
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, Protocol, Self

import httpx
import orjson

from telebench.store.registry import DeviceRegistry
from telebench.streams.batches import Batch, Window, plan, read_window
from telebench.streams.config import StreamConfig, parse_subscription
from telebench.streams.filters import compile_filter
from telebench.streams.state import StreamState, stream_state
from telebench.streams.store import LINE_BITS, StreamStore, position

__all__ = ["BATCH_HEADER", "StreamDelivery"]

#: Header carrying the batch id; a receiver that saw it already can drop the batch.
BATCH_HEADER: Final = "X-Telebench-Batch"
Reader = Callable[[int, int], list[tuple[int, bytes]]]
_PER_IDENT_WINDOW: Final = 20_000


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
        self._workers: dict[str, _Worker] = {}
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
                self._log("stream.failed", None, reason=f"registry reload failed: {exc}")

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
                        worker = _Worker(self, cfg, self.store.uid(cfg.name))
                        self._workers[cfg.name] = worker
                        worker.start()
            for worker in self._workers.values():
                worker.devices = self._devices(worker.config)

    def _log(self, event: str, ident: str | None, *, reason: str, **detail: Any) -> None:
        if self.logs is not None:
            text = orjson.dumps(detail).decode() if detail else None
            self.logs.add(event, ident=ident, reason=reason, detail=text)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Built once: loading the CA bundle costs tens of ms, and workers come and go.
    return httpx.create_ssl_context()


def _gone(configs: dict[str, StreamConfig], name: str, worker: _Worker) -> bool:
    cfg = configs.get(name)
    return cfg is None or not cfg.enabled or worker.uid != worker.engine.store.uid(name)


class _Worker:
    """Delivers one stream; see the module doc for the loop."""

    def __init__(self, engine: StreamDelivery, config: StreamConfig, uid: str) -> None:
        self.engine = engine
        self.config = config
        self.uid = uid
        self.devices: set[int] | None = None
        self.wake = threading.Event()
        self.halted = threading.Event()
        self.client = httpx.Client(
            limits=httpx.Limits(max_connections=engine.parallel),
            timeout=config.timeout,
            verify=_ssl_context(),
        )
        self.pool = ThreadPoolExecutor(engine.parallel, thread_name_prefix=f"stream-{config.name}")
        self.thread = threading.Thread(target=self._run, name=f"telebench-stream-{config.name}")
        self.thread.daemon = True
        self.attempt = 0
        self.prefetch: tuple[tuple[int, StreamConfig], Future[Window | None]] | None = None
        # key -> end of its batch that failed: the retry resends exactly that batch, so a
        # receiver that stored it before its 200 was lost can recognise the batch id.
        self.retry: dict[str, int] = {}

    def start(self) -> None:
        self.thread.start()

    def halt(self) -> None:
        self.halted.set()
        self.wake.set()

    def join(self) -> None:
        self.thread.join(timeout=self.config.timeout + 5)

    def _run(self) -> None:
        try:
            while not self.halted.is_set():
                self.wake.clear()
                outcome = self._step()
                if outcome == "failed":
                    self.attempt += 1
                    self.halted.wait(self._delay())
                elif outcome == "idle":
                    self.attempt = 0
                    self.wake.wait(self.engine.reload_interval)
                else:
                    self.attempt = 0
        finally:
            self.pool.shutdown(wait=True)
            self.client.close()

    def _delay(self) -> float:
        first, top = self.engine.backoff
        delay = min(top, first * 2 ** min(self.attempt - 1, 30))
        return random.uniform(delay / 2, delay)

    def _step(self) -> str:
        cfg = self.config
        try:
            return self._round(cfg)
        except Exception as exc:  # a bad filter, a store error: retried after a backoff
            self.engine.store.commit(
                cfg.name,
                self.engine.store.base(cfg.name) or 0,
                {},
                {"failures": 1, "last_error": str(exc), "last_error_time": time.time()},
                uid=self.uid,
            )
            self.engine._log("stream.failed", None, reason=str(exc), stream=cfg.name)
            return "failed"

    def _start_pos(self, name: str) -> int | None:
        store = self.engine.store
        base = store.base(name)
        if base is None:
            head = self.engine.head()
            if head is None:
                return None
            store.start_at(name, position(head + 1))
            base = store.base(name)
        return base

    def _round(self, cfg: StreamConfig) -> str:
        store = self.engine.store
        base = self._start_pos(cfg.name)
        if base is None:
            return "idle"
        idents = store.ident_cursors(cfg.name) if cfg.per_ident else {}
        columns = compile_filter(cfg.filter).columns if cfg.filter else ()
        lines = max(cfg.limit_messages, _PER_IDENT_WINDOW) if cfg.per_ident else cfg.limit_messages
        ahead, self.prefetch = self.prefetch, None
        window = None
        if ahead is not None and ahead[0] == (base, cfg):
            window = ahead[1].result()
        if window is None:
            window = read_window(self.engine.reader, base, max_lines=lines, columns=columns)
        if window is None:
            return "idle"
        if window.first_seq > base >> LINE_BITS:
            self.engine._log(
                "stream.gap", None, reason="WAL entries trimmed before delivery",
                stream=cfg.name, after=(base >> LINE_BITS) - 1, first=window.first_seq,
            )  # fmt: skip
        batches = plan(
            window, cfg, base=base, idents=idents, devices=self.devices, now=time.time(),
            retry=self.retry,
        )  # fmt: skip
        if len(batches) == 1 and batches[0].count and not cfg.per_ident:
            # Read the next window while this batch is in flight (used only after a 200).
            end = batches[0].end
            future = self.pool.submit(
                read_window, self.engine.reader, end, max_lines=lines, columns=columns
            )
            self.prefetch = ((end, cfg), future)
        results = self._send_all(cfg, batches)
        return self._commit(cfg, window, base, idents, batches, results)

    def _send_all(self, cfg: StreamConfig, batches: list[Batch]) -> list[tuple[int | None, str]]:
        sending = [b for b in batches if b.count]
        if len(sending) <= 1:
            sent = [self._post(cfg, b) for b in sending]
        else:
            sent = list(self.pool.map(lambda b: self._post(cfg, b), sending))
        by_key = {b.key: r for b, r in zip(sending, sent, strict=True)}
        return [by_key.get(b.key, (200, "")) for b in batches]

    def _post(self, cfg: StreamConfig, batch: Batch) -> tuple[int | None, str]:
        batch_id = batch.batch_id(cfg.name, self.uid)
        url = cfg.render_uri(batch.key) if cfg.per_ident else cfg.uri
        headers = {
            **cfg.headers,
            "Content-Type": "application/json",
            BATCH_HEADER: batch_id,
            "X-Telebench-Stream": cfg.name,
        }
        started = time.perf_counter()
        status: int | None = None
        try:
            response = self.client.post(url, content=batch.body, headers=headers,
                                        timeout=cfg.timeout)  # fmt: skip
            status = response.status_code
            error = "" if status == 200 else f"HTTP {status}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc or 'no response'}"
        latency = round(time.perf_counter() - started, 6)
        event, reason = ("stream.batch", "200") if status == 200 else ("stream.failed", error)
        accepted = batch.count if status == 200 else 0
        self.engine._log(
            event, batch.key or None, reason=reason, stream=cfg.name, batch=batch_id,
            read=batch.count + batch.dropped + batch.skipped, accepted=accepted,
            rejected=batch.count - accepted, dropped=batch.dropped, skipped=batch.skipped,
            status=status, latency=latency,
        )  # fmt: skip
        return status, error

    def _commit(
        self,
        cfg: StreamConfig,
        window: Window,
        base: int,
        idents: dict[str, int],
        batches: list[Batch],
        results: list[tuple[int | None, str]],
    ) -> str:
        cursors: dict[str, int] = {}
        counters: dict[str, Any] = dict.fromkeys(("delivered", "batches", "dropped", "skipped"), 0)
        counters["failures"] = 0
        for batch, (status, error) in zip(batches, results, strict=True):
            if status == 200:
                self.retry.pop(batch.key, None)
                cursors[batch.key] = batch.end
                counters["delivered"] += batch.count
                counters["batches"] += 1 if batch.count else 0
                counters["dropped"] += batch.dropped
                counters["skipped"] += batch.skipped
                if batch.dropped:
                    self.engine._log("stream.dropped", batch.key or None, reason="queue_ttl",
                                     stream=cfg.name, count=batch.dropped)  # fmt: skip
            else:
                cursors[batch.key] = max(base, idents.get(batch.key, base))
                if batch.count:
                    self.retry[batch.key] = batch.end
                counters["failures"] += 1
                counters.update(last_error=error, last_error_time=time.time())
            if batch.count:
                counters["last_status"] = status
        if any(b.count for b in batches) and counters["delivered"]:
            counters["last_delivery"] = time.time()
            counters["last_batch"] = batches[-1].batch_id(cfg.name, self.uid)
        stuck = [pos for pos in cursors.values() if pos < window.end]
        new_base = max(base, min(stuck) if stuck else window.end)
        ahead = {k: p for k, p in cursors.items() if k and p > new_base}
        self.engine.store.commit(cfg.name, new_base, ahead, counters, uid=self.uid)
        if counters["failures"]:
            return "failed"
        return "progress"
