"""Which part files a compaction merges, and how a merge orders and de-duplicates rows.

Background compaction merges the newest run of small files of a day. Files of
``settled_rows`` rows (or ``small_bytes`` bytes) are left alone and the run is cut into
groups of about that many rows, so one merge holds a bounded number of rows in memory and a
merged file is not merged again and again while its day grows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import polars as pl

from telebench.store.partfiles import PartFile

__all__ = ["DEDUP_IGNORED", "SORT_KEYS", "arrival_order", "dedup", "part_rows", "runs_to_merge"]

#: Columns ignored when deciding that two messages are the same message resent.
DEDUP_IGNORED: Final = ("server.timestamp", "peer", "channel.id")
#: Every part file is sorted by these.
SORT_KEYS: Final = ["ident", "timestamp"]


def runs_to_merge(
    group: Sequence[PartFile], max_files: int, small_bytes: int | None, settled_rows: int | None
) -> list[Sequence[PartFile]]:
    """The runs of one partition's files (sorted by seq) a compaction merges, each into one.

    Each file of ``settled_rows`` rows stops the run; the run is cut into groups that close
    at ``settled_rows`` rows; a group of one file is left as it is.

    >>> import datetime, pathlib, tempfile
    >>> from telebench.store.partfiles import part_name
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> def part(first: int, rows: int) -> PartFile:
    ...     path = folder / part_name(first, first)
    ...     pl.DataFrame({"n": range(rows)}).write_parquet(path)
    ...     return PartFile(path, datetime.date(2026, 1, 1), first, first)
    >>> files = [part(1, 50), part(2, 5), part(3, 10), part(4, 10), part(5, 10), part(6, 1)]
    >>> [[p.first for p in run] for run in runs_to_merge(files, 1, 2**20, settled_rows=20)]
    [[2, 3, 4], [5, 6]]
    """
    if len(group) <= max_files:
        return []
    if small_bytes is None:
        return [group]
    start, rows = len(group), list[int]()  # rows of the files in the run, newest first
    while start > 0 and group[start - 1].path.stat().st_size < small_bytes:
        count = part_rows(group[start - 1].path) if settled_rows else 0
        if settled_rows and count >= settled_rows:
            break
        rows.append(count)
        start -= 1
    run = group[start:]
    runs = [run] if not settled_rows else _grouped(run, rows[::-1], settled_rows)
    return [files for files in runs if len(files) > 1]


def _grouped(run: Sequence[PartFile], rows: Sequence[int], limit: int) -> list[list[PartFile]]:
    """``run`` cut into consecutive groups, each closed once it holds ``limit`` rows."""
    groups: list[list[PartFile]] = [[]]
    held = 0
    for part, count in zip(run, rows, strict=True):
        if held >= limit:
            groups.append([])
            held = 0
        groups[-1].append(part)
        held += count
    return groups


def arrival_order(schema: Mapping[str, pl.DataType]) -> list[str]:
    """Sort keys putting a device's resends after the first arrival (if arrival is known).

    >>> arrival_order({"ident": pl.String, "timestamp": pl.Float64, "server.timestamp": pl.Float64})
    ['ident', 'timestamp', 'server.timestamp']
    """
    return [*SORT_KEYS, "server.timestamp"] if "server.timestamp" in schema else list(SORT_KEYS)


def dedup(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep the first of identical messages (ignoring :data:`DEDUP_IGNORED`).

    ``frame`` is sorted by ident, timestamp, arrival, so resends are adjacent in their
    (ident, timestamp) run: only rows of runs longer than one are compared in full.

    >>> frame = pl.DataFrame({"ident": ["a", "a", "a"], "timestamp": [1.0, 1.0, 2.0],
    ...                       "peer": ["x:1", "y:2", "x:1"], "v": [5, 5, 6]})
    >>> dedup(frame).rows()  # the resend from y:2 goes
    [('a', 1.0, 'x:1', 5), ('a', 2.0, 'x:1', 6)]
    """
    same_prev = (pl.col("ident") == pl.col("ident").shift(1)) & (
        pl.col("timestamp") == pl.col("timestamp").shift(1)
    )
    candidate = (same_prev | same_prev.shift(-1)).fill_null(False)
    mask = frame.select(candidate).to_series()
    if not mask.any():
        return frame
    subset = [c for c in frame.columns if c not in DEDUP_IGNORED]
    runs = frame.filter(mask).unique(subset, keep="first", maintain_order=True)
    order = arrival_order(frame.schema)
    return pl.concat([frame.filter(~mask), runs]).sort(order, nulls_last=True)


def part_rows(path: Path) -> int:
    """The row count of a Parquet file, from its footer.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.parquet"
    >>> pl.DataFrame({"n": [1, 2, 3]}).write_parquet(path)
    >>> part_rows(path)
    3
    """
    count = pl.scan_parquet(path, hive_partitioning=False).select(pl.len()).collect().item()
    assert isinstance(count, int)
    return count
