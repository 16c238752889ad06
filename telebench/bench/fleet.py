"""The ingest benchmark's driver: Teltonika trackers as callbacks on one event loop.

Each tracker logs in, then keeps one pre-built Codec 8E packet in flight: an ack
schedules the next packet at the device's pace. :class:`Fleet` holds what they share (the
pacing, the packet cache, every ack's latency), :class:`Window` the wall and CPU time of
the hub and of this process over the measured window, and :func:`drive` runs them all.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import psutil

from telebench.protocols import Role, new_session
from telebench.protocols.events import SendRecords

__all__ = ["Fleet", "LoopLag", "Window", "drive"]

#: Device time starts at today's UTC midnight. A fixed date would age past the devices'
#: messages TTL (365 days by default), and the hub's retention would delete the run's
#: records a minute in.
BASE_TIME = int(time.time()) // 86_400 * 86_400


class _Tracker(asyncio.Protocol):
    """One simulated tracker: login, then one pre-built packet in flight at a time.

    Driven by callbacks, not a task per device: an ack schedules the next packet with
    ``call_at``, so the driver spends its CPU on sockets, not on coroutine switches, and
    leaves the cores to the hub it measures.
    """

    def __init__(self, index: int, fleet: Fleet) -> None:
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
class Fleet:
    """What every tracker shares: the pacing, the packet cache and the counters.

    >>> fleet = Fleet(records=2, interval=1.0)
    >>> packet = fleet.packet(0, 0)
    >>> packet[:4], packet is fleet.packet(0, 0)  # a TCP AVL packet, encoded once
    (b'\\x00\\x00\\x00\\x00', True)
    """

    records: int
    interval: float
    #: ``(seconds into the window, ack latency, records)`` of each ack in the window.
    acks: list[tuple[float, float, int]] = field(default_factory=list)
    started: float = 0.0
    total: int = 0
    counting: bool = False
    stopping: bool = False
    connected: int = 0
    #: The longest the driver's event loop was late in the window (seconds; see LoopLag).
    stall: float = 0.0
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
    start = BASE_TIME + packet * count * 10
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


async def _device(index: int, port: int, fleet: Fleet, connected: list[_Tracker]) -> None:
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


async def drive(
    port: int,
    devices: int,
    seconds: float,
    warmup: float,
    fleet: Fleet,
    window: Window,
    progress: Callable[[str], None],
) -> None:
    """Connect ``devices`` trackers to ``port``, warm up, then count acks for ``seconds``.

    ``fleet`` collects every ack; ``window`` is opened and closed around the measured
    seconds. :func:`telebench.bench.ingest.run` is the example: it starts the hub and
    calls this on a new event loop.
    """
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
    # This process times the acks, so its own pauses would count as the hub's latency: a
    # full collection over 10,000 trackers took 100-290 ms. Their objects are frozen out of
    # the collector and collections made rare, as in the hub. Before the first packet:
    # done as the window opened, the pause delayed every packet due meanwhile, and their
    # burst (55,000-63,000 records in the first second at 50,000/s) was the measured
    # window's worst second in several runs.
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, tracker in enumerate(connected):  # first packets spread over one interval
            tracker.due = start + fleet.interval * n / len(connected)
            loop.call_at(tracker.due, tracker.send)
        await asyncio.sleep(warmup)
        lag = LoopLag(loop)
        fleet.started = time.perf_counter()
        fleet.counting = True
        window.open()
        offered = fleet.records / fleet.interval * len(connected)
        progress(f"measuring {seconds:g} s at {offered:,.0f} records/s offered")
        try:
            await asyncio.sleep(seconds)
        finally:
            fleet.counting = False
            window.close()
            fleet.stall = lag.stop()
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    fleet.stopping = True
    await asyncio.gather(*tasks, return_exceptions=True)


class LoopLag:
    """The longest an event loop ran late while this watched it.

    A callback due every ``tick`` seconds notes how late it ran. The driver's loop runs late
    when this process pauses (its collector, a busy machine), and every ack it reads then
    looks that much slower: a lag near the ack latency means the driver, not the hub.

    >>> async def watch() -> float:
    ...     lag = LoopLag(asyncio.get_running_loop())
    ...     await asyncio.sleep(0.05)
    ...     time.sleep(0.03)  # a pause of the whole process
    ...     await asyncio.sleep(0.02)
    ...     return lag.stop()
    >>> asyncio.run(watch()) >= 0.02
    True
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float = 0.01) -> None:
        self.loop = loop
        self.tick = tick
        self.longest = 0.0
        self._handle = loop.call_at(loop.time() + tick, self._check, loop.time() + tick)

    def _check(self, due: float) -> None:
        now = self.loop.time()
        self.longest = max(self.longest, now - due)
        self._handle = self.loop.call_at(now + self.tick, self._check, now + self.tick)

    def stop(self) -> float:
        """Stop watching; the longest lateness seen, in seconds."""
        self._handle.cancel()
        return self.longest


class Window:
    """Wall time and CPU time of the hub and of this driver over the measured window.

    The hub's CPU includes its children's (the decoder processes).

    >>> import os
    >>> window = Window(os.getpid())  # here the "hub" is this process itself
    >>> window.open(); window.close()
    >>> window.seconds >= 0 and window.cpu[0] >= 0
    True
    """

    def __init__(self, hub_pid: int) -> None:
        self.processes = (psutil.Process(hub_pid), psutil.Process())
        self.seconds = 0.0
        self.cpu = (0.0, 0.0)

    @staticmethod
    def _cpu(process: psutil.Process, *, children: bool = False) -> float:
        total = 0.0
        for member in (process, *(process.children(recursive=True) if children else ())):
            try:
                times = member.cpu_times()
            except psutil.Error:  # ended meanwhile
                continue
            total += times.user + times.system
        return total

    def open(self) -> None:
        """Start the window: note the time and both processes' CPU so far."""
        self.seconds = -time.perf_counter()
        self.cpu = (-self._cpu(self.processes[0], children=True), -self._cpu(self.processes[1]))

    def close(self) -> None:
        """End the window: ``seconds`` and ``cpu`` become what it spanned."""
        self.seconds += time.perf_counter()
        self.cpu = (
            self.cpu[0] + self._cpu(self.processes[0], children=True),
            self.cpu[1] + self._cpu(self.processes[1]),
        )
