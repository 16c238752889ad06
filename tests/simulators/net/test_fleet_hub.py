"""The road fleet (``simulators.fleet``) over real sockets into a hub."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from simulators.net.options import NetOptions
from simulators.net.runner import run_load
from telebench.hub import Hub, HubConfig
from telebench.hub.config import with_ports

fleet_module = pytest.importorskip("simulators.fleet")
scenario_module = pytest.importorskip("simulators.scenario")


def test_a_working_hour_of_the_road_fleet_is_stored_exactly(tmp_path: Path) -> None:
    scenario = scenario_module.Scenario(
        devices=8, duration=3600, start=datetime(2026, 1, 5, 8, tzinfo=UTC), disconnect_rate=2.0
    )
    fleet = fleet_module.Fleet(scenario, seed=3)
    config = dataclasses.replace(with_ports(HubConfig(store=tmp_path)), flush_interval=0.05)
    with Hub(config=config) as hub:
        ports = {key: port for key, (_, port) in hub.addresses().items()}
        options = NetOptions.from_scenario(scenario, ack_timeout=2.0, backoff=0.05)
        report = run_load(
            fleet, ports=ports, speedup="max", duration=3600.0, options=options, drain_timeout=5
        )
        stored = hub.messages().collect()
    # GT06 status heartbeats (0x13) carry battery and GSM levels, so the hub stores them too:
    # they are the only rows with no satellite count (a no-fix record still reports 0).
    is_status = (pl.col("protocol.name") == "gt06") & pl.col("position.satellites").is_null()
    records, status = stored.filter(~is_status), stored.filter(is_status)
    assert report.sent == report.acked == records.height > 100
    assert status.height <= report.heartbeats
    assert report.lost == report.unsent == 0
    assert stored.select("ident", "timestamp").unique().height == stored.height
    assert set(stored["protocol.name"]) == {v.protocol for v in fleet.vehicles}
    assert stored["ident"].n_unique() == 8
