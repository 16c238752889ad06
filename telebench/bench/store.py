"""Read-back benchmark of the Parquet message store.

Builds a dataset the way the hub leaves it (one compacted file per day, rows in ident and
time order) from synthetic messages of ``devices`` devices reporting every 10 s, then
times what users do with it: read one device-day (8,640 messages) and scan every message
into a DataFrame.

Examples
--------
>>> import tempfile
>>> r = run(tempfile.mkdtemp(), devices=3, days=1, repeat=1)
>>> r.messages
25920
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from telebench.store.dataset import MessageDataset

__all__ = ["StoreResult", "build", "run"]

_DAY0 = 1_764_460_800.0  # 2025-11-30 00:00 UTC
_PERIOD = 10.0  # seconds between messages: 8,640 a device-day
_PARAMS: dict[str, object] = {
    "position.altitude": 200.5,
    "position.satellites": 9,
    "position.hdop": 0.9,
    "engine.ignition.status": True,
    "movement.status": True,
    "external.powersource.voltage": 12.6,
    "battery.voltage": 4.1,
    "gsm.signal.level": 4,
}


@dataclass
class StoreResult:
    """Figures of one read-back run (seconds are best of ``repeat``)."""

    devices: int
    days: int
    messages: int
    files: int
    bytes_on_disk: int
    device_day_s: float
    full_scan_s: float
    full_scan_sorted_s: float


def _day(devices: int, day: int) -> pl.DataFrame:
    per_device = int(86_400 / _PERIOD)
    idx = pl.int_range(0, devices * per_device, eager=True)
    device = idx // per_device
    step = idx % per_device
    return pl.DataFrame(
        {
            "ident": (device + 860_000_000_000_000).cast(pl.String),
            "timestamp": _DAY0 + day * 86_400 + step.cast(pl.Float64) * _PERIOD,
        }
    ).with_columns(
        (pl.col("timestamp") + 1.5).alias("server.timestamp"),
        pl.lit(1).alias("channel.id"),
        pl.lit("teltonika").alias("protocol.name"),
        pl.lit("127.0.0.1:40000").alias("peer"),
        (device + 1).alias("device.id"),
        (54.0 + device.cast(pl.Float64) * 1e-3 + step.cast(pl.Float64) * 1e-6).alias(
            "position.latitude"
        ),
        (25.0 + step.cast(pl.Float64) * 1e-6).alias("position.longitude"),
        ((step * 7) % 120).cast(pl.Float64).alias("position.speed"),
        ((step * 13) % 360).cast(pl.Float64).alias("position.direction"),
        *[pl.lit(v).alias(k) for k, v in _PARAMS.items()],
    )


def build(root: str | Path, *, devices: int, days: int) -> MessageDataset:
    """Write ``days`` days of ``devices`` devices as the hub would (one file a day)."""
    dataset = MessageDataset(root)
    for day in range(days):
        dataset.write(_day(devices, day), first_seq=day + 1, last_seq=day + 1)
    return dataset


def _best(repeat: int, action: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def run(root: str | Path, *, devices: int = 1000, days: int = 2, repeat: int = 3) -> StoreResult:
    """Build the dataset under ``root`` and time the reads."""
    dataset = build(root, devices=devices, days=days)
    stats = dataset.stats()
    probe = str(860_000_000_000_000 + devices // 2)
    day_end = _DAY0 + 86_400 - 1
    device_day = _best(repeat, lambda: dataset.scan([probe], begin=_DAY0, end=day_end).collect())
    full = _best(repeat, lambda: dataset.scan(sort=False).collect())
    full_sorted = _best(max(1, repeat - 1), lambda: dataset.scan().collect())
    return StoreResult(
        devices=devices,
        days=days,
        messages=int(stats["rows"]),
        files=int(stats["files"]),
        bytes_on_disk=int(stats["bytes"]),
        device_day_s=device_day,
        full_scan_s=full,
        full_scan_sorted_s=full_sorted,
    )
