"""One simulated tracker's network behaviour, independent of sockets (the links carry it).

A :class:`Tracker` owns a client-role protocol session, its black box
(:class:`~simulators.net.memory.DeviceMemory`) and a seeded random generator. A link (TCP,
UDP or the in-process loopback) calls :meth:`Tracker.attach` when connected,
:meth:`Tracker.receive` with the server's bytes and :meth:`Tracker.lost` when the server
closed; the runner calls :meth:`Tracker.pump` when records or time arrive and
:meth:`Tracker.check` periodically for timeouts. Every decision draws from the tracker's
own generator in a fixed order, so the same seed and options give the same bytes.

Life of a TCP tracker: connect -> login -> (packet -> ack)* with heartbeats when idle;
on a refused login, an ack timeout, a protocol error, garbage or a random drop it closes,
keeps its records and reconnects after a back-off that doubles up to ``backoff_max``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from simulators.net.faults import command_answer, corrupt_crc
from simulators.net.memory import DeviceMemory
from simulators.net.options import NetOptions
from simulators.net.stats import Counters
from telebench.errors import ProtocolError
from telebench.model import Message
from telebench.protocols import Role, Session, Transport, new_session
from telebench.protocols.events import (
    CommandRequest,
    ConnectionClosed,
    Event,
    HeartbeatAck,
    Login,
    LoginAnswer,
    RecordsAck,
    SendCommandResponse,
    SendHeartbeat,
    SendRecords,
)

__all__ = ["Host", "Link", "SimClock", "Tracker", "VehicleLike"]

OFFLINE, LOGIN, ONLINE = "offline", "login", "online"


class VehicleLike(Protocol):
    """What a tracker needs of a fleet's vehicle (``simulators.fleet.VehicleSpec``)."""

    @property
    def index(self) -> int: ...
    @property
    def ident(self) -> str: ...
    @property
    def protocol(self) -> str: ...
    @property
    def transport(self) -> str: ...
    @property
    def options(self) -> Mapping[str, object]: ...


class Link(Protocol):
    """A connection a tracker writes to (a socket, or the loopback)."""

    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


@dataclass
class SimClock:
    """Simulated time shared by a run's trackers; ``max_mode``: send without waiting."""

    now: float
    max_mode: bool = False


class Host(Protocol):
    """What a tracker needs from the runner that drives it."""

    clock: SimClock
    counters: Counters
    options: NetOptions

    def reconnect_later(self, tracker: Tracker, delay: float) -> None: ...
    def wall(self) -> float: ...


@dataclass
class _Flight:
    """The packet awaiting its ack."""

    count: int
    sent_at: float  # wall seconds


class Tracker:
    """A tracker's protocol, memory and fault behaviour (module doc)."""

    def __init__(self, spec: VehicleLike, host: Host, *, seed: int = 0) -> None:
        self.spec = spec
        self.ident = spec.ident
        self.protocol = spec.protocol
        self.transport = spec.transport
        self.host = host
        self.options = host.options
        self.rng = random.Random(f"telebench-net:{seed}:{spec.index}")
        self.memory = DeviceMemory(newest_first=self.options.newest_first)
        self.limits = self.options.limits(spec.protocol, spec.transport)
        self.batch_limit = self.limits.records
        self.slow = self.rng.random() < self.options.slow
        self.session: Session | None = None
        self.link: Link | None = None
        self.state = OFFLINE
        self.flight: _Flight | None = None
        self.since = 0.0  # wall time of the login or packet awaiting an answer
        # Sim time of the last packet: a random phase, so a fleet does not send in unison.
        self.last_send = host.clock.now - self.rng.random() * self.options.send_period
        self.last_active = host.clock.now  # sim time of the last write
        self.last_check = host.clock.now  # sim time of the last random drop draw
        self.failures = 0  # failed connection attempts in a row (back-off exponent)
        self.finished = False
        self._udp_ids = (0, 0)  # Teltonika UDP packet ids carried across sessions
        self._refused = False  # the last packet was refused: resend it intact
        self._receiving = False  # parsing the server's bytes: pump after the whole chunk
        self._fitted = self.limits.records == 1  # batch size checked against the byte limit

    @property
    def idle(self) -> bool:
        """Online with nothing in flight and nothing to send."""
        return self.state == ONLINE and self.flight is None and not self.memory.waiting

    # --- link callbacks -------------------------------------------------------------------

    def attach(self, link: Link) -> None:
        """The link is up: log in (TCP) or start sending (UDP)."""
        self.link = link
        self.session = self._new_session()
        if self.transport == "udp":
            self._online()
            return
        self.state = LOGIN
        self.since = self.host.wall()
        self._write(self.session.send(Login(ident=self.ident)))

    def receive(self, data: bytes) -> None:
        """Bytes (TCP) or one datagram (UDP) from the server."""
        session = self.session
        if session is None:
            return
        # Nothing is sent while a chunk is parsed: a Teltonika client reads the bytes after
        # a packet as its ack, so a command in the same chunk must be read first.
        self._receiving = True
        try:
            session.receive_data(data)
            for event in session.events():
                self._on_event(event)
                if self.session is not session:  # the event dropped the connection
                    return
        except ProtocolError:
            self.host.counters.error("protocol")
            self.drop()
        finally:
            self._receiving = False
        self.pump()

    def lost(self) -> None:
        """The server closed the connection (or the connection failed)."""
        if self.link is None and self.state == OFFLINE:
            return
        self.link = None
        self.drop()

    # --- driving ----------------------------------------------------------------------------

    def pump(self) -> None:
        """Send a packet if one is due, else a heartbeat if the device was quiet too long."""
        if self.state != ONLINE or self.flight is not None or self.finished or self._receiving:
            return
        clock = self.host.clock
        if self.memory.waiting:
            due = clock.max_mode or clock.now - self.last_send >= self.options.send_period
            if due or self.memory.waiting >= self.batch_limit:
                self._send_packet()
                return
        if clock.now - self.last_active >= self.options.heartbeat_period:
            self._heartbeat()

    def check(self, wall: float) -> None:
        """Time out a login or packet whose answer did not come."""
        waiting = self.state == LOGIN or self.flight is not None
        if not waiting or wall - self.since < self.options.ack_timeout:
            return
        self.host.counters.error("ack timeout" if self.state == ONLINE else "login timeout")
        if self.transport == "udp":
            self.memory.requeue()
            self.flight = None
            self.session = self._new_session()  # forget the unanswered datagram
            self.pump()
        else:
            self.drop()

    def drop(self, *, reconnect: bool = True) -> None:
        """Close the connection, keep the records, and reconnect after a back-off."""
        if self.state == ONLINE:
            self.host.counters.online(-1)
        self.state = OFFLINE
        self.memory.requeue()
        self.flight = None
        self.session = None
        link, self.link = self.link, None
        if link is not None:
            link.close()
        if reconnect and not self.finished:
            delay = min(self.options.backoff * 2**self.failures, self.options.backoff_max)
            self.failures += 1
            self.host.reconnect_later(self, delay * (0.5 + self.rng.random()))

    def finish(self) -> None:
        """End of the run: close for good."""
        self.finished = True
        self.drop(reconnect=False)

    def add(self, records: list[Message]) -> None:
        """New records for the black box."""
        self.memory.extend(records)
        self.host.counters.queued += len(records)

    # --- events ------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        counters = self.host.counters
        if isinstance(event, RecordsAck):
            self._on_ack(event.count)
        elif isinstance(event, LoginAnswer):
            if event.accepted:
                self.failures = 0
                self._online()
            else:
                counters.error("login refused")
                self.failures = max(self.failures, 6)  # a refused device retries slowly
                self.drop()
        elif isinstance(event, CommandRequest):
            assert self.session is not None
            text = command_answer(self.protocol, event.text)
            reply = SendCommandResponse(text=text, server_flag=event.server_flag)
            self._write(self.session.send(reply))
            counters.commands += 1
        elif isinstance(event, ConnectionClosed):
            self.drop()
        elif not isinstance(event, HeartbeatAck):
            counters.error(f"unexpected {type(event).__name__}")

    def _on_ack(self, count: int) -> None:
        counters = self.host.counters
        if self.flight is None:
            counters.error("unexpected ack")
            return
        counters.latency(self.host.wall() - self.flight.sent_at)
        count = min(count, self.flight.count)
        self.memory.ack(count)
        counters.acked += count
        counters.queued -= count
        self._refused = count == 0
        if self._refused:
            counters.refused += 1
        self.flight = None
        self.pump()

    def _online(self) -> None:
        self.state = ONLINE
        self.host.counters.online(1)
        self.last_check = self.host.clock.now
        self.pump()

    # --- sending ----------------------------------------------------------------------------

    def _send_packet(self) -> None:
        session, counters = self.session, self.host.counters
        assert session is not None
        if self._drawn(self.options.garbage):
            counters.error("garbage sent")
            self._write(self.rng.randbytes(16 + self.rng.randrange(48)))
            if self.transport == "tcp":
                self.drop()
            return
        if not self._fitted:
            self._fit_batch()
        batch = self.memory.take(self.batch_limit)
        data = session.send(SendRecords(messages=batch.records))
        self._remember_udp_ids()
        corrupt = self._drawn(self.options.bad_crc) and not self._refused
        if corrupt:
            data = self._corrupted(data)
        counters.sent += batch.fresh
        counters.resent += len(batch.records) - batch.fresh
        counters.packets += 1
        self.flight = _Flight(len(batch.records), self.host.wall())
        # A slow device's ack clock starts once its last byte is out.
        self.since = self.flight.sent_at + (len(data) * self.options.slow_delay if self.slow else 0)
        self.last_send = self.host.clock.now
        self._write(data)
        self._maybe_disconnect()

    def _fit_batch(self) -> None:
        """Size batches once so a full packet fits the protocol's byte limit.

        Two small probe packets (1 and 2 records) give the per-record and per-packet bytes;
        a 10 % margin absorbs records that carry more parameters than the first ones.
        """
        records = self.memory.peek(2)
        if len(records) < 2:
            return  # decide on the first packet of several records
        self._fitted = True
        probe = self._new_session()
        one = len(probe.send(SendRecords(messages=tuple(records[:1]))))
        two = len(probe.send(SendRecords(messages=tuple(records))))
        per_record = max(1, math.ceil((two - one) * 1.1))
        fits = (self.limits.size - (one - (two - one))) // per_record
        self.batch_limit = max(1, min(self.limits.records, fits))

    def _corrupted(self, data: bytes) -> bytes:
        version = str(self.spec.options.get("version", "2.0"))
        bad = corrupt_crc(self.protocol, self.transport, data, version=version)
        if bad is None:
            return data
        self.host.counters.error("bad crc sent")
        return bad

    def _maybe_disconnect(self) -> None:
        now = self.host.clock.now
        hours, self.last_check = max(0.0, now - self.last_check) / 3600, now
        rate = self.options.disconnect_rate
        if self.transport == "tcp" and self._drawn(1.0 - math.exp(-rate * hours)):
            self.host.counters.error("random disconnect")
            self.drop()

    def _heartbeat(self) -> None:
        if self.protocol == "teltonika" and self.transport == "udp":
            self.last_active = self.host.clock.now  # Teltonika UDP has no keep-alive
            return
        assert self.session is not None
        self.host.counters.heartbeats += 1
        self._write(self.session.send(SendHeartbeat()))

    def _write(self, data: bytes) -> None:
        if self.link is None or not data:
            return
        self.last_active = self.host.clock.now
        self.host.counters.bytes_out += len(data)
        self.link.write(data)

    def _drawn(self, probability: float) -> bool:
        """A Bernoulli draw; no draw at all when the probability is 0 (keeps streams short)."""
        return probability > 0 and self.rng.random() < probability

    # --- sessions -----------------------------------------------------------------------------

    def _new_session(self) -> Session:
        options: dict[str, object] = dict(self.spec.options)
        if self.transport == "udp":
            options["ident"] = self.ident
            if self.protocol == "teltonika":
                options["packet_id"], options["avl_packet_id"] = self._udp_ids
        transport: Transport = "udp" if self.transport == "udp" else "tcp"
        return new_session(self.protocol, Role.CLIENT, transport=transport, options=options)

    def _remember_udp_ids(self) -> None:
        if self.transport == "udp" and self.protocol == "teltonika" and self.session:
            packet_id = getattr(self.session, "_packet_id", 0)
            avl_id = getattr(self.session, "_avl_packet_id", 0)
            self._udp_ids = (int(packet_id), int(avl_id))
