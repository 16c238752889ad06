"""Part files of the message dataset: names, listing, crash leftovers and atomic writes.

A part file is ``<root>/date=YYYY-MM-DD/part-<first seq:020d>-<last seq:020d>.parquet``: the
WAL sequence range whose flush (or compaction) produced it. Files being written are hidden
temp files (``.part-….tmp``) that no ``*.parquet`` glob matches.

A file whose seq range lies inside another file's range in the same partition is a
compaction leftover (the merged output was renamed in, the inputs not yet deleted): readers
ignore it and :func:`leftovers` names it for deletion.

Examples
--------
>>> parse_name("part-00000000000000000001-00000000000000000009.parquet")
(1, 9)
>>> part_name(1, 9)
'part-00000000000000000001-00000000000000000009.parquet'
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from telebench.errors import StoreError

__all__ = [
    "ROW_GROUP_ROWS",
    "PartFile",
    "atomic_write_bytes",
    "atomic_write_parquet",
    "day_bounds",
    "fsync_dir",
    "leftovers",
    "list_parts",
    "live_parts",
    "parse_name",
    "part_name",
    "partition_dirs",
    "superseded",
    "temp_files",
]

_NAME: Final = re.compile(r"part-(\d{20})-(\d{20})\.parquet")
_DIR: Final = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
#: Rows per Parquet row group: small enough that one device's rows of a day (8,640 at one
#: message per 10 s) span one or two groups, so ident statistics prune the rest.
ROW_GROUP_ROWS: Final = 65_536
_DAY: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class PartFile:
    """One part file: its path, partition day and WAL sequence range."""

    path: Path
    day: dt.date
    first: int
    last: int

    def inside(self, other: PartFile) -> bool:
        """True when this file's seq range lies within ``other``'s (and they differ)."""
        return self.path != other.path and other.first <= self.first <= self.last <= other.last


def part_name(first: int, last: int) -> str:
    """The file name of the part covering WAL sequences ``first``..``last``."""
    return f"part-{first:020d}-{last:020d}.parquet"


def parse_name(name: str) -> tuple[int, int] | None:
    """``(first, last)`` from a part file name, ``None`` for any other name."""
    m = _NAME.fullmatch(name)
    return None if m is None else (int(m.group(1)), int(m.group(2)))


def day_bounds(day: dt.date) -> tuple[float, float]:
    """UNIX seconds of the start of ``day`` (UTC) and of the next day.

    >>> day_bounds(dt.date(1970, 1, 2))
    (86400.0, 172800.0)
    """
    start = (day - dt.date(1970, 1, 1)).days * _DAY
    return start, start + _DAY


def _utc_day(ts: float) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(ts // _DAY))


def partition_dirs(
    root: Path, begin: float | None = None, end: float | None = None
) -> Iterator[tuple[dt.date, Path]]:
    """Partition folders whose day overlaps ``[begin, end]``, oldest first (names only)."""
    if not root.is_dir():
        return
    lo = None if begin is None else _utc_day(begin)
    hi = None if end is None else _utc_day(end)
    found = []
    for entry in root.iterdir():
        m = _DIR.fullmatch(entry.name)
        if m is None or not entry.is_dir():
            continue
        day = dt.date.fromisoformat(m.group(1))
        if (lo is None or day >= lo) and (hi is None or day <= hi):
            found.append((day, entry))
    yield from sorted(found)


def list_parts(root: Path, begin: float | None = None, end: float | None = None) -> list[PartFile]:
    """Every part file in the partitions overlapping ``[begin, end]``, leftovers included."""
    parts = []
    for day, folder in partition_dirs(root, begin, end):
        for entry in folder.iterdir():
            seqs = parse_name(entry.name)
            if seqs is not None:
                parts.append(PartFile(entry, day, *seqs))
    parts.sort(key=lambda p: (p.day, p.first, p.last))
    return parts


def superseded(parts: Iterable[PartFile]) -> list[tuple[PartFile, PartFile]]:
    """``(leftover, container)`` pairs: a part inside another part's seq range, same day.

    One sweep per partition in (first, -last) order: a part is inside the earlier part
    with the largest ``last`` when that ``last`` reaches its own.
    """
    out: list[tuple[PartFile, PartFile]] = []
    by_day: dict[dt.date, list[PartFile]] = {}
    for p in parts:
        by_day.setdefault(p.day, []).append(p)
    for group in by_day.values():
        group.sort(key=lambda p: (p.first, -p.last))
        widest = group[0]
        for p in group[1:]:
            if p.last <= widest.last:
                out.append((p, widest))
            else:
                widest = p
    return out


def leftovers(parts: Iterable[PartFile]) -> list[PartFile]:
    """Parts whose seq range lies inside another part's range in the same partition."""
    return [old for old, _ in superseded(parts)]


def live_parts(root: Path, begin: float | None = None, end: float | None = None) -> list[PartFile]:
    """The part files readers use: :func:`list_parts` minus :func:`leftovers`."""
    parts = list_parts(root, begin, end)
    dead = {p.path for p in leftovers(parts)}
    return [p for p in parts if p.path not in dead]


def temp_files(root: Path) -> list[Path]:
    """Stray temp files (from a writer that crashed) in the partition folders."""
    return [
        entry
        for _, folder in partition_dirs(root)
        for entry in folder.iterdir()
        if entry.name.startswith(".") and entry.name.endswith(".tmp")
    ]


def fsync_dir(folder: Path) -> None:
    """fsync a folder so the renames and unlinks in it survive a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def _drop_temp(temp: Path) -> None:
    # Best-effort cleanup while another error propagates; discard_uncommitted() sweeps
    # any temp file left behind.
    with contextlib.suppress(OSError):
        temp.unlink(missing_ok=True)


def _commit(temp: Path, path: Path) -> None:
    with temp.open("rb+") as fh:
        os.fsync(fh.fileno())
    temp.replace(path)
    fsync_dir(path.parent)


def atomic_write_parquet(frame: pl.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` via a temp file, fsync'd and renamed in (zstd, stats on)."""
    temp = _temp_for(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(
            temp, compression="zstd", statistics=True, row_group_size=ROW_GROUP_ROWS
        )
        _commit(temp, path)
    except OSError as exc:
        _drop_temp(temp)
        raise StoreError(f"cannot write part file {path}: {exc}") from exc
    except BaseException:
        _drop_temp(temp)
        raise
    return path


def atomic_write_bytes(data: bytes, path: Path) -> Path:
    """Write ``data`` to ``path`` via a fsync'd temp file renamed in."""
    temp = _temp_for(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(data)
        _commit(temp, path)
    except OSError as exc:
        _drop_temp(temp)
        raise StoreError(f"cannot write {path}: {exc}") from exc
    return path
