"""Shared helpers for stream tests: a real WAL and real receiver servers on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson
import polars as pl

from telebench.store.logs import LogStore
from telebench.store.wal import WriteAheadLog
from telebench.streams import Cursor, StreamConfig, StreamDelivery, StreamStore, WalReader

FAST = {"backoff": (0.02, 0.1), "reload_interval": 0.05}


def write_entries(
    wal: WriteAheadLog,
    entries: int,
    per_entry: int,
    *,
    idents: int = 3,
    start: int = 0,
    arrived: float | None = None,
) -> int:
    """Append ``entries`` NDJSON entries (message ``n`` counts up from ``start``)."""
    n = start
    now = time.time() if arrived is None else arrived
    for _ in range(entries):
        lines = []
        for _ in range(per_entry):
            ident = f"dev{n % idents}"
            msg = {
                "ident": ident, "timestamp": 1_700_000_000.0 + n, "server.timestamp": now,
                "channel.id": 1 + n % 2, "protocol.name": "teltonika", "peer": "127.0.0.1:1",
                "device.id": 1 + n % idents, "n": n, "position.speed": float(n % 50),
            }  # fmt: skip
            lines.append(orjson.dumps(msg))
            n += 1
        wal.append(b"\n".join(lines) + b"\n")
    wal.sync()
    return n


def received(out: Path) -> pl.DataFrame:
    """What a receiver stored, in arrival order: ident, n, _batch, _path."""
    path = out / "received.ndjson"
    schema = {"ident": pl.String, "n": pl.Int64}
    if not path.exists():
        return pl.DataFrame(schema={**schema, "_batch": pl.String, "_path": pl.String})
    df = pl.read_ndjson(
        path,
        schema={"batch": pl.String, "path": pl.String, "messages": pl.List(pl.Struct(schema))},
    )
    return df.rename({"batch": "_batch", "path": "_path"}).explode("messages").unnest("messages")


def wait_for(check: Callable[[], bool], timeout: float = 8.0) -> None:
    """Poll ``check`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def assert_in_order(df: pl.DataFrame) -> None:
    """Per ident, ``n`` strictly increases in arrival order."""
    bad = df.group_by("ident").agg((pl.col("n").diff() <= 0).sum().alias("bad"))
    assert bad["bad"].sum() == 0


def start_delivery(store: Path, logs: LogStore | None = None) -> StreamDelivery:
    return StreamDelivery(store, WalReader(store / "wal"), logs, **FAST).start()


def cursor_of(store: Path) -> Cursor | None:
    with StreamStore(store) as streams:
        return streams.cursor("s")


def stats_of(store: Path) -> dict[str, object]:
    with StreamStore(store) as streams:
        return streams.stats("s")


def add_stream(store: Path, uri: str, **fields: object) -> None:
    with StreamStore(store) as streams:
        streams.add(StreamConfig("s", uri, **fields), start=0)  # type: ignore[arg-type]
