"""Ingest benchmark: a separate process drives a real ``telebench hub`` over TCP.

The hub runs as ``python -m telebench hub`` in its own process (fsync on, as in real use);
this process plays ``devices`` Teltonika trackers (Codec 8E, ``records`` records a packet),
each with at most one packet in flight, as real trackers do. It reports the connections
held, the records acked per second (each ack means fsync'd), the ack latency percentiles
the hub's peak RSS and the CPU both sides spent per record in the measured window (the
driver's packets are encoded once by the real codec and reused, so its share stays small),
then stops the hub with SIGTERM and checks that every acked record
is in the Parquet dataset exactly once.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

from telebench.bench.fleet import Fleet, Window, drive
from telebench.hub.eventloop import new_event_loop

__all__ = ["IngestResult", "SecondFigures", "drain_output", "per_second", "run"]


@dataclass
class IngestResult:
    """What one ingest run measured."""

    devices: int
    connected: int
    seconds: float
    acked_records: int
    records_per_s: float
    ack_p50_ms: float
    ack_p99_ms: float
    ack_max_ms: float
    hub_peak_rss_mb: float
    hub_cpu_percent: float
    client_cpu_percent: float
    hub_cpu_us_per_record: float = 0.0
    client_cpu_us_per_record: float = 0.0
    #: The driver's longest event-loop stall in the window: it adds to the latency measured.
    driver_stall_ms: float = 0.0
    total_acked: int = 0
    stored_records: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    timeline: list[SecondFigures] = field(default_factory=list)


@dataclass(frozen=True)
class SecondFigures:
    """One second of the measured window: records acked and the latency of their acks."""

    second: int
    records: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def per_second(
    acks: Sequence[tuple[float, float, int]], window: float | None = None
) -> list[SecondFigures]:
    """Cut ``(seconds into the window, latency s, records)`` acks into one row a second.

    A run's p99 hides whether latency was steady or came in episodes (a compaction, a
    telemetry fold); this shows which. Acks read just after a ``window`` of whole seconds
    closed (the driver's timer runs a little late) count in its last second, not as a
    second of their own.

    >>> rows = per_second([(0.2, 0.010, 10), (0.7, 0.030, 10), (1.5, 0.5, 10)])
    >>> [(r.second, r.records, r.p50_ms, r.max_ms) for r in rows]
    [(0, 20, 30.0, 30.0), (1, 10, 500.0, 500.0)]
    >>> [(r.second, r.records) for r in per_second([(0.5, 0.01, 10), (1.003, 0.4, 3)], 1.0)]
    [(0, 13)]
    """
    last = None if window is None else max(math.ceil(window) - 1, 0)
    buckets: dict[int, list[tuple[float, int]]] = {}
    for at, latency, records in acks:
        second = int(at) if last is None else min(int(at), last)
        buckets.setdefault(second, []).append((latency, records))
    rows = []
    for second in sorted(buckets):
        latencies = sorted(latency for latency, _ in buckets[second])
        rows.append(
            SecondFigures(
                second=second,
                records=sum(records for _, records in buckets[second]),
                p50_ms=_quantile_ms(latencies, 0.5),
                p99_ms=_quantile_ms(latencies, 0.99),
                max_ms=1000 * latencies[-1],
            )
        )
    return rows


def _quantile_ms(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted latencies in seconds, in ms (the nearest rank below)."""
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def drain_output(stream: IO[str]) -> None:
    """Read the hub's output to its end (a full pipe would block it), then close it.

    >>> import io
    >>> out = io.StringIO("listening ...")
    >>> drain_output(out); out.closed
    True
    """
    with stream:
        stream.read()


def _start_hub(
    store: Path, fsync: bool, config: Path | None = None
) -> tuple[subprocess.Popen[str], int]:
    ports = [
        f"--port={p}=0"
        for p in ("teltonika", "wialon_ips", "gt06", "osmand", "teltonika/udp", "wialon_ips/udp")
    ]
    args = [sys.executable, "-m", "telebench", "hub", "--store", str(store), *ports]
    if not fsync:
        args.append("--no-fsync")
    if config is not None:
        args += ["--config", str(config)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.match(r"listening\s+teltonika\s+tcp\s+\S+:(\d+)", line)
        if found:
            threading.Thread(target=drain_output, args=(proc.stdout,), daemon=True).start()
            return proc, int(found.group(1))
    raise RuntimeError(f"the hub did not start (exit code {proc.wait()})")


def _watch(pid: int, peak: list[float], stop: threading.Event) -> None:
    """Peak RSS of the hub and its decoder processes together."""
    process = psutil.Process(pid)
    while not stop.wait(0.25):
        try:
            members = (process, *process.children(recursive=True))
            rss = sum(member.memory_info().rss for member in members)
        except psutil.Error:
            return
        peak[0] = max(peak[0], rss / 2**20)


def run(
    store: Path,
    *,
    devices: int,
    rate: float,
    records: int,
    seconds: float,
    warmup: float = 5.0,
    fsync: bool = True,
    config: Path | None = None,
    progress: Callable[[str], None] = print,
) -> IngestResult:
    """Start a hub on ``store``, drive it, stop it, count what it stored."""
    proc, port = _start_hub(store, fsync, config)
    peak, watching = [0.0], threading.Event()
    watcher = threading.Thread(target=_watch, args=(proc.pid, peak, watching), daemon=True)
    watcher.start()
    fleet = Fleet(records=records, interval=devices * records / rate)
    window = Window(proc.pid)
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(drive(port, devices, seconds, warmup, fleet, window, progress))
    finally:
        watching.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    latencies = sorted(latency for _, latency, _ in fleet.acks) or [0.0]
    acked = sum(records for _, _, records in fleet.acks)
    elapsed = window.seconds
    result = IngestResult(
        devices=devices,
        connected=fleet.connected,
        seconds=elapsed,
        acked_records=acked,
        records_per_s=acked / elapsed,
        ack_p50_ms=_quantile_ms(latencies, 0.5),
        ack_p99_ms=_quantile_ms(latencies, 0.99),
        ack_max_ms=1000 * latencies[-1],
        hub_peak_rss_mb=peak[0],
        hub_cpu_percent=100 * window.cpu[0] / elapsed,
        client_cpu_percent=100 * window.cpu[1] / elapsed,
        hub_cpu_us_per_record=1e6 * window.cpu[0] / max(acked, 1),
        client_cpu_us_per_record=1e6 * window.cpu[1] / max(acked, 1),
        driver_stall_ms=1000 * fleet.stall,
        total_acked=fleet.total,
        errors=fleet.errors[:5],
        timeline=per_second(fleet.acks, seconds),
    )
    _count_stored(store, result)
    return result


def _count_stored(store: Path, result: IngestResult) -> None:
    import polars as pl

    files = list((store / "messages").glob("date=*/*.parquet"))
    if not files:
        return
    frame = pl.scan_parquet(files, missing_columns="insert").select("ident", "timestamp").collect()
    result.stored_records = frame.height
    result.duplicates = frame.height - frame.unique().height


def cpu_count() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0))
