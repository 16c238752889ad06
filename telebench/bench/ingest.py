"""Ingest benchmark: a separate process drives a real ``telebench hub`` over TCP.

The hub runs as ``python -m telebench hub`` in its own process (fsync on, as in real use);
this process plays ``devices`` Teltonika trackers (Codec 8E, ``records`` records a packet),
each with at most one packet in flight, as real trackers do. It reports the connections
held, the records acked per second (each ack means fsync'd), the ack latency percentiles
and the hub's peak RSS, then stops the hub with SIGTERM and checks that every acked record
is in the Parquet dataset exactly once.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from telebench.protocols import Role, Session, new_session
from telebench.protocols.events import Login, LoginAnswer, RecordsAck, SendRecords

__all__ = ["IngestResult", "run"]

_BASE_TIME = 1_750_000_000


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
    total_acked: int = 0
    stored_records: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


class _Tracker(asyncio.Protocol):
    """One simulated tracker: login, then one packet in flight at a time."""

    def __init__(self, index: int, stats: _Stats) -> None:
        self.ident = f"86{index:013d}"
        self.index = index
        self.stats = stats
        self.session: Session = new_session("teltonika", Role.CLIENT, options={"codec": 0x8E})
        self.transport: asyncio.Transport | None = None
        self.logged_in = asyncio.get_running_loop().create_future()
        self.acked: asyncio.Future[int] | None = None
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.session.send(Login(ident=self.ident)))

    def data_received(self, data: bytes) -> None:
        self.session.receive_data(data)
        for event in self.session.events():
            if isinstance(event, LoginAnswer) and not self.logged_in.done():
                self.logged_in.set_result(event.accepted)
            elif isinstance(event, RecordsAck) and self.acked and not self.acked.done():
                self.stats.latencies.append(time.perf_counter() - self.sent_at)
                self.acked.set_result(event.count)

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in (self.logged_in, self.acked):
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionError("closed by the hub"))

    async def send(self, records: tuple[dict[str, object], ...]) -> int:
        assert self.transport is not None
        self.acked = asyncio.get_running_loop().create_future()
        data = self.session.send(SendRecords(messages=records))  # type: ignore[arg-type]
        self.sent_at = time.perf_counter()
        self.transport.write(data)
        return await self.acked


@dataclass
class _Stats:
    latencies: list[float] = field(default_factory=list)
    acked: int = 0
    total: int = 0
    counting: bool = False
    errors: list[str] = field(default_factory=list)


def _records(index: int, packet: int, count: int) -> tuple[dict[str, object], ...]:
    start = _BASE_TIME + packet * count * 10
    return tuple(
        {
            "timestamp": float(start + i * 10),
            "position.latitude": 42.5 + index * 1e-5,
            "position.longitude": 1.5 + i * 1e-4,
            "position.altitude": 1100.0,
            "position.direction": 90.0,
            "position.speed": 36.0 + i,
            "position.satellites": 9,
            "engine.ignition.status": True,
            "movement.status": True,
            "gsm.signal.level": 4,
            "external.powersource.voltage": 12.6,
            "battery.voltage": 4.1,
        }
        for i in range(count)
    )


async def _device(
    tracker_factory: Callable[[], _Tracker],
    port: int,
    interval: float,
    records: int,
    stop: asyncio.Event,
    stats: _Stats,
    connected: list[int],
) -> None:
    loop = asyncio.get_running_loop()
    try:
        _, tracker = await loop.create_connection(tracker_factory, "127.0.0.1", port)
        if not await tracker.logged_in:
            stats.errors.append(f"{tracker.ident}: login refused")
            return
    except (OSError, ConnectionError) as exc:
        stats.errors.append(f"connect: {exc}")
        return
    connected[0] += 1
    packet = 0
    await asyncio.sleep(interval * (tracker.index % 997) / 997)  # spread the devices out
    while not stop.is_set():
        started = loop.time()
        try:
            count = await tracker.send(_records(tracker.index, packet, records))
        except ConnectionError as exc:
            stats.errors.append(f"{tracker.ident}: {exc}")
            return
        stats.total += count
        if stats.counting:
            stats.acked += count
        packet += 1
        await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
    assert tracker.transport is not None
    tracker.transport.close()


async def _drive(
    port: int,
    devices: int,
    rate: float,
    records: int,
    seconds: float,
    warmup: float,
    stats: _Stats,
    connected: list[int],
    progress: Callable[[str], None],
) -> float:
    stop = asyncio.Event()
    interval = devices * records / rate
    tasks = []
    for index in range(devices):
        factory = functools.partial(_Tracker, index, stats)
        task = _device(factory, port, interval, records, stop, stats, connected)
        tasks.append(asyncio.create_task(task))
        if index % 500 == 499:
            await asyncio.sleep(0.05)  # a ramp, as a fleet does not connect in one instant
    while connected[0] + len(stats.errors) < devices:
        await asyncio.sleep(0.1)
    progress(f"{connected[0]} devices connected; warming up {warmup:g} s")
    await asyncio.sleep(warmup)
    stats.latencies.clear()
    stats.counting = True
    started = time.perf_counter()
    progress(f"measuring {seconds:g} s at {rate:,.0f} records/s offered")
    await asyncio.sleep(seconds)
    stats.counting = False
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return elapsed


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
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain
            return proc, int(found.group(1))
    raise RuntimeError(f"the hub did not start (exit code {proc.wait()})")


def _watch(pid: int, peak: list[float], stop: threading.Event) -> None:
    process = psutil.Process(pid)
    while not stop.wait(0.25):
        try:
            peak[0] = max(peak[0], process.memory_info().rss / 2**20)
        except psutil.Error:
            return


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
    hub_process = psutil.Process(proc.pid)
    stats, connected = _Stats(), [0]
    try:
        cpu_before = hub_process.cpu_times()
        own_before = psutil.Process().cpu_times()
        wall_before = time.perf_counter()
        elapsed = asyncio.run(
            _drive(port, devices, rate, records, seconds, warmup, stats, connected, progress)
        )
        cpu_after = hub_process.cpu_times()
        own_after = psutil.Process().cpu_times()
        wall = time.perf_counter() - wall_before
    finally:
        watching.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    latencies = sorted(stats.latencies) or [0.0]
    cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / wall
    own = (own_after.user + own_after.system - own_before.user - own_before.system) / wall
    result = IngestResult(
        devices=devices,
        connected=connected[0],
        seconds=elapsed,
        acked_records=stats.acked,
        records_per_s=stats.acked / elapsed,
        ack_p50_ms=1000 * latencies[len(latencies) // 2],
        ack_p99_ms=1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        ack_max_ms=1000 * latencies[-1],
        hub_peak_rss_mb=peak[0],
        hub_cpu_percent=100 * cpu,
        client_cpu_percent=100 * own,
        total_acked=stats.total,
        errors=stats.errors[:5],
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
