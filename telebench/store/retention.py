"""Removing messages from part files: range deletes and per-device retention limits.

A file with rows to drop is rewritten under its own name (temp file, fsync, rename), so a
reader sees either the old or the new version; a file left with no rows is deleted.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "p.parquet"
>>> pl.DataFrame({"ident": ["a", "b"], "timestamp": [1.0, 2.0]}).write_parquet(path)
>>> rewrite([path], pl.col("ident") == "a")
(1, [])
>>> pl.read_parquet(path)["ident"].to_list()
['b']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import polars as pl

from telebench.store.merging import part_rows
from telebench.store.partfiles import PartFile, atomic_write_parquet, day_bounds

__all__ = ["Drop", "due_parts", "retention_filter", "rewrite"]

_NEG_INF = float("-inf")


def rewrite(paths: Sequence[Path], drop: pl.Expr) -> tuple[int, list[Path]]:
    """Drop the rows matching ``drop`` from each file; ``(rows dropped, files emptied)``.

    Files with no matching row (known from statistics, mostly) are left untouched. Emptied
    files are returned, not deleted, so the caller can forget them in its caches too.
    """
    drop = drop.fill_null(False)
    removed = 0
    emptied = []
    for path in paths:
        lf = pl.scan_parquet(path, hive_partitioning=False)
        counts = lf.select(pl.len().alias("total"), drop.sum().alias("drop")).collect()
        total, n_drop = counts.row(0)
        if not n_drop:
            continue
        removed += n_drop
        if n_drop == total:
            emptied.append(path)
        else:
            atomic_write_parquet(lf.filter(~drop).collect(), path)
    return removed, emptied


def _cutoff(mapping: Mapping[str, float]) -> pl.Expr:
    return pl.col("ident").replace_strict(
        dict(mapping), default=_NEG_INF, return_dtype=pl.Float64()
    )


def _size_cutoffs(
    files: Sequence[tuple[Path, int, int]], caps: Mapping[str, int], ttl_drop: pl.Expr
) -> dict[str, float]:
    """Per capped ident, the newest timestamp that must go so its estimate fits its cap."""
    frames = [
        pl.scan_parquet(path, hive_partitioning=False)
        .select("ident", "timestamp")
        .filter(pl.col("ident").is_in(list(caps)))
        .with_columns(pl.lit(size / rows if rows else 0.0).alias("weight"))
        for path, size, rows in files
    ]
    if not frames:
        return {}
    over = (
        pl.concat(frames)
        .filter(~ttl_drop.fill_null(False))
        .sort(["ident", "timestamp"], descending=[False, True])
        .with_columns(pl.col("weight").cum_sum().over("ident").alias("used"))
        .filter(pl.col("used") > pl.col("ident").replace_strict(caps, return_dtype=pl.Float64))
        .group_by("ident")
        .agg(pl.col("timestamp").max())
        .collect()
    )
    return dict(over.iter_rows())


class Drop(NamedTuple):
    """What retention drops: the ``rows`` to drop, none of them newer than ``newest``.

    Partitions whose day starts after ``newest`` hold no such row and need not be read.
    """

    rows: pl.Expr
    newest: float


def retention_filter(
    files: Sequence[tuple[Path, int, int]],
    limits: Mapping[str, tuple[int, int]],
    now: float,
) -> Drop | None:
    """The rows ``limits`` (ident -> ``(ttl_seconds, max_bytes)``) say must go, or ``None``.

    ``files`` lists ``(path, bytes, rows)`` of every live file. A row of a file "weighs"
    ``bytes / rows``; a device keeps its newest rows while their total weight is at most
    ``max_bytes`` (ties on the cut timestamp go too).

    Examples
    --------
    >>> retention_filter([], {"a": (0, 0)}, 100.0) is None
    True
    >>> retention_filter([], {"a": (30, 0), "b": (10, 0)}, 100.0).newest  # b's cutoff
    90.0
    """
    ttl = {ident: now - t for ident, (t, _) in limits.items() if t > 0}
    caps = {ident: b for ident, (_, b) in limits.items() if b > 0}
    if not ttl and not caps:
        return None
    ttl_drop = pl.col("timestamp") < _cutoff(ttl)
    sized = _size_cutoffs(files, caps, ttl_drop) if caps else {}
    newest = max([*ttl.values(), *sized.values()], default=_NEG_INF)
    if not sized:
        return Drop(ttl_drop, newest)
    return Drop(ttl_drop | (pl.col("timestamp") <= _cutoff(sized)), newest)


def due_parts(
    parts: Sequence[PartFile], limits: Mapping[str, tuple[int, int]], now: float
) -> tuple[list[PartFile], pl.Expr] | None:
    """The parts that may hold rows ``limits`` drop, and those rows; ``None`` if none can.

    Only partitions that begin by the newest cutoff can hold such a row: with a year's
    TTL for every device, the hourly run reads no file instead of the whole dataset. Part
    sizes (a footer read a file) are needed, and read, only when some device has a cap.

    Examples
    --------
    >>> due_parts([], {"a": (30, 0)}, 100.0) is None
    True
    """
    capped = any(cap > 0 for _, cap in limits.values())
    files = [(p.path, p.path.stat().st_size, part_rows(p.path)) for p in parts if capped]
    drop = retention_filter(files, limits, now)
    if drop is None:
        return None
    due = [p for p in parts if day_bounds(p.day)[0] <= drop.newest]
    return (due, drop.rows) if due else None
