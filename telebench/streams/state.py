"""What a stream is doing: cursor, queue size, lag and last error (``streams state``).

Examples
--------
>>> import tempfile
>>> from telebench.store.wal import WriteAheadLog
>>> from telebench.streams.config import StreamConfig
>>> from telebench.streams.walreader import WalReader
>>> d = tempfile.mkdtemp()
>>> with WriteAheadLog(d + "/wal", fsync=False) as wal:
...     _ = wal.append(b'{"ident":"a","timestamp":1,"server.timestamp":100}\\n')
>>> with StreamStore(d) as store:
...     _ = store.add(StreamConfig("s", "http://127.0.0.1:9/"), start=0)
...     st = stream_state(store, WalReader(d + "/wal"), "s", now=130.0)
>>> st.queue_size, st.lag_seconds, st.cursor
(1, 30.0, Cursor(seq=0, skip=0))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson

from telebench.streams.store import LINE_BITS, Cursor, StreamStore

__all__ = ["StreamState", "stream_state"]

Reader = Callable[[int, int], list[tuple[int, bytes]]]
_SCAN_CHUNK = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class StreamState:
    """A stream's delivery state.

    ``queue_size`` counts WAL messages after the (base) cursor before subscriptions and
    filter apply (so it is an upper bound); ``lag_seconds`` is the age of the oldest queued
    message (now minus its ``server.timestamp``), 0 when the queue is empty.
    """

    name: str
    enabled: bool
    cursor: Cursor | None
    queue_size: int
    lag_seconds: float
    stats: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = dataclasses.asdict(self)
        data["cursor"] = None if self.cursor is None else list(self.cursor)
        return data


def _first_arrival(payload: bytes, skip: int) -> float | None:
    lines = [line for line in payload.split(b"\n") if line.strip()]
    if skip >= len(lines):
        return None
    msg = orjson.loads(lines[skip])
    value = msg.get("server.timestamp", msg.get("timestamp"))
    return float(value) if isinstance(value, int | float) else None


def stream_state(
    store: StreamStore, reader: Reader, name: str, *, now: float, max_entries: int = 1_000_000
) -> StreamState:
    """State of stream ``name``, counting its queue in the WAL (at most ``max_entries``)."""
    cfg = store.get(name)
    pos = store.base(name)
    cursor = None if pos is None else Cursor.from_pos(pos)
    queue, lag = 0, 0.0
    if cursor is not None and cfg.enabled:
        after, skip, read = cursor.seq, cursor.skip, 0
        while read < max_entries:
            chunk = reader(after, _SCAN_CHUNK)
            if not chunk:
                break
            if read == 0:
                first_skip = skip if chunk[0][0] == (pos or 0) >> LINE_BITS else 0
                arrived = _first_arrival(chunk[0][1], first_skip)
                lag = max(0.0, now - arrived) if arrived is not None else 0.0
                queue -= first_skip
            queue += sum(len([x for x in p.split(b"\n") if x.strip()]) for _, p in chunk)
            read += len(chunk)
            after = chunk[-1][0]
    return StreamState(name, cfg.enabled, cursor, max(queue, 0), lag, store.stats(name))
