"""The run behind :func:`~simulators.net.runner.run_load`: clock, trackers, series.

See :mod:`simulators.net.runner` for what a run does; this module is its machinery.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import time
from collections.abc import Callable, Mapping
from typing import Literal

from simulators.net.links import TcpLink, UdpLink
from simulators.net.loopback import FleetLike
from simulators.net.options import NetOptions
from simulators.net.report import LoadReport, SeriesRow, percentile
from simulators.net.stats import Counters
from simulators.net.tracker import SimClock, Tracker
from telebench.errors import ConfigError, SimulationError
from telebench.model import Message

__all__ = ["LoadRun", "Progress", "Speedup"]

Speedup = float | Literal["max"]
Progress = Callable[[SeriesRow], None]

_TICK = 0.05  # wall seconds between clock steps
_MAX_TICK = 0.005  # at max speed: how often to check whether the devices need records
_MAX_STEP = 3600.0  # simulated seconds a max-speed step may jump
_CHECK = 0.25  # wall seconds between passes over every tracker (timeouts, due packets)
_MAX_LAG = 0.25  # wall seconds of records one tick may hand out when the loop is late
_MAX_QUEUED = 50  # records a device, on average, before max speed stops stepping


class LoadRun:
    """One run (implements the tracker's ``Host``)."""

    def __init__(
        self,
        fleet: FleetLike,
        *,
        hub_host: str,
        ports: Mapping[tuple[str, str], int],
        speedup: Speedup,
        duration: float,
        options: NetOptions,
        seed: int,
        progress: Progress | None,
        drain_timeout: float,
        connect_concurrency: int,
        connect_timeout: float,
    ) -> None:
        self.fleet = fleet
        self.hub_host = hub_host
        self.ports = dict(ports)
        self.speedup = speedup
        self.duration = duration
        self.options = options
        self.progress = progress
        self.drain_timeout = drain_timeout
        self.connect_timeout = connect_timeout
        self.clock = SimClock(fleet.start_time, max_mode=speedup == "max")
        self._stall = (0.0, -1)  # (wall time, acks) when acks last moved
        self.counters = Counters()
        self.trackers = [Tracker(v, self, seed=seed) for v in fleet.vehicles]
        for tracker in self.trackers:
            if (tracker.protocol, tracker.transport) not in self.ports:
                raise ConfigError(
                    f"no port for {tracker.protocol}/{tracker.transport} "
                    f"(vehicle {tracker.ident}); pass --port {tracker.protocol}"
                    + ("/udp" if tracker.transport == "udp" else "")
                    + "=PORT or --hub HOST"
                )
        self.series: list[SeriesRow] = []
        self._slots = asyncio.Semaphore(connect_concurrency)
        self._started = time.perf_counter()
        self._last = (0, 0)  # records written, acked at the previous sample
        self._step = 60.0
        self._next_check = 0.0  # wall time of the next timeout pass
        # Devices holding records they have not sent, by the sim time their period ends.
        self._due: list[tuple[float, int, Tracker]] = []
        self._scheduled: set[Tracker] = set()
        self._next_row = 0.0  # wall time of the next series row
        self._tasks: set[asyncio.Task[None]] = set()

    # --- Host -------------------------------------------------------------------------------

    def wall(self) -> float:
        """Wall seconds (monotonic)."""
        return time.perf_counter()

    def reconnect_later(self, tracker: Tracker, delay: float) -> None:
        """Schedule a reconnect in ``delay`` wall seconds."""
        self.counters.reconnects += 1
        asyncio.get_running_loop().call_later(delay, self._connect, tracker)

    # --- connecting -------------------------------------------------------------------------

    def _connect(self, tracker: Tracker) -> None:
        if tracker.finished:
            return
        task = asyncio.get_running_loop().create_task(self._open(tracker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, tracker: Tracker) -> None:
        loop = asyncio.get_running_loop()
        port = self.ports[(tracker.protocol, tracker.transport)]
        async with self._slots:
            if tracker.finished:
                return
            try:
                if tracker.transport == "udp":
                    await loop.create_datagram_endpoint(
                        lambda: UdpLink(tracker), remote_addr=(self.hub_host, port)
                    )
                else:
                    await loop.create_connection(
                        lambda: TcpLink(tracker, delay=self.options.slow_delay),
                        self.hub_host,
                        port,
                    )
            except OSError:
                self.counters.error("connect")
                tracker.drop()

    # --- the clock ----------------------------------------------------------------------------

    def _advance(self, until: float) -> None:
        self.clock.now = until
        by_vehicle: dict[int, list[Message]] = {}
        for index, message in self.fleet.advance(until):
            by_vehicle.setdefault(index, []).append(message)
        for index, records in by_vehicle.items():
            tracker = self.trackers[index]
            tracker.add(records)
            tracker.pump()
            if tracker.memory.waiting and tracker not in self._scheduled:
                self._schedule(tracker)

    def _max_step(self, end: float) -> None:
        """Jump simulated time ahead when a quarter of the online devices have nothing to send.

        Black boxes are capped at ``_MAX_QUEUED`` records a device on average while any
        device is online, so devices that cannot send (offline, slow) do not make memory
        grow unbounded; with none online time runs on (records pile up, as in real
        trackers without network).
        """
        low_water = 2 * len(self.trackers)
        queued, online = self.counters.queued, self.counters.connected
        if self.clock.now >= end or (online and queued > _MAX_QUEUED * len(self.trackers)):
            return
        if queued >= low_water:
            idle = sum(1 for t in self.trackers if t.idle)
            if 4 * idle < online:
                return
        before = self.counters.queued
        self._advance(min(end, self.clock.now + self._step))
        added = self.counters.queued - before
        if added < 5 * len(self.trackers):  # aim at a few packets' worth a device a step
            self._step = min(self._step * 2, _MAX_STEP)
        elif added > 20 * len(self.trackers):
            self._step = max(self._step / 2, 1.0)

    def _check_stall(self) -> None:
        """At max speed time waits for acks: give up when none came for ``stall_timeout``."""
        wall, acked = self.wall(), self.counters.acked
        if acked != self._stall[1] or not self.counters.queued:
            self._stall = (wall, acked)
        elif wall - self._stall[0] > self.options.stall_timeout:
            raise SimulationError(
                f"no ack from the hub for {self.options.stall_timeout:g} s while "
                f"{self.counters.queued:,} records wait ({self.counters.connected:,} devices "
                f"online, errors {dict(self.counters.errors) or 'none'}): is the hub stuck?"
            )

    def _periodic(self) -> None:
        """Each tick: every ``_CHECK`` s timeouts and the packets of devices holding
        records; every second heartbeats and stragglers (all devices) and a series row."""
        wall = self.wall()
        if wall >= self._next_check:
            self._next_check = wall + _CHECK
            for tracker in self.trackers:
                tracker.check(wall)
            self._pump_due()
        if wall >= self._next_row:
            self._next_row += 1.0
            for tracker in self.trackers:
                tracker.pump()
            self._row()

    def _schedule(self, tracker: Tracker) -> None:
        """Pump ``tracker`` when its send period is over (it holds records)."""
        due = tracker.last_send + self.options.send_period
        self._scheduled.add(tracker)
        heapq.heappush(self._due, (due, tracker.spec.index, tracker))

    def _pump_due(self) -> None:
        """Pump the devices whose send period is over; reschedule those still holding records."""
        now, later = self.clock.now, []
        while self._due and self._due[0][0] <= now:
            _, _, tracker = heapq.heappop(self._due)
            self._scheduled.discard(tracker)
            tracker.pump()
            if tracker.memory.waiting:
                later.append(tracker)
        for tracker in later:  # in flight or offline: its ack or login pumps it first
            self._schedule(tracker)

    def _row(self) -> None:
        """Append (and report) a series row: rates since the previous row."""
        wall = self.wall()
        counters = self.counters
        written = counters.sent + counters.resent
        sent_delta, acked_delta = written - self._last[0], counters.acked - self._last[1]
        elapsed = wall - self._started
        span = elapsed - (self.series[-1].t if self.series else 0.0) or 1.0
        row = SeriesRow(
            t=round(elapsed, 3),
            sim_time=self.clock.now,
            connected=counters.connected,
            sent_per_s=sent_delta / span,
            acked_per_s=acked_delta / span,
            latency_p50_ms=1000 * percentile(counters.latencies, 0.5),
            latency_p95_ms=1000 * percentile(counters.latencies, 0.95),
        )
        counters.latencies.clear()
        self._last = (written, counters.acked)
        self.series.append(row)
        if self.progress is not None:
            self.progress(row)

    # --- the run ------------------------------------------------------------------------------

    async def main(self) -> LoadReport:
        self._started = self.wall()
        start = self.fleet.start_time
        end = start + self.duration
        for tracker in self.trackers:
            self._connect(tracker)
        self._next_row = self._started + 1.0
        await self._wait_connected()
        # Thousands of long-lived sessions make every full garbage collection slow: move
        # them out of the collector's sight and collect the young generation less often.
        gc.collect()
        gc.freeze()
        origin = self.wall()  # simulated time starts once the fleet is online
        try:
            await self._simulate(origin, start, end)
            await self._drain()
        finally:  # a stalled hub too: close every connection before reporting or raising
            for tracker in self.trackers:
                tracker.finish()
            await asyncio.sleep(0)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        return self._report()

    async def _simulate(self, origin: float, start: float, end: float) -> None:
        tick = _MAX_TICK if self.clock.max_mode else _TICK
        while self.clock.now < end:
            await asyncio.sleep(tick)
            if self.clock.max_mode:
                self._check_stall()
                self._max_step(end)
            else:
                assert not isinstance(self.speedup, str)
                elapsed = self.wall() - origin
                # When the loop falls behind, simulated time lags instead of arriving in
                # bursts the loop cannot digest (the series shows the shortfall).
                most = self.clock.now + _MAX_LAG * self.speedup
                self._advance(min(end, start + elapsed * self.speedup, most))
            self._periodic()

    async def _wait_connected(self) -> None:
        """With ``connect_timeout``: wait until every device is online (or the timeout)."""
        deadline = self.wall() + self.connect_timeout
        while self.counters.connected < len(self.trackers) and self.wall() < deadline:
            await asyncio.sleep(_TICK)
            self._periodic()

    async def _drain(self) -> None:
        """Send what is left and wait for the acks, up to ``drain_timeout``."""
        self.clock.max_mode = True  # no more batching: everything goes now
        for tracker in self.trackers:
            tracker.pump()
        deadline = self.wall() + self.drain_timeout
        while self.counters.queued > 0 and self.wall() < deadline:
            await asyncio.sleep(_MAX_TICK)
            self._periodic()
        self._row()

    def _report(self) -> LoadReport:
        counters = self.counters
        lost = sum(t.memory.sent_unacked for t in self.trackers)
        unsent = sum(len(t.memory) for t in self.trackers) - lost
        return LoadReport(
            devices=len(self.trackers),
            connected_peak=counters.connected_peak,
            sim_seconds=self.clock.now - self.fleet.start_time,
            wall_seconds=self.wall() - self._started,
            sent=counters.sent,
            resent=counters.resent,
            acked=counters.acked,
            lost=lost,
            unsent=unsent,
            reconnects=counters.reconnects,
            packets=counters.packets,
            refused=counters.refused,
            heartbeats=counters.heartbeats,
            commands=counters.commands,
            bytes_out=counters.bytes_out,
            errors=dict(counters.errors),
            latencies=counters.all_latencies,
            series=self.series,
        )
