"""One stream's worker: its thread reads the WAL after the cursor, POSTs, commits on 200.

:class:`~telebench.streams.delivery.StreamDelivery` starts and halts workers; the loop,
its rounds for ``%ident%`` streams and its retries are described in that module's doc.
"""

from __future__ import annotations

import functools
import random
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final, Protocol

import httpx

from telebench.streams.batches import Batch, Window, plan, read_window
from telebench.streams.config import StreamConfig
from telebench.streams.filters import compile_filter
from telebench.streams.store import LINE_BITS, StreamStore, position

__all__ = ["BATCH_HEADER", "Engine", "Reader", "Worker"]

#: Header carrying the batch id; a receiver that saw it already can drop the batch.
BATCH_HEADER: Final = "X-Telebench-Batch"
#: ``reader(after, limit) -> [(seq, payload)]`` over durable WAL entries.
Reader = Callable[[int, int], list[tuple[int, bytes]]]
_PER_IDENT_WINDOW: Final = 20_000


class Engine(Protocol):
    """What a worker needs of the delivery engine that runs it."""

    store: StreamStore
    reader: Reader
    backoff: tuple[float, float]
    reload_interval: float
    parallel: int

    def head(self) -> int | None: ...

    def log_event(self, event: str, ident: str | None, *, reason: str, **detail: Any) -> None: ...


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Built once: loading the CA bundle costs tens of ms, and workers come and go.
    return httpx.create_ssl_context()


class Worker:
    """Delivers one stream: a thread looping read, POST, commit (see the module doc)."""

    def __init__(self, engine: Engine, config: StreamConfig, uid: str) -> None:
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
            self.engine.log_event("stream.failed", None, reason=str(exc), stream=cfg.name)
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
            self.engine.log_event(
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
        self.engine.log_event(
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
                    self.engine.log_event("stream.dropped", batch.key or None, reason="queue_ttl",
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
