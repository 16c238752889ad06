"""The embedded hub: ``with telebench.Hub(store=...) as hub: ...`` or ``telebench hub``.

The hub runs its asyncio event loop in a background thread, so a notebook or a test can
start it, point devices at it and query what they sent. The CLI runs the same object and
waits for Ctrl-C or SIGTERM.

Start-up repairs what a crash left (:mod:`telebench.hub.recovery`): Parquet files newer
than the checkpoint are dropped, the WAL entries after it are flushed again, and the
duplicate window is warmed from the WAL, so a resend after a lost ack is not stored twice.

Examples
--------
>>> import tempfile
>>> with Hub(store=tempfile.mkdtemp(), ports=0) as hub:
...     sorted(hub.addresses())[:2]
[('gt06', 'tcp'), ('osmand', 'tcp')]
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

import orjson
import polars as pl

from telebench.errors import ConfigError
from telebench.hub.capture import read_raw
from telebench.hub.config import HubConfig, with_ports
from telebench.hub.core import HubCore
from telebench.hub.durable import GroupCommit
from telebench.hub.eventloop import new_event_loop
from telebench.hub.flusher import Flusher
from telebench.hub.pipeline import RecentMessages
from telebench.hub.recovery import replay
from telebench.hub.stores import Stores, lock_store
from telebench.model import Value
from telebench.store.commands import Command
from telebench.store.registry import DeviceRegistry
from telebench.store.wal import WriteAheadLog
from telebench.streams import StreamDelivery, StreamStore, WalReader

__all__ = ["Hub"]


class Hub:
    """A running telebench hub over one store folder (see the module doc).

    Parameters
    ----------
    store:
        The store folder (default ``data/hub``); overrides ``config.store``.
    config:
        Channels, intervals and plugins (:class:`~telebench.hub.config.HubConfig`).
    ports:
        ``0`` puts every channel on a free port (notebooks, tests: read them back with
        :meth:`port`); a mapping changes some protocols' ports, e.g. ``{"teltonika": 6027}``.
    """

    def __init__(
        self,
        store: str | Path | None = None,
        *,
        config: HubConfig | None = None,
        ports: int | Mapping[str, int] | None = None,
    ):
        config = config or HubConfig()
        if store is not None:
            config = dataclasses.replace(config, store=Path(store))
        if ports == 0:
            config = with_ports(config)
        elif isinstance(ports, Mapping):
            config = with_ports(config, ports)
        elif ports is not None:
            raise ConfigError(f"ports: expected 0 or a protocol -> port mapping, got {ports!r}")
        self.config = config
        self.store = Path(config.store)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._core: HubCore | None = None
        self._commit: GroupCommit | None = None
        self._stores: Stores | None = None
        self._flusher: Flusher | None = None
        self._wal: WriteAheadLog | None = None
        self._streams: StreamDelivery | None = None
        self._stream_store: StreamStore | None = None  # hub.streams, closed with the hub
        self._lock: BinaryIO | None = None
        self.recovered = 0

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Recover the store, open every channel and start serving; returns ``self``."""
        if self._thread is not None:
            raise ConfigError("the hub is already running")
        self._lock = lock_store(self.store)
        try:
            self._launch(*self._recover())
        except BaseException:
            self._thread = None
            self._close_stores()
            raise
        return self

    def _recover(self) -> tuple[RecentMessages, list[bytes]]:
        """Open the stores, repair what a crash left, start the streams; returns the warmed
        duplicate window and the payloads that warmed it (for the decoder processes)."""
        stores = Stores.open(self.store)
        self._stores = stores
        wal = WriteAheadLog(self.store / "wal", fsync=self.config.fsync)
        self._wal = wal
        replayed = replay(self.config, stores, wal)
        flusher = self._flusher = replayed.flusher
        self.recovered = replayed.recovered
        streams = StreamDelivery(
            self.store, WalReader(self.store / "wal", upto=lambda: wal.synced_seq), stores.logs
        )
        flusher.streams_floor = streams.min_cursor
        self._streams = streams.start()
        return replayed.recent, replayed.durable

    def _launch(self, recent: RecentMessages, durable: list[bytes]) -> None:
        """Run the event loop thread and wait until every channel listens."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve,
            args=(recent, durable, ready, failure),
            name="telebench-hub",
            daemon=True,
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]

    def _serve(
        self,
        recent: RecentMessages,
        durable: list[bytes],
        ready: threading.Event,
        failure: list[BaseException],
    ) -> None:
        loop = new_event_loop()
        self._loop = loop
        assert self._wal is not None
        assert self._stores is not None
        assert self._flusher is not None
        notify = self._streams.notify if self._streams else None
        core = HubCore(self.config, loop, self._wal, recent, self._stores, on_durable=notify)
        commit = self._commit = core.commit
        try:
            loop.run_until_complete(core.start(durable))
            durable.clear()
            self._flusher.start(commit)
            self._core = core
        except BaseException as exc:
            failure.append(_bind_error(exc))  # start() joins this thread, then raises it
        ready.set()
        if not failure:
            loop.run_forever()
        loop.run_until_complete(core.stop())
        commit.close()
        loop.close()

    def stop(self) -> None:
        """Close every connection, flush every acked record to Parquet, close the stores."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self._close_stores()

    def _close_stores(self) -> None:
        # The last flush may trim the WAL, which asks the streams how far they are: stop
        # the streams after it.
        if self._flusher is not None and self._flusher.commit is not None:
            self._flusher.stop()
        if self._streams is not None:
            self._streams.stop()
            self._streams = None
        if self._stream_store is not None:
            self._stream_store.close()
            self._stream_store = None
        if self._wal is not None:
            self._wal.close()
        if self._stores is not None:
            self._stores.close()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        # A stopped hub answers queries with "not started", not with closed-database errors.
        self._stores = self._wal = self._flusher = self._core = self._commit = None
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- where to connect -------------------------------------------------------------------

    def addresses(self) -> dict[tuple[str, str], tuple[str, int]]:
        """``(protocol, transport) -> (host, port)`` of every channel (real ports)."""
        core = self._running()
        return {(c.config.protocol, c.config.transport): c.address for c in core.channels}

    def port(self, protocol: str, transport: str = "tcp") -> int:
        """The port a channel listens on, e.g. ``hub.port("teltonika")``."""
        try:
            return self.addresses()[(protocol, transport)][1]
        except KeyError:
            raise ConfigError(f"no {protocol}/{transport} channel is configured") from None

    # --- data out ---------------------------------------------------------------------------

    @property
    def devices(self) -> DeviceRegistry:
        """The device registry (add, update, select, enable, disable ...)."""
        return self._open().registry

    def flush(self) -> int:
        """Write every acked record to Parquet now (queries do this themselves)."""
        return self._flusher.flush() if self._flusher is not None else 0

    def messages(
        self,
        selector: str = "all",
        *,
        begin: float | dt.datetime | None = None,
        end: float | dt.datetime | None = None,
        fields: Sequence[str] | None = None,
        filter: pl.Expr | None = None,
        sort: bool = True,
    ) -> pl.LazyFrame:
        """Stored messages of the selected devices, sorted by ident and device time.

        ``selector`` is a device selector (``all``, ``1,2``, ``ident=35*``,
        ``metadata.fleet=north``); ``begin``/``end`` bound the device time (inclusive);
        ``fields`` picks columns; ``filter`` is any Polars expression. Everything acked
        before the call is included. ``sort=False`` skips the final sort (bulk reads:
        each day's rows are still in ident and time order).
        """
        stores = self._open()
        self.flush()
        idents = None if selector == "all" else [d.ident for d in stores.registry.select(selector)]
        return stores.dataset.scan(
            idents,
            begin=_seconds(begin),
            end=_seconds(end),
            fields=fields,
            filter=filter,
            sort=sort,
        )

    def telemetry(self, ident: str) -> dict[str, tuple[Value, float]]:
        """Latest value of every parameter of a device: ``name -> (value, timestamp)``."""
        self.flush()
        if self._flusher is not None:
            self._flusher.apply_telemetry(persist=False)
        return self._open().telemetry.get(ident)

    def logs(self, **filters: Any) -> pl.DataFrame:
        """The hub's event log; filters: ident, channel, event (``connection.*``), since, until."""
        return self._open().logs.query(**filters)

    # --- commands ---------------------------------------------------------------------------

    def send_command(
        self,
        ident: str,
        text: str,
        *,
        protocol: str | None = None,
        ttl: float = 86400.0,
        max_attempts: int = 3,
    ) -> Command:
        """Queue a command; it is sent at once if the device is connected, else on connect."""
        stores = self._open()
        if protocol is None:
            found = {d.protocol for d in stores.registry.select(f"ident={ident}")}
            if len(found) != 1:
                raise ConfigError(
                    f"device {ident!r}: "
                    + ("unknown" if not found else f"on {sorted(found)}")
                    + "; pass protocol="
                )
            protocol = found.pop()
        command = stores.commands.enqueue(
            ident, protocol, text, ttl=ttl, max_attempts=max_attempts, now=time.time()
        )
        if self._loop is not None and self._core is not None:
            self._loop.call_soon_threadsafe(self._core.deliver_commands, ident, protocol)
        return command

    def command_results(self, ident: str | None = None, **filters: Any) -> pl.DataFrame:
        """Every command with its status (queued, sent, done, expired, failed) and response."""
        return self._open().commands.results(ident, **filters)

    # --- streams ----------------------------------------------------------------------------

    @property
    def streams(self) -> StreamStore:
        """The HTTP streams registry (add, update, enable, disable ...); changes apply live."""
        # One, kept open (`with hub.streams as s:` closes it) and closed with the hub: a
        # registry per access held its SQLite file open until a garbage collection.
        if self._stream_store is None or self._stream_store.closed:
            self._stream_store = StreamStore(self.store)
        return self._stream_store

    # --- maintenance ------------------------------------------------------------------------

    def delete_messages(
        self, selector: str, *, begin: float | None = None, end: float | None = None
    ) -> int:
        """Delete the selected devices' messages in ``[begin, end]``; returns how many."""
        stores = self._open()
        self.flush()
        idents = None if selector == "all" else [d.ident for d in stores.registry.select(selector)]
        assert self._flusher is not None
        with self._flusher.lock:
            return stores.dataset.delete(idents, begin, end)

    def compact(self, *, full: bool = False) -> dict[str, int]:
        """Compact the dataset now (small files run in the background every minute).

        ``full=True`` merges every day's files into one, dropping resent duplicates.
        """
        self.flush()
        assert self._flusher is not None
        return self._flusher.compact(full=full)

    def enforce_retention(self, now: float | None = None) -> int:
        """Apply TTLs and size caps now; returns the number of messages dropped."""
        self.flush()
        assert self._flusher is not None
        return self._flusher.enforce_retention(now)

    def snapshot(self, day: dt.date, folder: str | Path | None = None) -> list[Path]:
        """Write each device's messages of ``day`` as ``<ident>/<day>.json.gz``."""
        self.flush()
        target = Path(folder) if folder is not None else self.store / "snapshots"
        return self._open().dataset.snapshot(day, target)

    def restore(self, path: str | Path) -> int:
        """Re-ingest a snapshot file durably; returns how many messages came back.

        Messages whose ``(ident, timestamp)`` is still stored are skipped, so restoring a
        day after deleting part of it brings back exactly the deleted part.
        """
        if self._loop is None or self._core is None or self._commit is None:
            raise ConfigError("restore needs a running hub (use it inside `with Hub(...)`)")
        dataset = self._open().dataset
        messages = dataset.read_snapshot(Path(path))
        self.flush()
        fresh = dataset.not_stored(messages)
        if not fresh:
            return 0
        payload = b"\n".join(orjson.dumps(m) for m in fresh) + b"\n"
        commit = self._commit

        async def submit() -> int:
            return await commit.submit(payload)

        asyncio.run_coroutine_threadsafe(submit(), self._loop).result()
        return len(fresh)

    def raw_traffic(self, ident: str) -> list[tuple[float, str, bytes]]:
        """Captured raw chunks of a device: ``(time, "in" | "out", bytes)``."""
        return list(read_raw(self.store / "raw" / f"{ident}.tbraw"))

    # --- helpers ----------------------------------------------------------------------------

    def _open(self) -> Stores:
        if self._stores is None:
            raise ConfigError("the hub is not started: use `with Hub(...) as hub:`")
        return self._stores

    def _running(self) -> HubCore:
        if self._core is None:
            raise ConfigError("the hub is not running: use `with Hub(...) as hub:`")
        return self._core


def _seconds(value: float | dt.datetime | None) -> float | None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    return value


def _bind_error(exc: BaseException) -> BaseException:
    if isinstance(exc, OSError):
        return ConfigError(f"cannot listen on a channel address: {exc}")
    return exc
