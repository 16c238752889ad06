"""The message dataset: hive-partitioned Parquet files under ``DIR/messages``.

Layout::

    DIR/messages/date=2026-11-30/part-00000000000000000001-00000000000000000420.parquet
                 date=2026-12-01/part-...

``date`` is the UTC day of the message ``timestamp`` (device time); the file name is the WAL
sequence range that produced it (see :mod:`telebench.store.partfiles`). Each file is sorted
by ``(ident, timestamp)``, zstd-compressed, with column statistics and 64k-row row groups,
so a one-device query reads one or two row groups. Files of one partition may have
different columns (and, for unregistered parameters, types): readers take the union of
columns and :func:`telebench.store.frames.promote` settles type conflicts. The flush writes
one small file per partition per second; :meth:`MessageDataset.compact` merges them.

Reading it with other tools (``date`` comes from the folder name)::

    MessageDataset("DIR").scan()            # all schemas unified by the promotion rule
    pl.scan_parquet("DIR/messages/**/*.parquet", hive_partitioning=True)  # files of one schema
    pl.concat([pl.scan_parquet(f) for f in files], how="diagonal_relaxed")  # differing schemas
    duckdb.sql("SELECT * FROM read_parquet('DIR/messages/*/*.parquet',"
               " hive_partitioning=true, union_by_name=true)")
    pandas.read_parquet("DIR/messages")     # pyarrow engine; unifies columns, adds ``date``

Reading order: a scan returns rows sorted by ``(ident, timestamp)``. One file, or one
device read from one file per day, is already in that order; anything else is sorted after
reading, which dominates the cost of large multi-day scans.

Concurrency: :meth:`~MessageDataset.write` may run while :meth:`~MessageDataset.compact`,
:meth:`~MessageDataset.delete` or :meth:`~MessageDataset.enforce_retention` run in another
thread (they hold a lock, list files at their start and touch only those). Readers skip
compaction leftovers, so ``compact(grace=60)`` keeps merged inputs for a minute and a lazy
:meth:`~MessageDataset.scan` listed before a merge can still be collected (with the default
``grace=0`` such a scan may hit a deleted file).

Examples
--------
>>> import tempfile
>>> from telebench.store.frames import messages_frame
>>> ds = MessageDataset(tempfile.mkdtemp())
>>> raw = b'{"ident":"a","timestamp":86401,"x":1}\\n{"ident":"a","timestamp":5,"x":2}\\n'
>>> [p.parent.name for p in ds.write(messages_frame(raw), first_seq=1, last_seq=1)]
['date=1970-01-01', 'date=1970-01-02']
>>> ds.scan(idents=["a"], fields=["x"]).collect().rows()
[('a', 5.0, 2), ('a', 86401.0, 1)]
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import polars as pl

from telebench.errors import SchemaError, StoreError
from telebench.store import merging, partfiles, retention, snapshots
from telebench.store.frames import CORE_SCHEMA, REGISTRY_DTYPES, unify
from telebench.store.merging import DEDUP_IGNORED, SORT_KEYS
from telebench.store.partfiles import PartFile

__all__ = ["DEDUP_IGNORED", "MessageDataset"]

_LIST_ATTEMPTS: Final = 3


def _time_filter(
    idents: Sequence[str] | None, begin: float | None, end: float | None
) -> pl.Expr | None:
    """The ``[begin, end]`` / ident predicate (both ends inclusive, as flespi's from/to)."""
    terms = []
    if idents is not None:
        terms.append(pl.col("ident").is_in(list(idents)))
    if begin is not None:
        terms.append(pl.col("timestamp") >= begin)
    if end is not None:
        terms.append(pl.col("timestamp") <= end)
    return pl.all_horizontal(terms) if terms else None


class MessageDataset:
    """Messages stored as Parquet under ``<root>/messages`` (module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root) / "messages"
        self._lock = threading.Lock()  # serialises compact/delete/retention
        self._schemas: dict[Path, tuple[int, int, dict[str, pl.DataType]]] = {}

    # -- writing -----------------------------------------------------------------------
    def write(self, frame: pl.DataFrame, *, first_seq: int, last_seq: int) -> list[Path]:
        """Store ``frame`` (messages of WAL entries ``first_seq..last_seq``), one file per day.

        Returns the files written. Each is written to a temp name, fsync'd, renamed in and
        its folder fsync'd: after a crash a file is either whole or absent.
        """
        if frame.is_empty():
            return []
        for name in SORT_KEYS:
            if name not in frame.columns or frame[name].null_count():
                msg = f"cannot store messages: column {name!r} is missing or has nulls"
                raise SchemaError(msg)
        if first_seq > last_seq:
            raise StoreError(f"bad WAL seq range {first_seq}..{last_seq}")
        day = (pl.col("timestamp") // 86_400).cast(pl.Int32).cast(pl.Date).alias("__day")
        written = []
        for (key,), part in frame.with_columns(day).partition_by("__day", as_dict=True).items():
            assert isinstance(key, dt.date)
            path = self.root / f"date={key.isoformat()}" / partfiles.part_name(first_seq, last_seq)
            written.append(partfiles.atomic_write_parquet(part.drop("__day").sort(SORT_KEYS), path))
        return sorted(written)

    def discard_uncommitted(self, checkpoint: int) -> int:
        """Delete files of flushes after ``checkpoint``, compaction leftovers and temp files.

        Run at startup before the WAL is replayed from ``checkpoint + 1``.
        """
        with self._lock:
            parts = partfiles.list_parts(self.root)
            doomed = [p for p in parts if p.first > checkpoint]
            kept = [p for p in parts if p.first <= checkpoint]
            paths = [p.path for p in doomed + partfiles.leftovers(kept)]
            paths += partfiles.temp_files(self.root)
            self._unlink(paths)
            return len(paths)

    def _unlink(self, paths: Sequence[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)
            self._schemas.pop(path, None)
        for folder in {p.parent for p in paths}:
            if folder.exists():
                partfiles.fsync_dir(folder)

    # -- reading -----------------------------------------------------------------------
    def _schema(self, path: Path) -> dict[str, pl.DataType]:
        st = path.stat()
        cached = self._schemas.get(path)
        if cached is not None and cached[:2] == (st.st_mtime_ns, st.st_size):
            return cached[2]
        schema = pl.read_parquet_schema(path)
        self._schemas[path] = (st.st_mtime_ns, st.st_size, schema)
        return schema

    def _frames(
        self, parts: Sequence[PartFile], predicate: pl.Expr | None, fields: Sequence[str] | None
    ) -> list[pl.LazyFrame]:
        """One lazy scan per distinct file schema, filtered and projected at the source."""
        groups: dict[tuple[tuple[str, pl.DataType], ...], list[Path]] = {}
        for part in parts:
            key = tuple(self._schema(part.path).items())
            groups.setdefault(key, []).append(part.path)
        frames = []
        for key, paths in groups.items():
            lf = pl.scan_parquet(paths, hive_partitioning=False)
            if predicate is not None:
                lf = lf.filter(predicate)
            if fields is not None:
                present = {name for name, _ in key}
                lf = lf.select([f for f in fields if f in present])
            frames.append(lf)
        return frames

    def _listed(
        self,
        begin: float | None,
        end: float | None,
        predicate: pl.Expr | None,
        fields: Sequence[str] | None,
    ) -> tuple[list[PartFile], list[pl.LazyFrame]]:
        """Live parts and their scans; lists again if a compaction removed a listed file."""
        for _ in range(_LIST_ATTEMPTS - 1):
            parts = partfiles.live_parts(self.root, begin, end)
            try:
                return parts, self._frames(parts, predicate, fields)
            except FileNotFoundError:
                continue
        parts = partfiles.live_parts(self.root, begin, end)
        return parts, self._frames(parts, predicate, fields)

    def scan(
        self,
        idents: Sequence[str] | None = None,
        begin: float | None = None,
        end: float | None = None,
        fields: Sequence[str] | None = None,
        filter: pl.Expr | None = None,
        *,
        sort: bool = True,
    ) -> pl.LazyFrame:
        """Messages of ``idents`` with ``begin <= timestamp <= end``, sorted by ident, time.

        Only partitions overlapping ``[begin, end]`` are opened. ``fields`` picks columns
        (``ident`` and ``timestamp`` always come first); a requested field no file has comes
        back as a null column (of its registry type if it has one); a column ``filter``
        names that no file has is null while filtering. ``sort=False`` skips the final sort
        where one would be needed (multi-file scans): rows come per file, each sorted.
        """
        wanted = None if fields is None else list(dict.fromkeys([*SORT_KEYS, *fields]))
        read = wanted
        if wanted is not None and filter is not None:
            read = list(dict.fromkeys([*wanted, *filter.meta.root_names()]))
        parts, frames = self._listed(begin, end, _time_filter(idents, begin, end), read)
        presorted = len(frames) == 1 and _presorted(parts, idents)
        out = unify(frames) if frames else pl.LazyFrame(schema=dict(CORE_SCHEMA))
        if filter is not None:
            # A parameter no message has is null in every message (as flespi sees it).
            missing = [n for n in filter.meta.root_names() if n not in out.collect_schema()]
            out = out.with_columns(_null(n) for n in missing).filter(filter).drop(missing)
        if wanted is not None:
            have = out.collect_schema()
            out = out.select(pl.col(f) if f in have else _null(f) for f in wanted)
        # Files are sorted by (ident, timestamp) and days are disjoint in time, so one file,
        # or one device's rows from one file per day read in day order, need no sort (a
        # sort of 10M rows costs seconds).
        return out if presorted or not sort else out.sort(SORT_KEYS)

    def stats(self) -> dict[str, int]:
        """``files``, ``partitions``, ``bytes`` and ``rows`` of the live part files."""
        parts = partfiles.live_parts(self.root)
        rows = sum(merging.part_rows(p.path) for p in parts)
        return {
            "files": len(parts),
            "partitions": len({p.day for p in parts}),
            "bytes": sum(p.path.stat().st_size for p in parts),
            "rows": rows,
        }

    # -- maintenance -------------------------------------------------------------------
    def compact(
        self,
        *,
        max_files: int = 1,
        grace: float = 0.0,
        small_bytes: int | None = None,
        settled_rows: int | None = None,
        max_merges: int | None = None,
    ) -> dict[str, int]:
        """Merge each partition holding more than ``max_files`` files into one file.

        ``max_files=0`` rewrites every partition (dedup included) even if it has one file.

        Identical messages (ignoring :data:`DEDUP_IGNORED`: a device resending after a lost
        ack) are kept once, the earliest arrival. The merged file is named after the whole
        seq range and renamed in before the inputs are deleted; a crash in between leaves
        inputs that :func:`partfiles.leftovers` recognises. Files written after the start
        are not touched. With ``grace > 0`` the inputs stay (readers ignore them) until a
        later call finds them superseded for ``grace`` seconds, so a scan listed before
        the merge can still be collected.

        With ``small_bytes``, only the newest run of files smaller than that is merged
        (cheap, frequent compaction that leaves the big merged file of the day alone). That
        run is a suffix in seq order, so no other file's range can fall inside the merged
        range and leftover detection stays exact. With ``settled_rows`` too, a file of that
        many rows is also left alone, and the run is merged in consecutive groups that each
        close once they reach that many rows: a merge holds at most about ``settled_rows``
        rows in memory, and a merged file is not merged again and again while the day grows.
        With ``max_merges``, the oldest merges are done first and ``stats["pending"]``
        counts those left for a later call.
        """
        stats = {"partitions": 0, "files_in": 0, "files_out": 0, "rows_dropped": 0, "pending": 0}
        with self._lock:
            self._reap(grace)
            by_day: dict[dt.date, list[PartFile]] = {}
            for part in partfiles.live_parts(self.root):
                by_day.setdefault(part.day, []).append(part)
            for _, group in sorted(by_day.items()):
                chosen = merging.runs_to_merge(group, max_files, small_bytes, settled_rows)
                stats["partitions"] += bool(chosen)
                for merge in chosen:
                    if max_merges is not None and stats["files_out"] >= max_merges:
                        stats["pending"] += 1
                        continue
                    stats["rows_dropped"] += self._merge(merge, keep_inputs=grace > 0)
                    stats["files_in"] += len(merge)
                    stats["files_out"] += 1
        return stats

    def reap(self, grace: float = 0.0) -> int:
        """Delete compaction leftovers whose merged file is ``grace`` s old; how many went.

        A store whose writer has stopped then reads exactly with a plain glob.

        >>> import tempfile
        >>> from telebench.store.frames import messages_frame
        >>> ds = MessageDataset(tempfile.mkdtemp())
        >>> for seq in (1, 2):
        ...     _ = ds.write(messages_frame(b'{"ident":"a","timestamp":%d}' % seq),
        ...                  first_seq=seq, last_seq=seq)
        >>> ds.compact(grace=60)["files_in"], len(list(ds.root.glob("*/*.parquet")))
        (2, 3)
        >>> ds.reap(), len(list(ds.root.glob("*/*.parquet")))
        (2, 1)
        """
        with self._lock:
            return self._reap(grace)

    def _reap(self, grace: float) -> int:
        """Delete leftovers whose superseding file is at least ``grace`` seconds old."""
        parts = partfiles.list_parts(self.root)
        now = time.time()
        doomed = [
            old.path
            for old, new in partfiles.superseded(parts)
            if now - new.path.stat().st_mtime >= grace
        ]
        self._unlink(doomed)
        return len(doomed)

    def _merge(self, group: Sequence[PartFile], *, keep_inputs: bool) -> int:
        rows_in = sum(merging.part_rows(p.path) for p in group)
        merged = unify(self._frames(group, None, None))
        frame = merged.sort(
            merging.arrival_order(merged.collect_schema()), nulls_last=True
        ).collect()
        frame = merging.dedup(frame)
        name = partfiles.part_name(min(p.first for p in group), max(p.last for p in group))
        out = partfiles.atomic_write_parquet(frame, group[0].path.parent / name)
        if not keep_inputs:
            self._unlink([p.path for p in group if p.path != out])
        return rows_in - len(frame)

    def delete(self, idents: Sequence[str] | None, begin: float | None, end: float | None) -> int:
        """Remove the messages ``scan(idents, begin, end)`` would return; rows deleted."""
        predicate = _time_filter(idents, begin, end)
        with self._lock:
            parts = partfiles.live_parts(self.root, begin, end)
            everything = pl.col("ident").is_not_null()  # a column expression, not a scalar
            return self._rewrite(parts, everything if predicate is None else predicate)

    def _rewrite(self, parts: Sequence[PartFile], drop: pl.Expr) -> int:
        removed, emptied = retention.rewrite([p.path for p in parts], drop)
        # The merge inputs an emptied file still shadows (kept for scans) hold only rows it
        # held: they go with it, or they would read as live again and bring the rows back.
        gone = set(emptied)
        shadowed = [
            old.path
            for old, new in partfiles.superseded(partfiles.list_parts(self.root))
            if new.path in gone
        ]
        self._unlink([*emptied, *shadowed])
        return removed

    def enforce_retention(self, limits: Mapping[str, tuple[int, int]], now: float) -> int:
        """Apply per-device ``(ttl_seconds, max_bytes)`` limits; rows dropped.

        ``ttl <= 0`` keeps messages forever (flespi's "0 = don't store" is applied at
        ingest, not here); otherwise messages with ``timestamp < now - ttl`` go.
        ``max_bytes > 0`` drops a device's oldest messages until its estimated size is at
        most ``max_bytes``. A device's size is estimated as its share, by row count, of each
        file's bytes: ``sum(file bytes * device rows in file / file rows)``.
        """
        with self._lock:
            due = retention.due_parts(partfiles.live_parts(self.root), limits, now)
            return self._rewrite(*due) if due is not None else 0

    # -- snapshots ---------------------------------------------------------------------
    def snapshot(self, day: dt.date, dest: Path) -> list[Path]:
        """Write ``dest/<ident>/<day>.json.gz`` for each device with messages on ``day``."""
        begin, end = partfiles.day_bounds(day)
        frame = self.scan(begin=begin, end=math.nextafter(end, -math.inf)).collect()
        return snapshots.write_snapshots(frame, day, Path(dest))

    def not_stored(self, messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The ``messages`` whose ``(ident, timestamp)`` no stored message has (a restore).

        >>> import tempfile
        >>> from telebench.store.frames import messages_frame
        >>> ds = MessageDataset(tempfile.mkdtemp())
        >>> _ = ds.write(messages_frame(b'{"ident":"a","timestamp":1}'), first_seq=1, last_seq=1)
        >>> ds.not_stored([{"ident": "a", "timestamp": 1}, {"ident": "a", "timestamp": 2}])
        [{'ident': 'a', 'timestamp': 2}]
        """
        if not messages:
            return []
        stamps = [float(m["timestamp"]) for m in messages]
        idents = sorted({str(m["ident"]) for m in messages})
        fields = ["ident", "timestamp"]
        stored = self.scan(idents, begin=min(stamps), end=max(stamps), fields=fields)
        present = set(stored.select(fields).collect().iter_rows())
        return [m for m in messages if (m["ident"], float(m["timestamp"])) not in present]

    @staticmethod
    def read_snapshot(path: Path) -> list[dict[str, Any]]:
        """The messages of one snapshot file (see :func:`snapshots.read_snapshot`)."""
        return snapshots.read_snapshot(Path(path))


def _null(name: str) -> pl.Expr:
    """A null column ``name``, of its registry type if it has one."""
    return pl.lit(None, REGISTRY_DTYPES.get(name)).alias(name)


def _presorted(parts: Sequence[PartFile], idents: Sequence[str] | None) -> bool:
    one_per_day = len({p.day for p in parts}) == len(parts)
    return len(parts) <= 1 or (one_per_day and idents is not None and len(set(idents)) == 1)
