"""Daily per-device snapshots: ``<dest>/<ident>/<YYYY-MM-DD>.json.gz``.

A snapshot is a gzipped JSON array of one device's messages of one UTC day, sorted by
timestamp, each message without null keys (flespi messages never carry nulls). The JSON
is built by Polars expressions: each non-null column contributes its ``"name":value``
fragment, taken from Polars' JSON encoder so strings are escaped correctly.

Examples
--------
>>> import datetime as dt, tempfile, pathlib
>>> dest = pathlib.Path(tempfile.mkdtemp())
>>> df = pl.DataFrame({"ident": ["a", "a"], "timestamp": [2.0, 1.0], "x": [None, 'q"']})
>>> [p.name for p in write_snapshots(df, dt.date(1970, 1, 1), dest)]
['1970-01-01.json.gz']
>>> read_snapshot(dest / "a" / "1970-01-01.json.gz")
[{'ident': 'a', 'timestamp': 1.0, 'x': 'q"'}, {'ident': 'a', 'timestamp': 2.0}]
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from telebench.errors import StoreError
from telebench.store.partfiles import atomic_write_bytes

__all__ = ["read_snapshot", "write_snapshots"]


def _fragment(name: str) -> pl.Expr:
    # json_encode of {name: value} is '{"name":value}'; strip the braces.
    encoded = pl.struct(pl.col(name)).struct.json_encode()
    return pl.when(pl.col(name).is_not_null()).then(encoded.str.slice(1).str.head(-1))


def _safe_ident(ident: str) -> str:
    if not ident or ident in {".", ".."} or "/" in ident or "\0" in ident:
        raise StoreError(f"ident {ident!r} cannot be a snapshot folder name")
    return ident


def write_snapshots(frame: pl.DataFrame, day: dt.date, dest: Path) -> list[Path]:
    """Write one snapshot per ident in ``frame`` (messages of ``day``); paths written."""
    if frame.is_empty():
        return []
    message = pl.concat_str(
        [
            pl.lit("{"),
            pl.concat_str([_fragment(c) for c in frame.columns], separator=",", ignore_nulls=True),
            pl.lit("}"),
        ]
    )
    arrays = (
        frame.sort(["ident", "timestamp"])
        .group_by("ident", maintain_order=True)
        .agg(message.str.join(",").alias("json"))
    )
    written = []
    for ident, body in arrays.iter_rows():
        path = dest / _safe_ident(ident) / f"{day.isoformat()}.json.gz"
        data = gzip.compress(b"[" + body.encode() + b"]", mtime=0)
        written.append(atomic_write_bytes(data, path))
    return written


def read_snapshot(path: Path) -> list[dict[str, Any]]:
    """Load one snapshot file: its messages, oldest first."""
    try:
        messages = orjson.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise StoreError(f"cannot read snapshot {path}: {exc}") from exc
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise StoreError(f"snapshot {path} is not a JSON array of messages")
    return messages
