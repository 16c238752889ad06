"""Simulated trackers against a real in-process hub on ephemeral ports."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from simulators.net.options import NetOptions
from simulators.net.report import LoadReport
from simulators.net.runner import run_load
from simulators.net.synthetic import DEFAULT_MIX, SyntheticFleet
from telebench.hub import Hub, HubConfig
from telebench.hub.config import with_ports


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    config = dataclasses.replace(
        with_ports(HubConfig(store=tmp_path / "store")), flush_interval=0.05
    )
    with Hub(config=config) as running:
        yield running


def _run(hub: Hub, fleet: SyntheticFleet, duration: float, **options: object) -> LoadReport:
    ports = {key: port for key, (_, port) in hub.addresses().items()}
    net = NetOptions(**{"ack_timeout": 3.0, "backoff": 0.05, **options})  # type: ignore[arg-type]
    return run_load(
        fleet, ports=ports, speedup="max", duration=duration, options=net, drain_timeout=5.0
    )


def _stored(hub: Hub) -> pl.DataFrame:
    return hub.messages().collect().select("ident", "timestamp", "protocol.name")


def test_every_protocol_is_stored_once_per_record_sent(hub: Hub) -> None:
    fleet = SyntheticFleet(10, mix=DEFAULT_MIX, period=10.0)
    report = _run(hub, fleet, 900.0)
    stored = _stored(hub)
    assert report.sent == report.acked == stored.height > 900
    assert report.lost == report.unsent == 0
    assert not report.errors
    assert report.connected_peak == 10
    assert set(stored["protocol.name"]) == {"teltonika", "wialon_ips", "gt06"}
    assert stored.unique().height == stored.height
    assert report.ack_p99_ms > 0
    assert report.series


def test_dropped_connections_resend_and_nothing_is_stored_twice(hub: Hub) -> None:
    fleet = SyntheticFleet(6, mix=DEFAULT_MIX[:3], period=30.0)
    report = _run(hub, fleet, 3600.0, disconnect_rate=10.0)
    stored = _stored(hub)
    assert report.errors["random disconnect"] > 5
    assert report.reconnects > 5
    assert report.resent > 0  # the dropped packets' records went again
    assert report.sent == report.acked == stored.height
    assert stored.unique().height == stored.height


def test_bad_crc_is_refused_then_a_good_copy_is_stored(hub: Hub) -> None:
    fleet = SyntheticFleet(4, mix=(("teltonika", "tcp"), ("wialon_ips", "tcp")), period=10.0)
    report = _run(hub, fleet, 1800.0, bad_crc=0.2)
    stored = _stored(hub)
    assert report.errors["bad crc sent"] > 3
    assert report.refused == report.errors["bad crc sent"]
    assert hub.logs(event="packet.rejected").height == report.refused
    assert report.sent == report.acked == stored.height
    assert stored.unique().height == stored.height


def test_queued_commands_are_answered_on_connect(hub: Hub) -> None:
    fleet = SyntheticFleet(3, mix=DEFAULT_MIX[:3], period=10.0)
    for vehicle in fleet.vehicles:
        hub.devices.add(vehicle.ident, vehicle.protocol)
        hub.send_command(vehicle.ident, "getinfo")
    report = _run(hub, fleet, 300.0)
    assert report.commands == 3
    assert not report.errors
    results = hub.command_results().to_dicts()
    assert [r["status"] for r in results] == ["done"] * 3
    responses = {r["ident"]: r["response"] for r in results}
    assert responses[fleet.vehicles[0].ident].startswith("RTC:")  # Teltonika getinfo
    assert responses[fleet.vehicles[1].ident] == "1"  # Wialon IPS #AM#1
    assert responses[fleet.vehicles[2].ident] == "GETINFO OK!"  # GT06


def test_refused_logins_keep_the_records_and_retry(tmp_path: Path) -> None:
    base = with_ports(HubConfig(store=tmp_path / "refusing"))
    channels = [dataclasses.replace(c, unknown_devices="refuse") for c in base.channels]
    config = dataclasses.replace(base, channels=channels, flush_interval=0.05)
    fleet = SyntheticFleet(3, mix=DEFAULT_MIX[:3], period=10.0)
    with Hub(config=config) as hub:
        report = _run_short(hub, fleet)
        assert hub.messages().collect().height == 0
    assert report.errors["login refused"] >= 2  # Teltonika 00, Wialon #AL#0; GT06 is cut
    assert report.connected_peak == 0
    assert report.sent == report.acked == 0
    assert report.unsent > 0  # still in the black boxes


def _run_short(hub: Hub, fleet: SyntheticFleet) -> LoadReport:
    ports = {key: port for key, (_, port) in hub.addresses().items()}
    options = NetOptions(ack_timeout=0.3, backoff=0.05, backoff_max=0.1)
    return run_load(
        fleet, ports=ports, speedup="max", duration=120.0, options=options, drain_timeout=0.5
    )
