"""Run trackers against in-process server sessions: no sockets, no clock, every byte kept.

The loopback plays a hub that accepts every login and packet and refuses what its server
session rejects (bad CRC). It steps simulated time in fixed steps, so a run depends only
on the fleet, the options and the seed: the captured bytes are the proof that the same
seed gives byte-identical traffic.

Examples
--------
>>> from simulators.net.synthetic import SyntheticFleet
>>> fleet = SyntheticFleet(2, mix=(("gt06", "tcp"),), period=10.0)
>>> traffic = loopback_run(fleet, duration=60.0, step=10.0)
>>> sorted(traffic) == [v.ident for v in fleet.vehicles]
True
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from simulators.net.options import NetOptions
from simulators.net.stats import Counters
from simulators.net.tracker import SimClock, Tracker, VehicleLike
from telebench.errors import ProtocolError
from telebench.model import Message
from telebench.protocols import Role, Session, Transport, new_session
from telebench.protocols.events import (
    Accept,
    ConnectionClosed,
    Heartbeat,
    Identified,
    Records,
    Refuse,
    Rejected,
)

__all__ = ["FleetLike", "LoopbackHost", "loopback_run"]


class FleetLike(Protocol):
    """The part of ``simulators.fleet.Fleet`` the network side uses."""

    @property
    def vehicles(self) -> Sequence[VehicleLike]: ...
    @property
    def start_time(self) -> float: ...
    def advance(self, until: float) -> list[tuple[int, Message]]: ...


class _Loop:
    """A loopback connection: device bytes go to a server session, answers come back."""

    def __init__(self, host: LoopbackHost, tracker: Tracker) -> None:
        self.host = host
        self.tracker = tracker
        self.udp = tracker.transport == "udp"
        self.server: Session | None = None if self.udp else self._server()
        self.closed = False

    def _server(self) -> Session:
        transport: Transport = "udp" if self.udp else "tcp"
        return new_session(self.tracker.protocol, Role.SERVER, transport=transport)

    def write(self, data: bytes) -> None:
        self.host.traffic[self.tracker.ident].append(data)
        self.host.queue.append((self, data))

    def close(self) -> None:
        self.closed = True

    def serve(self, data: bytes) -> bytes | None:
        """The server's answer to ``data``; ``None`` when the server drops the connection."""
        server = self.server if self.server is not None else self._server()
        answers = []
        try:
            server.receive_data(data)
            for event in server.events():
                if isinstance(event, Rejected):
                    answers.append(server.send(Refuse()))
                elif isinstance(event, Identified | Records | Heartbeat):
                    answers.append(server.send(Accept()))
                elif isinstance(event, ConnectionClosed):
                    return None
        except ProtocolError:
            return None
        return b"".join(answers)


class LoopbackHost:
    """Drives trackers over loopback connections (implements the tracker's ``Host``)."""

    def __init__(self, fleet: FleetLike, options: NetOptions, *, seed: int = 0) -> None:
        self.fleet = fleet
        self.options = options
        self.clock = SimClock(fleet.start_time)
        self.counters = Counters()
        self.traffic: dict[str, list[bytes]] = {v.ident: [] for v in fleet.vehicles}
        self.queue: deque[tuple[_Loop, bytes]] = deque()
        self.reconnects: deque[Tracker] = deque()
        self.trackers = [Tracker(v, self, seed=seed) for v in fleet.vehicles]

    def wall(self) -> float:
        """Loopback time is simulated time (latencies are 0)."""
        return self.clock.now

    def reconnect_later(self, tracker: Tracker, delay: float) -> None:
        """Reconnect as soon as the current exchange is over."""
        self.counters.reconnects += 1
        self.reconnects.append(tracker)

    def step(self, until: float) -> None:
        """Advance to ``until``: hand out records, let every tracker talk until quiet."""
        self.clock.now = until
        by_vehicle: dict[int, list[Message]] = {}
        for index, message in self.fleet.advance(until):
            by_vehicle.setdefault(index, []).append(message)
        for index, records in sorted(by_vehicle.items()):
            self.trackers[index].add(records)
        for tracker in self.trackers:
            tracker.pump()
        self._settle()
        for tracker in self.trackers:  # answers that never come (GT06 refusals) time out
            tracker.check(math.inf)
        self._settle()

    def _settle(self) -> None:
        while self.queue or self.reconnects:
            while self.queue:
                link, data = self.queue.popleft()
                if link.closed:
                    continue
                answer = link.serve(data)
                if answer is None:
                    link.closed = True
                    link.tracker.lost()
                elif answer and link.tracker.link is link:
                    link.tracker.receive(answer)
            if self.reconnects:
                tracker = self.reconnects.popleft()
                if not tracker.finished:
                    tracker.attach(_Loop(self, tracker))

    def drain(self, *, rounds: int = 100) -> None:
        """Send what the black boxes still hold, without waiting for send periods."""
        self.clock.max_mode = True
        for _ in range(rounds):
            if not self.counters.queued:
                break
            self.step(self.clock.now)
        self.clock.max_mode = False

    def start(self) -> None:
        """Connect every tracker."""
        for tracker in self.trackers:
            tracker.attach(_Loop(self, tracker))
        self._settle()


def loopback_run(
    fleet: FleetLike,
    *,
    duration: float,
    step: float = 10.0,
    options: NetOptions | None = None,
    seed: int = 0,
) -> dict[str, bytes]:
    """Every byte each device writes over ``duration`` simulated seconds, by ident."""
    host = LoopbackHost(fleet, options or NetOptions(), seed=seed)
    host.start()
    end = fleet.start_time + duration
    now = fleet.start_time
    while now < end:
        now = min(end, now + step)
        host.step(now)
    host.drain()
    return {ident: b"".join(chunks) for ident, chunks in host.traffic.items()}
