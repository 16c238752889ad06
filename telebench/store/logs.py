"""The hub's event log: connections, identifications, parse errors, commands (flespi logs).

Logging must never slow a device session down, so :meth:`LogStore.add` only appends to an
in-memory buffer; the hub's flush thread calls :meth:`LogStore.flush` about every 0.5 s,
which writes the buffer in one transaction. :meth:`LogStore.query` flushes first, so a
reader always sees everything logged so far.

Examples
--------
>>> with LogStore(":memory:") as log:
...     log.add("connection.opened", channel=1, peer="10.0.0.7:5100", time=1.0)
...     log.add("device.identified", channel=1, ident="356307042441013", time=2.0)
...     log.query(event="device.*").select("time", "event", "ident").rows()
[(2.0, 'device.identified', '356307042441013')]
"""

from __future__ import annotations

import threading
import time as _time
from pathlib import Path
from typing import Final

import polars as pl

from telebench.errors import ConfigError, StoreError
from telebench.store._sqlite import SqliteStore
from telebench.store.selectors import glob

__all__ = ["EVENTS", "SCHEMA_VERSION", "LogStore"]

#: Events the hub logs, with what they mean. Plugins may log their own names too.
EVENTS: Final[dict[str, str]] = {
    "connection.opened": "a TCP/HTTP connection was accepted on a channel (peer set)",
    "device.identified": "the connection identified itself as ident (device known or registered)",
    "device.refused": "identification was refused: unknown ident, disabled or bad password",
    "connection.closed": (
        "the connection ended; reason is 'peer closed', 'idle timeout', 'protocol error', "
        "'frame too large', 'connection limit', 'hub stopped', 'replaced by a new connection', "
        "'refused: ...', 'store failure: ...' or 'hub error: ...'"
    ),
    "parse.error": "bytes could not be decoded; offset and data_hex locate the bad byte",
    "packet.rejected": "a decoded packet was refused (e.g. invalid values); reason says why",
    "command.sent": "a queued command was written to the device (detail: command id and text)",
    "command.response": "the device answered a command (detail: command id and response)",
    "command.expired": "a command's ttl passed before it was answered (detail: command id)",
    "plugin.error": "a plugin raised while processing a batch; reason is the error",
    "unknown.device": "messages came from an ident that is not registered (channel-only)",
    "flush.error": "writing Parquet or telemetry failed; the records stay in the WAL, retried",
    "acks.held": (
        "more than max_unflushed_mb of acked records wait for Parquet: acks wait (the WAL has "
        "the records) until the flusher is back under half of it; detail says how much"
    ),
    "acks.released": "the flusher caught up: held acks went out",
    "stream.batch": "a stream delivered (or failed to deliver) one batch",
    "stream.failed": "a stream's batch failed; it is retried with backoff",
    "stream.dropped": "messages older than the stream's queue_ttl were dropped undelivered",
    "stream.gap": "WAL entries a stream had not read were trimmed",
}
#: Version of the schema this module writes; older databases are migrated on open.
SCHEMA_VERSION: Final = 1
# A buffer this long is flushed by add() itself, so a stalled flush thread cannot make the
# hub run out of memory.
_MAX_BUFFER: Final = 100_000
_FIELDS: Final = (
    "time",
    "event",
    "channel",
    "protocol",
    "ident",
    "peer",
    "reason",
    "offset",
    "data_hex",
    "detail",
)
# "offset" is an SQL keyword, so every column name is quoted.
_COLUMNS: Final = ", ".join(f'"{f}"' for f in _FIELDS)
_INSERT: Final = f"INSERT INTO logs ({_COLUMNS}) VALUES ({', '.join('?' * len(_FIELDS))})"
_SCHEMA: Final = {
    "time": pl.Float64,
    "event": pl.String,
    "channel": pl.Int64,
    "protocol": pl.String,
    "ident": pl.String,
    "peer": pl.String,
    "reason": pl.String,
    "offset": pl.Int64,
    "data_hex": pl.String,
    "detail": pl.String,
}
_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        """
        CREATE TABLE logs (
            id INTEGER PRIMARY KEY,
            "time" REAL NOT NULL,
            "event" TEXT NOT NULL,
            "channel" INTEGER,
            "protocol" TEXT,
            "ident" TEXT,
            "peer" TEXT,
            "reason" TEXT,
            "offset" INTEGER,
            "data_hex" TEXT,
            "detail" TEXT
        )
        """,
        'CREATE INDEX logs_time ON logs ("time")',
        'CREATE INDEX logs_ident_time ON logs ("ident", "time")',
    ),
}

_Row = tuple[
    float,
    str,
    int | None,
    str | None,
    str | None,
    str | None,
    str | None,
    int | None,
    str | None,
    str | None,
]

_TYPES: Final = (float | int, str, int, str, str, str, str, int, str, str)


def _reject(row: _Row) -> None:
    """Raise ``ConfigError`` naming the first field of ``row`` with a wrong type."""
    if not isinstance(row[1], str) or not row[1]:
        raise ConfigError(f"log event must be a non-empty string, got {row[1]!r}")
    for field, value, kind in zip(_FIELDS, row, _TYPES, strict=True):
        if value is not None and not isinstance(value, kind):
            expected = getattr(kind, "__name__", str(kind))
            raise ConfigError(f"log {field} must be {expected} or None, got {value!r}")


def _filters(
    ident: str | None,
    channel: int | None,
    event: str | None,
    since: float | None,
    until: float | None,
) -> tuple[str, list[object]]:
    """SQL ``WHERE`` clause and parameters for :meth:`LogStore.query`."""
    clauses: list[str] = ["1"]
    params: list[object] = []
    for column, value in (("ident", ident), ("channel", channel)):
        if value is not None:
            clauses.append(f'"{column}" = ?')
            params.append(value)
    if event is not None:
        clauses.append('"event" GLOB ?')
        params.append(glob(event))
    if since is not None:
        clauses.append('"time" >= ?')
        params.append(since)
    if until is not None:
        clauses.append('"time" <= ?')
        params.append(until)
    return " AND ".join(clauses), params


class LogStore(SqliteStore):
    """Buffered, thread-safe event log in a SQLite file (or ``":memory:"``).

    Examples
    --------
    >>> log = LogStore(":memory:")
    >>> log.add("parse.error", protocol="gt06", offset=3, data_hex="78 78 [0d]", time=5.0)
    >>> log.pending, log.flush(), log.pending
    (1, 1, 0)
    >>> log.query(ident=None, limit=1)["offset"].to_list()
    [3]
    >>> log.prune(before=6.0)
    1
    >>> log.close()
    """

    _label = "log store"
    _schema_version = SCHEMA_VERSION
    _migrations = _MIGRATIONS

    def __init__(self, path: str | Path) -> None:
        # The base class's lock guards the connection and also serialises flushes.
        self._buffer_lock = threading.Lock()  # only the buffer, held for an append or a swap
        self._buffer: list[_Row] = []
        super().__init__(path)

    def close(self) -> None:
        """Flush the buffer and close the database; further calls fail with ``StoreError``."""
        try:
            self.flush()
        finally:
            super().close()

    @property
    def pending(self) -> int:
        """How many events are buffered, not yet written."""
        return len(self._buffer)

    def add(
        self,
        event: str,
        *,
        channel: int | None = None,
        protocol: str | None = None,
        ident: str | None = None,
        peer: str | None = None,
        reason: str | None = None,
        offset: int | None = None,
        data_hex: str | None = None,
        detail: str | None = None,
        time: float | None = None,
    ) -> None:
        """Buffer one event (see :data:`EVENTS`); ``time`` defaults to now (unix seconds).

        Any non-empty event name is accepted, so plugins can log their own.
        """
        when = _time.time() if time is None else time
        row: _Row = (when, event, channel, protocol, ident, peer, reason, offset, data_hex, detail)
        # Checked here, because one unwritable row in the buffer would fail every flush.
        if not event or not all(
            v is None or isinstance(v, t) for v, t in zip(row, _TYPES, strict=True)
        ):
            _reject(row)
        with self._buffer_lock:
            self._buffer.append(row)
            full = len(self._buffer) >= _MAX_BUFFER
        if full:
            self.flush()

    def flush(self) -> int:
        """Write the buffered events in one transaction; returns how many were written.

        If the write fails the events go back to the buffer (and ``StoreError`` is raised),
        so the next flush retries them.
        """
        with self._lock:
            with self._buffer_lock:
                rows, self._buffer = self._buffer, []
            if not rows:
                return 0
            try:
                with self._write() as conn:
                    conn.executemany(_INSERT, rows)
            except StoreError:
                with self._buffer_lock:
                    self._buffer[:0] = rows
                raise
        return len(rows)

    def query(
        self,
        *,
        ident: str | None = None,
        channel: int | None = None,
        event: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Logged events matching every given filter, oldest first.

        ``event`` may use flespi wildcards (``"connection.*"``, ``"command.?ent"``);
        ``since`` and ``until`` are inclusive unix times; ``limit`` keeps the newest
        ``limit`` events. Columns: ``time, event, channel, protocol, ident, peer, reason,
        offset, data_hex, detail``.

        Examples
        --------
        >>> with LogStore(":memory:") as log:
        ...     for t, ev in enumerate(["connection.opened", "command.sent", "connection.closed"]):
        ...         log.add(ev, time=float(t))
        ...     log.query(event="connection.*")["event"].to_list(), log.query(limit=1)["time"][0]
        (['connection.opened', 'connection.closed'], 2.0)
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ConfigError(f"limit must be an integer >= 0 or None, got {limit!r}")
        if limit is not None and limit < 0:
            raise ConfigError(f"limit must be an integer >= 0 or None, got {limit!r}")
        where, params = _filters(ident, channel, event, since, until)
        sql = f'SELECT {_COLUMNS} FROM logs WHERE {where} ORDER BY "time", id'
        if limit is not None:
            # The newest `limit` rows, handed back in chronological order.
            sql = (
                f"SELECT {_COLUMNS} FROM (SELECT id, {_COLUMNS} FROM logs WHERE {where} "
                f'ORDER BY "time" DESC, id DESC LIMIT ?) ORDER BY "time", id'
            )
            params.append(limit)
        self.flush()
        return pl.DataFrame(self._rows(sql, params), schema=_SCHEMA, orient="row")

    def prune(self, before: float) -> int:
        """Delete events older than ``before`` (unix seconds); returns how many."""
        self.flush()
        with self._write():
            return int(self._conn.execute('DELETE FROM logs WHERE "time" < ?', (before,)).rowcount)
