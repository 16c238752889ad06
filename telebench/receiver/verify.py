"""Compare what a receiver stored with the hub's message store, per ident.

A message is identified by ``(ident, timestamp, server.timestamp)``. Per ident the report
counts messages ``expected`` (in the hub store), ``received`` (stored by the receiver,
each copy), ``missing`` (expected, never received), ``duplicated`` (received copies beyond
the first), ``out_of_order`` (first copies that arrived after a message the hub received
later, i.e. a ``server.timestamp`` below one already seen for that ident) and ``extra``
(received, not in the store). ``since``/``until`` bound the hub messages compared by
``server.timestamp`` (a stream only sends messages that arrive after it starts).

Examples
--------
>>> import polars as pl
>>> hub = pl.DataFrame({"ident": ["a", "a"], "timestamp": [1.0, 2.0],
...                     "server.timestamp": [10.0, 11.0]})
>>> got = hub.head(1)
>>> compare(hub, got).select("ident", "missing", "duplicated").rows()
[('a', 1, 0)]
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import polars as pl

from telebench.receiver.storage import MESSAGES_FILE, read_batches

__all__ = ["compare", "read_hub", "read_received", "verify"]

KEY: Final = ("ident", "timestamp", "server.timestamp")
_SCHEMA: Final = {"ident": pl.String, "timestamp": pl.Float64, "server.timestamp": pl.Float64}


def read_hub(store: str | Path) -> pl.DataFrame:
    """``ident, timestamp, server.timestamp`` of every message in a hub store."""
    try:
        from telebench.store.dataset import MessageDataset

        frame = MessageDataset(store).scan().select(KEY).collect()
    except ImportError:  # pragma: no cover - the dataset module is always there in releases
        files = sorted(Path(store).glob("messages/**/*.parquet"))
        if not files:
            return pl.DataFrame(schema=_SCHEMA)
        frame = pl.concat([pl.read_parquet(f, columns=list(KEY)) for f in files])
    return frame.cast(_SCHEMA)  # type: ignore[arg-type]


def read_received(out_dir: str | Path) -> pl.DataFrame:
    """Messages a receiver stored, in arrival order, with ``_batch``."""
    path = Path(out_dir) / MESSAGES_FILE
    if not path.exists() or not path.stat().st_size:
        return pl.DataFrame(schema={**_SCHEMA, "_batch": pl.String})
    return read_batches(path).select(*KEY, "_batch")


def compare(hub: pl.DataFrame, received: pl.DataFrame) -> pl.DataFrame:
    """The per-ident report (module doc), one row per ident seen on either side."""
    key = list(KEY)
    got = received.select(key).with_row_index("_order")
    copies = got.group_by(key).agg(pl.len().alias("_n"), pl.min("_order").alias("_first"))
    firsts = copies.sort("_first").with_columns(
        (pl.col("server.timestamp") < pl.col("server.timestamp").cum_max().shift(1).over("ident"))
        .fill_null(value=False)
        .alias("_late")
    )
    expected = hub.select(key).unique()
    missing = expected.join(copies, on=key, how="anti").group_by("ident").len("missing")
    extra = copies.join(expected, on=key, how="anti").group_by("ident").len("extra")
    per_received = firsts.group_by("ident").agg(
        pl.col("_n").sum().alias("received"),
        (pl.col("_n") - 1).sum().alias("duplicated"),
        pl.col("_late").sum().alias("out_of_order"),
    )
    idents = pl.concat([expected.select("ident"), got.select("ident")]).unique()
    report = idents
    for part in (expected.group_by("ident").len("expected"), per_received, missing, extra):
        report = report.join(part, on="ident", how="left")
    columns = ["expected", "received", "missing", "duplicated", "out_of_order", "extra"]
    return report.select("ident", *(pl.col(c).fill_null(0).cast(pl.Int64) for c in columns)).sort(
        "ident"
    )


def verify(
    store: str | Path,
    received: str | Path,
    *,
    since: float | None = None,
    until: float | None = None,
) -> pl.DataFrame:
    """:func:`compare` the hub store at ``store`` with the receiver output ``received``."""
    hub = read_hub(store)
    if since is not None:
        hub = hub.filter(pl.col("server.timestamp") >= since)
    if until is not None:
        hub = hub.filter(pl.col("server.timestamp") <= until)
    return compare(hub, read_received(received))
