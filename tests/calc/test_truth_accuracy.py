"""Calculators against the simulator's ground truth, on records as the hub stores them.

A mixed-protocol fleet (Teltonika 8/8E over TCP and UDP, Wialon IPS 1.1/2.0, GT06) with GPS
noise, coverage holes, random disconnects (acks lost, records resent) and black boxes sent
newest first runs through the real codecs in memory (``LoopbackHost``). Every packet a
tracker writes is decoded as the hub decodes it, and stored as the hub stores it: a record
without a device time (a GT06 status heartbeat) gets its arrival time, and a record resent
after a lost ack is kept once. Rows stay in arrival order (late, out of order).

Geofences are circles of 150-600 m around places the fleet drove through. Two kinds of
fence are left out, because no position-based method can score them: fences touching a
coverage hole (no fix there, so nobody knows whether a vehicle inside one left the fence)
and fences whose edge passes within GPS noise (15 m) of a place where vehicles stand (a
parked vehicle's true side of the edge is decided by centimetres).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import polars as pl
import pytest
import shapely

from simulators.fleet import Fleet
from simulators.net.loopback import LoopbackHost
from simulators.net.options import NetOptions
from simulators.net.tracker import SimClock
from simulators.scenario import Scenario
from simulators.truth import MIN_DWELL, Geofence, ground_truth
from telebench.calc import Geofences, geofence_visits, parkings, score, trips
from telebench.protocols import decode

DEVICES = 16
HOURS = 12
SEEDS = (1, 2, 7)  # the README gives all ten seeds; 7 was under 0.99 before


class _Writes(list[bytes]):
    """A device's written packets with the simulated time of each (loopback latency is 0)."""

    def __init__(self, clock: SimClock) -> None:
        super().__init__()
        self.clock = clock
        self.times: list[float] = []

    def append(self, data: bytes) -> None:
        super().append(data)
        self.times.append(self.clock.now)


def _stored(fleet: Fleet, host: LoopbackHost) -> pl.DataFrame:
    """What the hub would store: decoded records, arrival-stamped, resent ones once."""
    rows: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    for v in fleet.vehicles:
        writes = host.traffic[v.ident]
        assert isinstance(writes, _Writes)
        for when, data in zip(writes.times, writes, strict=True):
            for msg in decode(v.protocol, data, ident=v.ident, transport=v.transport):  # type: ignore[arg-type]
                if msg.get("timestamp") is None:
                    msg["timestamp"] = when
                key = orjson.dumps(msg, option=orjson.OPT_SORT_KEYS)
                if key not in seen:
                    seen.add(key)
                    rows.append({**msg, "ident": v.ident, "protocol.name": v.protocol})
    return pl.from_dicts(rows, infer_schema_length=None)


def _disc(lon: float, lat: float, radius: float) -> Any:
    kx = 111_195.0 * np.cos(np.radians(lat))
    unit = shapely.Point(lon, lat).buffer(1.0, quad_segs=16)
    return shapely.affinity.scale(unit, radius / kx, radius / 111_195.0, origin=(lon, lat))


def _fences(fleet: Fleet, truth: dict[str, pl.DataFrame], seed: int) -> list[Geofence]:
    """Circles around places the fleet drove through, radius 150-600 m chosen so that the
    edge keeps 15 m from every place a vehicle stood, and clear of coverage holes."""
    rng = np.random.default_rng(seed)
    records = truth["records"]
    pick = rng.integers(0, records.height, 80)
    lon = records.get_column("true.longitude").gather(pick).to_numpy()
    lat = records.get_column("true.latitude").gather(pick).to_numpy()
    standing = pl.concat([truth["parkings"], truth["stops"]], how="diagonal_relaxed")
    s_lon = standing.get_column("start_longitude").to_numpy()
    s_lat = standing.get_column("start_latitude").to_numpy()
    h_lon, h_lat, h_r = fleet.holes.lon, fleet.holes.lat, fleet.holes.radius_m
    radii = np.arange(150.0, 600.0, 5.0)
    fences = []
    for i in range(pick.size):
        kx = 111_195.0 * np.cos(np.radians(lat[i]))
        d = np.hypot((s_lon - lon[i]) * kx, (s_lat - lat[i]) * 111_195.0)
        clear = np.abs(radii[:, None] - d[None, :]).min(axis=1) > 15.0
        hole = np.hypot((h_lon - lon[i]) * kx, (h_lat - lat[i]) * 111_195.0) - h_r - 100.0
        ok = radii[clear & (radii[:, None] < hole[None, :]).all(axis=1)]
        if ok.size:
            fences.append((f"f{i}", _disc(float(lon[i]), float(lat[i]), float(rng.choice(ok)))))
    return fences


@pytest.fixture(scope="module", params=SEEDS)
def run(request: pytest.FixtureRequest) -> dict[str, Any]:
    seed = int(request.param)
    scenario = Scenario(
        devices=DEVICES, duration=HOURS * 3600, start=datetime(2026, 1, 5, 6, tzinfo=UTC),
        disconnect_rate=2.0, newest_first=True, seed=seed,
    )  # fmt: skip
    fleet = Fleet(scenario, seed=seed)
    host = LoopbackHost(fleet, NetOptions.from_scenario(scenario, send_period=120.0), seed=seed)
    host.traffic = {ident: _Writes(host.clock) for ident in host.traffic}
    host.start()
    now, end = fleet.start_time, fleet.start_time + scenario.duration
    while now < end:
        now = min(now + 300.0, end)
        host.step(now)
    host.drain()
    fences = _fences(fleet, ground_truth(fleet), seed)
    return {
        "messages": _stored(fleet, host),
        "truth": ground_truth(fleet, fences),
        "fences": Geofences.from_shapes(dict(fences)),
        "reconnects": host.counters.reconnects,
    }


def test_the_records_are_what_a_hub_stores(run: dict[str, Any]) -> None:
    msgs = run["messages"]
    assert run["reconnects"] > 50
    assert set(msgs.get_column("protocol.name")) == {"teltonika", "wialon_ips", "gt06"}
    ts = msgs.get_column("timestamp")
    assert not ts.is_sorted()  # newest first and resent black boxes arrive out of order
    assert msgs.select(pl.struct("ident", "timestamp").is_duplicated().any()).item() is False
    assert msgs.get_column("position.valid").fill_null(True).not_().sum() > 0  # no-fix records


def test_trips_against_ignition_journeys(run: dict[str, Any]) -> None:
    s = score(trips(run["messages"]), run["truth"]["journeys"])
    assert s["tp"] > 300
    assert s["f1"] >= 0.98
    assert s["median_begin_error"] <= 30
    assert s["median_end_error"] <= 30
    assert s["distance_error"] is not None
    assert s["distance_error"] <= 0.02


def test_parkings(run: dict[str, Any]) -> None:
    s = score(parkings(run["messages"]), run["truth"]["parkings"])
    assert s["tp"] > 300
    assert s["f1"] >= 0.98
    assert s["median_begin_error"] <= 30
    assert s["median_end_error"] <= 30


def test_geofence_visits(run: dict[str, Any]) -> None:
    truth = run["truth"]["geofence_visits"]
    assert len(run["fences"].names) >= 10
    assert truth.height > 1000
    assert (
        geofence_visits(run["messages"], run["fences"], min_dwell=0).collect().height > truth.height
    )
    s = score(geofence_visits(run["messages"], run["fences"], min_dwell=MIN_DWELL), truth)
    assert s["f1"] >= 0.99
    assert s["median_begin_error"] <= 30
    assert s["median_end_error"] <= 30
