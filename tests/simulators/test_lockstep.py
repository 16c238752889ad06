"""The lock-step engine logs exactly the phases of the SimPy vehicles, and the same records."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulators.fleet import Engine, Fleet, concat_columns
from simulators.scenario import Scenario, ShiftPattern, load_scenario
from simulators.sensors import Columns
from simulators.vehicle import PHASE_FIELDS

SCENARIOS = Path(__file__).resolve().parents[2] / "data" / "scenarios"
DAY = 86400


def scenario(name: str, devices: int = 60, days: int = 3) -> Scenario:
    return replace(load_scenario(SCENARIOS / name), devices=devices, duration=days * DAY)


def phases(fleet: Fleet) -> dict[str, Any]:
    """All phases started by the horizon, sorted by (vehicle, start), ids dropped."""
    ph = {k: np.concatenate([p[k] for p in fleet.truth_phases]) for k in PHASE_FIELDS}
    keep = ph["t0"] <= fleet.duration
    order = np.lexsort((ph["t0"][keep], ph["vehicle"][keep]))
    return {k: v[keep][order] for k, v in ph.items()}


def run(s: Scenario, engine: Engine, chunks: list[int], **kw: Any) -> tuple[Fleet, Columns]:
    fleet = Fleet(s, seed=3, engine=engine, **kw)
    out = [fleet.advance_columns(fleet.start_time + t) for t in [*chunks, s.duration]]
    return fleet, concat_columns([c for c in out if c is not None])


def assert_same_phases(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["t0"].size == b["t0"].size > 0
    for name in PHASE_FIELDS:
        assert a[name].dtype == b[name].dtype, name
        assert np.array_equal(a[name], b[name]), name


def assert_same_columns(a: Columns, b: Columns) -> None:
    assert np.array_equal(a.t, b.t)
    assert np.array_equal(a.vehicle, b.vehicle)
    assert a.values.keys() == b.values.keys()
    for name in a.values:
        assert np.array_equal(a.values[name], b.values[name]), name
        assert np.array_equal(a.present[name], b.present[name]), name


CASES = {
    "city-delivery": scenario("city-delivery.toml"),
    "load-test": scenario("load-test.toml", devices=40, days=2),  # starts at 09:00 UTC
    "long-haul": scenario("long-haul.toml", devices=40),
    "night-shift": replace(  # shifts across midnight, a start that is not midnight
        Scenario(devices=40, duration=2 * DAY, start=datetime(2026, 1, 5, 17, 30, tzinfo=UTC)),
        shift=ShiftPattern(start_hour=21.5, hours=9.0, jitter_minutes=90.0),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_lockstep_phases_and_records_equal_simpy(name: str) -> None:
    s = CASES[name]
    simpy_fleet, simpy_cols = run(s, "simpy", [])
    chunks = [1, 900, 4000, 30_000, DAY - 1, DAY + 7]  # uneven, some inside phases
    shared = {"network": simpy_fleet.network, "planner": simpy_fleet.planner}  # routed once
    lock_fleet, lock_cols = run(s, "lockstep", chunks, **shared)
    assert_same_phases(phases(simpy_fleet), phases(lock_fleet))
    assert_same_columns(simpy_cols, lock_cols)
    assert simpy_cols.t.size > 1000
    truth = lock_fleet.ground_truth()
    assert truth["trips"].height == int((phases(lock_fleet)["kind"] == 2).sum())


def test_shards_give_the_same_vehicles_whatever_their_count() -> None:
    s = scenario("city-delivery.toml", devices=30, days=2)
    whole, cols = run(s, "lockstep", [])
    shared = {"network": whole.network, "planner": whole.planner}
    parts = [run(s, "lockstep", [7200], shard=(k, 3), **shared) for k in range(3)]
    for k, (fleet, _) in enumerate(parts):
        mine = phases(whole)
        sel = mine["vehicle"] % 3 == k
        assert_same_phases({n: v[sel] for n, v in mine.items()}, phases(fleet))
    merged = concat_columns([c for _, c in parts])
    order = np.lexsort((merged.vehicle, merged.t))
    assert np.array_equal(merged.t[order], cols.t)
    assert np.array_equal(
        merged.values["position.latitude"][order], cols.values["position.latitude"]
    )


def test_shards_can_share_a_planner_and_must_match_it() -> None:
    s = CASES["long-haul"]
    first = Fleet(s, seed=3, engine="lockstep", shard=(0, 2))
    second = Fleet(s, seed=3, engine="lockstep", shard=(1, 2), network=first.network,
                   planner=first.planner)  # fmt: skip
    assert second.planner is first.planner
    other = Fleet(s, seed=3, engine="lockstep", shard=(1, 2), network=first.network)
    second.advance_columns(second.start_time + DAY)
    other.advance_columns(other.start_time + DAY)
    assert_same_phases(phases(second), phases(other))
    with pytest.raises(Exception, match="planner"):
        Fleet(s, seed=4, engine="lockstep", network=first.network, planner=first.planner)


def test_same_seed_same_phases_other_seed_others() -> None:
    s = scenario("city-delivery.toml", devices=12, days=1)
    a = run(s, "lockstep", [3600])[0]
    b = run(s, "lockstep", [], network=a.network)[0]  # its own planner, routed anew
    assert_same_phases(phases(a), phases(b))
    c = Fleet(s, seed=4, engine="lockstep", network=a.network)
    c.advance_columns(c.start_time + s.duration)
    assert not np.array_equal(phases(a)["t0"], phases(c)["t0"][: phases(a)["t0"].size])


def test_route_ids_do_not_depend_on_the_order_legs_are_asked_in() -> None:
    s = scenario("city-delivery.toml", devices=10, days=1)
    fleet, _ = run(s, "simpy", [])
    n = fleet.planner.stops.size
    for (a, b), leg in fleet.planner._legs.items():
        assert leg.route == a * n + b
        assert fleet.planner.profiles[leg.route].duration == leg.duration
