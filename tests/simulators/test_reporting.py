"""Reporting rules: period, distance, heading change, and event records on changes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from simulators.fleet import Fleet
from simulators.reporting import PROTOCOL_PARAMS, select_moving, stationary_offsets
from simulators.scenario import ReportRules, Scenario
from telebench.params import PARAMS


def num(value: object) -> float:
    """A Series aggregate as a float (fails the test if it is null or not a number)."""
    assert isinstance(value, int | float)
    return float(value)


RULES = ReportRules(period_s=30, distance_m=300.0, angle_deg=15.0, parked_period_s=600)


def test_period_fires_when_nothing_else_does() -> None:
    n = 100
    got = select_moving(RULES, distance=np.arange(n + 1, dtype=np.float64), heading=np.zeros(n + 1))
    assert got.tolist() == [0, 30, 60, 90, 100]


def test_distance_fires_first_when_fast() -> None:
    got = select_moving(RULES, distance=np.arange(61, dtype=np.float64) * 25, heading=np.zeros(61))
    assert got.tolist() == [0, 12, 24, 36, 48, 60]  # 300 m every 12 s


def test_heading_change_fires_and_resets_the_reference() -> None:
    heading = np.zeros(41)
    heading[10:] = 20.0  # a 20° turn at t = 10
    heading[25:] = 350.0  # then 30° back across north at t = 25
    got = select_moving(RULES, distance=np.arange(41, dtype=np.float64), heading=heading)
    assert got.tolist() == [0, 10, 25, 40]


def test_stationary_offsets() -> None:
    assert stationary_offsets(0, 1201, 600, event=True).tolist() == [0, 600, 1200]
    assert stationary_offsets(0, 1200, 600, event=False).tolist() == [600]


def test_protocol_params_are_registry_names() -> None:
    for names in PROTOCOL_PARAMS.values():
        assert names <= set(PARAMS)


@pytest.fixture(scope="module")
def records() -> pl.DataFrame:
    fleet = Fleet(Scenario(devices=5, duration=8 * 3600, report=RULES), seed=4)
    fleet.advance(fleet.start_time + 8 * 3600)
    return fleet.ground_truth()["records"]


def test_rules_hold_on_emitted_trip_records(records: pl.DataFrame) -> None:
    trips = records.filter(pl.col("movement.status") | pl.col("movement.status").shift(1))
    gaps = (
        records.sort("vehicle", "timestamp")
        .with_columns(
            dt=pl.col("timestamp").diff().over("vehicle"),
            dd=pl.col("true.odometer").diff().over("vehicle"),
            same=pl.col("phase") == pl.col("phase").shift(1).over("vehicle"),
            moving=pl.col("movement.status").shift(1).over("vehicle"),
        )
        .filter(pl.col("same") & pl.col("moving"))
    )
    assert trips.height > 0
    assert gaps.height > 50
    assert num(gaps["dt"].max()) <= RULES.period_s
    assert num(gaps["dd"].max()) < RULES.distance_m + 30  # fires within a second of 300 m
    assert (gaps["dt"] < RULES.period_s).sum() > 0  # distance or angle fired sometimes


def test_parked_period_and_ignition_events(records: pl.DataFrame) -> None:
    seq = records.sort("vehicle", "timestamp").with_columns(
        dt=pl.col("timestamp").diff().over("vehicle"),
        was_on=pl.col("engine.ignition.status").shift(1).over("vehicle"),
        same=pl.col("phase") == pl.col("phase").shift(1).over("vehicle"),
    )
    still = seq.filter(pl.col("same") & ~pl.col("movement.status") & (pl.col("true.speed") == 0))
    assert num(still["dt"].max()) <= RULES.parked_period_s
    changes = seq.filter(pl.col("was_on") != pl.col("engine.ignition.status"))
    assert changes.height > 5
    # An ignition change is recorded when it happens: a new phase starts with that record.
    assert (~changes["same"]).all()
