"""Ingest benchmark: a separate process drives a real ``telebench hub`` over TCP.

The hub runs as ``python -m telebench hub`` in its own process (fsync on, as in real use);
this process plays ``devices`` Teltonika trackers (Codec 8E, ``records`` records a packet),
each with at most one packet in flight, as real trackers do. It reports the connections
held, the records acked per second (each ack means fsync'd), the ack latency percentiles
the hub's peak RSS and the CPU both processes spent per record in the measured window (the
driver's packets are encoded once by the real codec and reused, so its share stays small),
then stops the hub with SIGTERM and checks that every acked record
is in the Parquet dataset exactly once.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import psutil

from telebench.hub.eventloop import new_event_loop
from telebench.protocols import Role, new_session
from telebench.protocols.events import SendRecords

__all__ = ["IngestResult", "SecondFigures", "drain_output", "per_second", "run"]

#: Device time starts at today's UTC midnight. A fixed date would age past the devices'
#: messages TTL (365 days by default), and the hub's retention would delete the run's
#: records a minute in.
_BASE_TIME = int(time.time()) // 86_400 * 86_400


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


def per_second(acks: Sequence[tuple[float, float, int]]) -> list[SecondFigures]:
    """Cut ``(seconds into the window, latency s, records)`` acks into one row a second.

    A run's p99 hides whether latency was steady or came in episodes (a compaction, a
    telemetry fold); this shows which.

    >>> rows = per_second([(0.2, 0.010, 10), (0.7, 0.030, 10), (1.5, 0.5, 10)])
    >>> [(r.second, r.records, r.p50_ms, r.max_ms) for r in rows]
    [(0, 20, 30.0, 30.0), (1, 10, 500.0, 500.0)]
    """
    buckets: dict[int, list[tuple[float, int]]] = {}
    for at, latency, records in acks:
        buckets.setdefault(int(at), []).append((latency, records))
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


class _Tracker(asyncio.Protocol):
    """One simulated tracker: login, then one pre-built packet in flight at a time.

    Driven by callbacks, not a task per device: an ack schedules the next packet with
    ``call_at``, so the driver spends its CPU on sockets, not on coroutine switches, and
    leaves the cores to the hub it measures.
    """

    def __init__(self, index: int, fleet: _Fleet) -> None:
        self.index = index
        self.ident = f"86{index:013d}"
        self.fleet = fleet
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.logged_in: asyncio.Future[bool] = self.loop.create_future()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.packet = 0
        self.sent_at = 0.0
        self.due = 0.0
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport).
        self.transport = cast("asyncio.Transport", transport)
        self.transport.write(_login(self.ident))

    def data_received(self, data: bytes) -> None:
        if not self.logged_in.done():  # the login answer: one byte, 0x01 = accepted
            self.logged_in.set_result(data[:1] == b"\x01")
            data = data[1:]
        self._buffer += data
        while len(self._buffer) >= _ACK.size:  # a record-count ack: u32
            (count,), self._buffer = _ACK.unpack_from(self._buffer), self._buffer[_ACK.size :]
            self._acked(count)

    def _acked(self, count: int) -> None:
        fleet = self.fleet
        now = time.perf_counter()
        fleet.total += count
        if fleet.counting:
            fleet.acks.append((now - fleet.started, now - self.sent_at, count))
        if fleet.stopping:
            self.stop()
            return
        # A late ack delays the next packet; the device does not catch up in a burst.
        self.due = max(self.due + fleet.interval, self.loop.time())
        self.loop.call_at(self.due, self.send)

    def send(self) -> None:
        """Write the next packet (unique timestamps: the hub stores each record once)."""
        if self.transport is None or self.transport.is_closing():
            return
        data = self.fleet.packet(self.index % _VARIANTS, self.packet)
        self.packet += 1
        self.sent_at = time.perf_counter()
        self.transport.write(data)

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.finished.done():
            self.finished.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError("closed by the hub")
        if not self.logged_in.done():
            self.logged_in.set_exception(error)
        if not self.finished.done():
            self.fleet.errors.append(f"{self.ident}: {error}")
            self.finished.set_result(None)


_ACK = struct.Struct(">I")
#: Devices share pre-built packets; this many variants differ in position.
_VARIANTS = 16


def _login(ident: str) -> bytes:
    return len(ident).to_bytes(2, "big") + ident.encode("ascii")


@dataclass
class _Fleet:
    """What every tracker shares: the pacing, the packet cache and the counters."""

    records: int
    interval: float
    #: ``(seconds into the window, ack latency, records)`` of each ack in the window.
    acks: list[tuple[float, float, int]] = field(default_factory=list)
    started: float = 0.0
    total: int = 0
    counting: bool = False
    stopping: bool = False
    connected: int = 0
    errors: list[str] = field(default_factory=list)
    _packets: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def packet(self, variant: int, number: int) -> bytes:
        """Codec 8E packet ``number`` of a variant, encoded once by the real client codec."""
        key = (variant, number)
        data = self._packets.get(key)
        if data is None:
            session = new_session("teltonika", Role.CLIENT, options={"codec": 0x8E})
            records = _records(variant, number, self.records)
            data = session.send(SendRecords(messages=records))  # type: ignore[arg-type]
            self._packets[key] = data
        return data


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


async def _device(index: int, port: int, fleet: _Fleet, connected: list[_Tracker]) -> None:
    loop = asyncio.get_running_loop()
    try:
        _, tracker = await loop.create_connection(
            functools.partial(_Tracker, index, fleet), "127.0.0.1", port
        )
        if not await tracker.logged_in:
            fleet.errors.append(f"{tracker.ident}: login refused")
            tracker.stop()
            return
    except (OSError, ConnectionError) as exc:
        fleet.errors.append(f"connect: {exc}")
        return
    connected.append(tracker)
    await tracker.finished


async def _drive(
    port: int,
    devices: int,
    seconds: float,
    warmup: float,
    fleet: _Fleet,
    window: _Window,
    progress: Callable[[str], None],
) -> None:
    connected: list[_Tracker] = []
    tasks = []
    for index in range(devices):
        tasks.append(asyncio.create_task(_device(index, port, fleet, connected)))
        if index % 500 == 499:
            await asyncio.sleep(0.05)  # a ramp, as a fleet does not connect in one instant
    while len(connected) + len(fleet.errors) < devices:
        await asyncio.sleep(0.1)
    fleet.connected = len(connected)
    progress(f"{len(connected)} devices connected; warming up {warmup:g} s")
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n, tracker in enumerate(connected):  # first packets spread over one interval
        tracker.due = start + fleet.interval * n / len(connected)
        loop.call_at(tracker.due, tracker.send)
    await asyncio.sleep(warmup)
    fleet.started = time.perf_counter()
    fleet.counting = True
    window.open()
    progress(
        f"measuring {seconds:g} s at {fleet.records / fleet.interval * devices:,.0f} "
        "records/s offered"
    )
    await asyncio.sleep(seconds)
    fleet.counting = False
    window.close()
    fleet.stopping = True
    await asyncio.gather(*tasks, return_exceptions=True)


class _Window:
    """Wall time and CPU time of the hub and of this driver over the measured window."""

    def __init__(self, hub_pid: int) -> None:
        self.processes = (psutil.Process(hub_pid), psutil.Process())
        self.seconds = 0.0
        self.cpu = (0.0, 0.0)

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    def open(self) -> None:
        self.seconds = -time.perf_counter()
        self.cpu = (-self._cpu(self.processes[0]), -self._cpu(self.processes[1]))

    def close(self) -> None:
        self.seconds += time.perf_counter()
        self.cpu = (
            self.cpu[0] + self._cpu(self.processes[0]),
            self.cpu[1] + self._cpu(self.processes[1]),
        )


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
    fleet = _Fleet(records=records, interval=devices * records / rate)
    window = _Window(proc.pid)
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(_drive(port, devices, seconds, warmup, fleet, window, progress))
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
        total_acked=fleet.total,
        errors=fleet.errors[:5],
        timeline=per_second(fleet.acks),
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
