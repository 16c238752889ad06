"""Durable storage of received batches: JSON lines, fsync'd before the 200.

Layout of ``OUT``::

    OUT/received.ndjson     one line per stored batch: {"batch": id or null,
                            "received": unix s, "path": request path, "messages": [...]}
                            (the messages exactly as received, in order)
    OUT/duplicates.ndjson   one line per duplicate batch: {"batch", "time", "idents": {id: n}}

A batch whose id was stored already is a *duplicate*: nothing is stored again, its
messages are counted as duplicates. On open, the files are read back (a torn last line
from a crash is cut off), so stats and known batch ids survive restarts.

Examples
--------
>>> import tempfile
>>> store = ReceivedStore(tempfile.mkdtemp())
>>> store.add([{"ident": "a", "timestamp": 5}], batch="s-1-1")
True
>>> store.add([{"ident": "a", "timestamp": 5}], batch="s-1-1")
False
>>> store.stats()["idents"]["a"]
{'count': 1, 'duplicates': 1, 'first': 5.0, 'last': 5.0}
>>> store.close()
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import orjson
import polars as pl

from telebench.errors import StoreError

__all__ = ["MESSAGES_FILE", "ReceivedStore", "read_batches"]

MESSAGES_FILE: Final = "received.ndjson"
DUPLICATES_FILE: Final = "duplicates.ndjson"


def _cut_torn_tail(path: Path) -> None:
    """Drop a partial last line (a write the crash interrupted, never answered 200)."""
    if not path.exists():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)
            os.fsync(fh.fileno())


def _batch_line(batch: str | None, now: float, path: str, body: bytes) -> bytes:
    head = orjson.dumps({"batch": batch, "received": now, "path": path})
    return head[:-1] + b',"messages":' + body + b"}\n"


class ReceivedStore:
    """Append-only, fsync'd store of received batches with per-ident stats (thread-safe)."""

    def __init__(self, out_dir: str | Path, *, fsync: bool = True) -> None:
        self.out = Path(out_dir)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        # Stats are folded lazily: batches append (idents, timestamps) chunks, stats() merges.
        self._agg = pl.DataFrame(schema=_AGG_SCHEMA)
        self._chunks: list[tuple[list[str], list[float]]] = []
        self._dups: dict[str, int] = {}
        self.batches = 0
        self.duplicate_batches = 0
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            for name in (MESSAGES_FILE, DUPLICATES_FILE):
                _cut_torn_tail(self.out / name)
            self._load()
            self._messages = (self.out / MESSAGES_FILE).open("ab")
            self._duplicates = (self.out / DUPLICATES_FILE).open("ab")
        except OSError as exc:
            raise StoreError(f"cannot open the receiver store {self.out}: {exc}") from exc

    def _load(self) -> None:
        path = self.out / MESSAGES_FILE
        if path.exists() and path.stat().st_size:
            df = read_batches(path)
            self._seen = set(df["_batch"].drop_nulls().unique().to_list())
            self.batches = int(df["_n"].n_unique())
            self._agg = _fold(df.select("ident", "timestamp"))
        dup_path = self.out / DUPLICATES_FILE
        if dup_path.exists():
            for line in dup_path.read_bytes().splitlines():
                record = orjson.loads(line)
                self.duplicate_batches += 1
                for ident, n in record["idents"].items():
                    self._dups[ident] = self._dups.get(ident, 0) + n

    def _write(self, fh: Any, data: bytes) -> None:
        fh.write(data)
        fh.flush()
        if self.fsync:
            os.fsync(fh.fileno())

    def add(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        batch: str | None = None,
        path: str = "",
        body: bytes | None = None,
    ) -> bool:
        """Store a validated batch durably; ``False`` (nothing stored) for a known batch id.

        ``body`` is the request's JSON array, stored as is when it is one line.
        """
        now = time.time()
        idents = [msg["ident"] for msg in messages]
        with self._lock:
            if batch is not None and batch in self._seen:
                counts = dict(Counter(idents))
                record = {"batch": batch, "time": now, "idents": counts}
                self._write(self._duplicates, orjson.dumps(record) + b"\n")
                self.duplicate_batches += 1
                for ident, n in counts.items():
                    self._dups[ident] = self._dups.get(ident, 0) + n
                return False
            if body is None or not body.lstrip().startswith(b"[") or b"\n" in body:
                body = orjson.dumps(list(messages))
            try:
                self._write(self._messages, _batch_line(batch, now, path, body))
            except OSError as exc:
                raise StoreError(f"cannot store a batch in {self.out}: {exc}") from exc
            if batch is not None:
                self._seen.add(batch)
            self.batches += 1
            self._chunks.append((idents, [float(msg["timestamp"]) for msg in messages]))
            return True

    def stats(self) -> dict[str, Any]:
        """``{"idents": {ident: {count, duplicates, first, last}}, "messages", "batches", ...}``."""
        with self._lock:
            if self._chunks:
                fresh = pl.DataFrame(
                    {
                        "ident": [i for ids, _ in self._chunks for i in ids],
                        "timestamp": [t for _, ts in self._chunks for t in ts],
                    },
                    schema={"ident": pl.String, "timestamp": pl.Float64},
                )
                self._agg = _merge(self._agg, _fold(fresh))
                self._chunks = []
            idents: dict[str, dict[str, Any]] = {
                ident: {"count": count, "duplicates": self._dups.get(ident, 0),
                        "first": first, "last": last}
                for ident, count, first, last in self._agg.sort("ident").iter_rows()
            }  # fmt: skip
            for ident, n in self._dups.items():
                idents.setdefault(ident, {"count": 0, "duplicates": n, "first": None, "last": None})
            return {
                "idents": dict(sorted(idents.items())),
                "messages": int(self._agg["count"].sum()),
                "batches": self.batches,
                "duplicate_batches": self.duplicate_batches,
            }

    def close(self) -> None:
        """Close the files."""
        with self._lock:
            self._messages.close()
            self._duplicates.close()


_AGG_SCHEMA: Final = {"ident": pl.String, "count": pl.Int64, "first": pl.Float64,
                      "last": pl.Float64}  # fmt: skip


def _fold(df: pl.DataFrame) -> pl.DataFrame:
    return df.group_by("ident").agg(
        pl.len().cast(pl.Int64).alias("count"), pl.min("timestamp").alias("first"),
        pl.max("timestamp").alias("last"),
    )  # fmt: skip


def _merge(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([a, b]).group_by("ident").agg(pl.sum("count"), pl.min("first"), pl.max("last"))


def read_batches(path: str | Path) -> pl.DataFrame:
    """Messages of a ``received.ndjson`` in arrival order: ``ident, timestamp,
    server.timestamp, _batch, _path, _n`` (``_n`` = batch number in the file).

    The file may belong to a running receiver: a last line without its newline is a
    batch still being written (not answered yet), and is left for the next read.
    """
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "batch": pl.String,
        "path": pl.String,
        "messages": pl.List(pl.Struct(_MESSAGE_SCHEMA)),
    }
    data = Path(path).read_bytes()
    df = pl.read_ndjson(io.BytesIO(data[: data.rfind(b"\n") + 1]), schema=schema)
    return (
        df.with_row_index("_n")
        .rename({"batch": "_batch", "path": "_path"})
        .explode("messages")
        .filter(pl.col("messages").is_not_null())
        .unnest("messages")
        .select(*_MESSAGE_SCHEMA, "_batch", "_path", "_n")
    )


_MESSAGE_SCHEMA: Final = {"ident": pl.String, "timestamp": pl.Float64,
                          "server.timestamp": pl.Float64}  # fmt: skip
