"""Records of phases: any split of time into windows gives the same records, in time order."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from simulators.fleet import Fleet
from simulators.records import RecordBatch, materialise, stable_order
from simulators.scenario import Scenario
from simulators.sensors import normals, record_keys
from simulators.vehicle import PHASE_FIELDS

HOURS = 14


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    f = Fleet(Scenario(devices=12, duration=HOURS * 3600), seed=8, engine="lockstep")
    f.advance_columns(f.start_time + HOURS * 3600)
    return f


def records(fleet: Fleet, step: int) -> RecordBatch:
    ph = {k: np.concatenate([p[k] for p in fleet.truth_phases]) for k in (*PHASE_FIELDS, "id")}
    parts = []
    for lo in range(-1, fleet.duration, step):
        batch, by_vehicle = materialise(
            ph,
            fleet.planner,
            fleet._templates,
            period=600,
            window=(lo, min(lo + step, fleet.duration)),
            vehicles=12,
        )
        assert np.array_equal(batch.t, np.sort(batch.t))  # time order
        key = batch.t * 100 + batch.vehicle
        assert np.unique(key).size == key.size  # one record per vehicle and second
        assert np.all(np.diff(key) > 0)  # ties broken by vehicle
        by_v = batch.select(by_vehicle)
        assert np.all(np.diff(by_v.vehicle * 10**7 + by_v.t) > 0)  # (vehicle, time) order
        parts.append(batch)
    return RecordBatch.concat(parts)


def test_windows_do_not_change_the_records(fleet: Fleet) -> None:
    whole = records(fleet, fleet.duration + 1)
    assert len(whole) == sum(len(b) for b, _ in fleet.truth_records) > 500
    for step in (293, 1800, 7777):
        part = records(fleet, step)
        for f in fields(RecordBatch):
            assert np.array_equal(getattr(part, f.name), getattr(whole, f.name)), (step, f.name)
    trips = whole.kind == 2
    assert whole.movement[trips].any()
    assert not whole.movement[~trips].any()
    assert np.array_equal(whole.ignition, whole.kind != 0)


def test_stable_order_sorts_stably() -> None:
    values = np.array([5, 1, 5, 0, 1, 70_000 % 7])
    assert stable_order(values, 7).tolist() == np.argsort(values, kind="stable").tolist()
    big = np.array([70_000, 3, 70_000, 2])
    assert stable_order(big, 70_001).tolist() == [3, 1, 0, 2]


def test_sensor_noise_is_standard_normal() -> None:
    keys = record_keys(5, np.arange(200_000) % 97, np.arange(200_000))
    a, b = normals(keys, 3)
    four = normals(keys, 7, count=4)
    for z in (a, b, *four):
        assert abs(z.mean()) < 0.01
        assert abs(z.std() - 1.0) < 0.01
        assert 0.0435 < float((np.abs(z) > 2).mean()) < 0.0475  # normal: 0.0455
    draws = np.stack([a, b, *four])
    corr = np.corrcoef(draws) - np.eye(len(draws))
    assert np.abs(corr).max() < 0.01  # independent, within and across calls
    again, _ = normals(keys, 3)
    assert np.array_equal(a, again)
    with pytest.raises(ValueError, match="2 or 4"):
        normals(keys, 3, count=3)


def test_lost_fixes_keep_the_vehicles_last_valid_position() -> None:
    """``_fill_last_valid`` against a per-record loop, records in time order."""
    from simulators.sensors import _fill_last_valid

    rng = np.random.default_rng(4)
    for _ in range(50):
        n, vehicles = int(rng.integers(1, 200)), 6
        vehicle = rng.integers(0, vehicles, n)
        t = np.sort(rng.choice(10_000, n, replace=False))  # time order, one record a second
        valid = rng.random(n) < 0.6
        lon, lat = rng.random(n), rng.random(n)
        last = rng.random((vehicles, 2))
        expected_fix, expected_last = np.column_stack((lon, lat)), last.copy()
        for i in range(n):  # the reference: walk the records in time order
            if valid[i]:
                expected_last[vehicle[i]] = expected_fix[i]
            else:
                expected_fix[i] = expected_last[vehicle[i]]
        by_vehicle = np.lexsort((t, vehicle))
        batch = RecordBatch.empty()
        batch = RecordBatch(**{**vars(batch), "vehicle": vehicle, "t": t})
        _fill_last_valid(batch, by_vehicle, valid, [lon, lat], last)
        assert np.array_equal(np.column_stack((lon, lat)), expected_fix)
        assert np.array_equal(last, expected_last)
