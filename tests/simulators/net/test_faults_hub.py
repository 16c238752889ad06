"""Garbage, slow writers and lost UDP acks: every record still arrives exactly once."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.net.options import NetOptions
from simulators.net.report import LoadReport
from simulators.net.runner import run_load
from simulators.net.synthetic import SyntheticFleet
from telebench.hub import Hub, HubConfig
from telebench.hub.config import with_ports
from telebench.protocols import Role, new_session
from telebench.protocols.events import Accept, Records


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    config = dataclasses.replace(
        with_ports(HubConfig(store=tmp_path / "store")), flush_interval=0.05
    )
    with Hub(config=config) as running:
        yield running


def _run(hub: Hub, fleet: SyntheticFleet, options: NetOptions) -> LoadReport:
    ports = {key: port for key, (_, port) in hub.addresses().items()}
    return run_load(
        fleet, ports=ports, speedup="max", duration=900.0, options=options, drain_timeout=5.0
    )


def _stored_once(hub: Hub, report: LoadReport) -> None:
    stored = hub.messages().collect().select("ident", "timestamp")
    assert report.sent == report.acked == stored.height == stored.unique().height
    assert report.lost == report.unsent == 0


def test_garbage_makes_devices_reconnect_and_resend(hub: Hub) -> None:
    fleet = SyntheticFleet(6, mix=(("gt06", "tcp"), ("teltonika", "tcp")), period=15.0)
    report = _run(hub, fleet, NetOptions(garbage=0.1, ack_timeout=2.0, backoff=0.05))
    assert report.errors["garbage sent"] > 3
    assert report.reconnects >= report.errors["garbage sent"]
    closed = hub.logs(event="connection.closed")
    assert closed.filter(closed["reason"] == "protocol error").height > 0
    _stored_once(hub, report)


def test_slow_devices_write_byte_by_byte_and_deliver(hub: Hub) -> None:
    fleet = SyntheticFleet(4, mix=(("gt06", "tcp"),), period=60.0)
    report = _run(hub, fleet, NetOptions(slow=0.5, slow_delay=0.0005, ack_timeout=5.0))
    assert not report.errors
    assert report.ack_p99_ms > 15  # 39-byte frames at >= 0.5 ms a byte
    _stored_once(hub, report)


class _LossyUdpHub:
    """A UDP server that ignores each sender's first datagram and acks the rest."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.seen: set[tuple[str, int]] = set()
        self.records: list[tuple[object, object]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            if peer not in self.seen:
                self.seen.add(peer)  # the first ack is "lost"
                continue
            session = new_session(self.protocol, Role.SERVER, transport="udp")
            session.receive_data(data)
            for event in session.events():
                if isinstance(event, Records):
                    self.records += [(m["ident"], m["timestamp"]) for m in event.messages]
                self.sock.sendto(session.send(Accept()), peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize("protocol", ["teltonika", "wialon_ips"])
def test_udp_devices_resend_a_datagram_whose_ack_was_lost(protocol: str) -> None:
    server = _LossyUdpHub(protocol)
    try:
        fleet = SyntheticFleet(2, mix=((protocol, "udp"),), period=30.0)
        report = run_load(
            fleet,
            ports={(protocol, "udp"): server.port},
            speedup="max",
            duration=600.0,
            options=NetOptions(ack_timeout=0.4),
            drain_timeout=3.0,
        )
    finally:
        server.close()
    assert report.errors["ack timeout"] >= 2  # one per device: its first datagram
    assert report.resent > 0
    assert report.sent == report.acked == len(set(server.records))
