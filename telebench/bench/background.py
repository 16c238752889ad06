"""CPU cost of the hub's background work per record: flush, telemetry fold, compaction.

The ingest benchmark's p99 depends on how much CPU these steps take from the event loop
on a 2-core machine, and its figures swing with the machine's load. This one times each
step alone on synthetic batches shaped like the ingest benchmark's (``devices`` trackers,
the hub's fields plus 14 parameters), so a change to one step shows as a stable number.
CPU is the process's (every thread, Polars' pool included), best of ``repeat``.

Examples
--------
>>> import tempfile
>>> steps = run(tempfile.mkdtemp(), devices=20, flush_rows=200, flushes=3, repeat=1)
>>> [s.name for s in steps]
['parse NDJSON', 'write Parquet', 'newest rows', 'telemetry fold', 'compaction']
>>> steps[0].records
200
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from telebench.hub.flusher import SETTLED_ROWS
from telebench.store.dataset import MessageDataset
from telebench.store.frames import messages_frame
from telebench.store.newest import newest_rows
from telebench.store.telemetry import TelemetryStore

__all__ = ["Step", "batch", "run"]

_T0 = 1_764_460_800.0  # 2025-11-30 00:00 UTC (nothing here expires: no hub runs)


@dataclass(frozen=True)
class Step:
    """One step's best wall time and process CPU, and the ingested records it covers."""

    name: str
    records: int
    wall_s: float
    cpu_s: float

    @property
    def cpu_us_per_record(self) -> float:
        """Process CPU per record handled, in µs."""
        return 1e6 * self.cpu_s / max(self.records, 1)


def batch(devices: int, rows: int, first: int = 0) -> pl.DataFrame:
    """``rows`` messages round-robin over ``devices`` trackers, as a flush sees them.

    >>> batch(2, 3).select("ident", pl.col("timestamp") - 1_764_460_800).rows()
    [('860000000000000', 0.0), ('860000000000001', 0.0), ('860000000000000', 1.0)]
    """
    idx = pl.int_range(first, first + rows, eager=True)
    device = idx % devices
    step = (idx // devices).cast(pl.Float64)
    return pl.DataFrame(
        {
            "ident": (device + 860_000_000_000_000).cast(pl.String),
            "timestamp": _T0 + step,
        }
    ).with_columns(
        (pl.col("timestamp") + 0.4).alias("server.timestamp"),
        pl.lit(1).alias("channel.id"),
        pl.lit("teltonika").alias("protocol.name"),
        (pl.lit("127.0.0.1:") + (device + 40_000).cast(pl.String)).alias("peer"),
        (device + 1).alias("device.id"),
        pl.lit(0).alias("event.priority.enum"),
        (25.0 + step * 1e-5).alias("position.longitude"),
        (54.0 + device.cast(pl.Float64) * 1e-4).alias("position.latitude"),
        ((idx * 7) % 300).alias("position.altitude"),
        ((idx * 13) % 360).alias("position.direction"),
        ((idx * 3) % 14).alias("position.satellites"),
        ((idx * 11) % 120).alias("position.speed"),
        pl.lit(True).alias("position.valid"),
        pl.lit(0).alias("event.enum"),
        (idx % 5 != 0).alias("engine.ignition.status"),
        (idx % 7 != 0).alias("movement.status"),
        ((idx * 5) % 6).alias("gsm.signal.level"),
        (12.0 + (idx % 20).cast(pl.Float64) / 10).alias("external.powersource.voltage"),
        (4.0 + (idx % 3).cast(pl.Float64) / 10).alias("battery.voltage"),
    )


def _best(
    repeat: int,
    action: Callable[[Any], object],
    prepare: Callable[[int], Any] = lambda round_: round_,
) -> tuple[float, float]:
    """Best wall and CPU seconds of ``action(prepare(round))`` over ``repeat`` rounds.

    ``prepare`` runs outside the timing (the files a compaction merges, say).
    """
    walls, cpus = [], []
    for round_ in range(repeat):
        argument = prepare(round_)
        wall, cpu = time.perf_counter(), time.process_time()
        action(argument)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def _write(dataset: MessageDataset, frame: pl.DataFrame, seq: int) -> None:
    dataset.write(frame, first_seq=seq, last_seq=seq)


def run(
    root: str | Path,
    *,
    devices: int = 10_000,
    flush_rows: int = 50_000,
    flushes: int = 30,
    repeat: int = 3,
) -> list[Step]:
    """Time each background step under ``root`` (a scratch folder).

    The telemetry fold takes ``flushes`` flushes' newest rows (the hub's defaults: a flush
    a second, a fold every 30 s); the compaction merges as many of them as hold about
    :data:`~telebench.hub.flusher.SETTLED_ROWS` rows, the size of one background merge.
    """
    root = Path(root)
    frames = [batch(devices, flush_rows, i * flush_rows) for i in range(flushes)]
    ndjson = frames[0].write_ndjson().encode()
    dataset = MessageDataset(root / "messages")
    seqs = iter(range(1, 1_000_000, 1000))
    steps = [
        Step("parse NDJSON", flush_rows, *_best(repeat, lambda _: messages_frame(ndjson))),
        Step(
            "write Parquet",
            flush_rows,
            *_best(repeat, lambda _: _write(dataset, frames[0], next(seqs))),
        ),
        Step("newest rows", flush_rows, *_best(repeat, lambda _: newest_rows(frames[0]))),
    ]
    # The hub folds the newest rows of its flushes since the last fold into telemetry that
    # already holds every device: the first update fills it, the timed ones replace.
    waiting = pl.concat([newest_rows(f) for f in frames], how="diagonal_relaxed")
    with TelemetryStore(root / "telemetry.parquet") as telemetry:
        telemetry.update(waiting)

        def fold(round_: int) -> None:
            later = pl.col("timestamp") + 1_000.0 * (round_ + 1)
            if not telemetry.update(waiting.with_columns(later)):  # every value is newer
                raise RuntimeError("the telemetry fold replaced no value")

        # Per record the folded flushes carried, like the other steps.
        steps.append(Step("telemetry fold", flushes * flush_rows, *_best(repeat, fold)))

    merging = frames[: max(1, SETTLED_ROWS // flush_rows)]

    def flushed(round_: int) -> MessageDataset:
        merged = MessageDataset(root / f"compact-{round_}")
        for frame in merging:
            _write(merged, frame, next(seqs))
        return merged

    def compact(merged: MessageDataset) -> None:
        stats = merged.compact(small_bytes=64 << 20, settled_rows=len(merging) * flush_rows + 1)
        if stats["files_out"] != 1:  # a figure for a merge that did not happen
            raise RuntimeError(f"compaction merged nothing: {stats}")

    rows = len(merging) * flush_rows
    steps.append(Step("compaction", rows, *_best(repeat, compact, flushed)))
    return steps
