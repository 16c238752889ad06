"""Ground truth agrees with the emitted records: trips, parkings, odometer, geofences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from simulators.fleet import Fleet
from simulators.roads import ATTRIBUTION
from simulators.scenario import Scenario
from simulators.truth import MIN_DWELL, ground_truth, load_geofences, write_ground_truth
from telebench.errors import ConfigError

HOURS = 10


def num(value: object) -> float:
    """A Series aggregate as a float (fails the test if it is null or not a number)."""
    assert isinstance(value, int | float)
    return float(value)


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    f = Fleet(Scenario(devices=6, duration=HOURS * 3600), seed=16)
    f.advance(f.start_time + HOURS * 3600)
    return f


@pytest.fixture(scope="module")
def truth(fleet: Fleet) -> dict[str, pl.DataFrame]:
    return fleet.ground_truth()


def test_tables_and_columns(truth: dict[str, pl.DataFrame]) -> None:
    assert sorted(truth) == ["journeys", "parkings", "records", "stops", "trips"]
    assert truth["trips"].height > 20
    assert {"start_time", "end_time", "distance_m", "max_speed_kmh"} <= set(truth["trips"].columns)
    assert (truth["trips"]["max_speed_kmh"] > 0).all()
    assert (truth["parkings"]["duration"] > 0).all()
    assert {"true.latitude", "position.latitude"} <= set(truth["records"].columns)


def test_every_trip_has_ignition_on_records_and_odometer_matches(
    truth: dict[str, pl.DataFrame],
) -> None:
    rec = truth["records"]
    trips = truth["trips"].filter(pl.col("complete"))
    for trip in trips.iter_rows(named=True):
        inside = rec.filter(
            (pl.col("ident") == trip["ident"])
            & pl.col("timestamp").is_between(trip["start_time"], trip["end_time"])
        )
        assert inside.height >= 2
        assert inside["engine.ignition.status"].all()
        assert inside["timestamp"].min() == trip["start_time"]
        assert inside["timestamp"].max() == trip["end_time"]
        delta_km = num(inside["vehicle.mileage"].max()) - num(inside["vehicle.mileage"].min())
        assert delta_km == pytest.approx(trip["distance_m"] / 1000, abs=0.0011)


def test_parkings_are_ignition_off_with_an_event_record(truth: dict[str, pl.DataFrame]) -> None:
    rec = truth["records"]
    for park in truth["parkings"].iter_rows(named=True):
        inside = rec.filter(
            (pl.col("ident") == park["ident"])
            & (pl.col("timestamp") >= park["start_time"])
            & (pl.col("timestamp") < park["end_time"])
        )
        assert inside.height >= 1
        assert inside["timestamp"].min() == park["start_time"], "ignition-off event record"
        assert not inside["engine.ignition.status"].any()


def test_odometer_sums_to_trip_distances(truth: dict[str, pl.DataFrame]) -> None:
    rec, trips = truth["records"], truth["trips"].filter(pl.col("complete"))
    for ident in trips["ident"].unique().to_list():
        mine = rec.filter(pl.col("ident") == ident).sort("timestamp")
        own = trips.filter(pl.col("ident") == ident)
        last_end = own["end_time"].max()
        span = mine.filter(pl.col("timestamp") <= last_end)["vehicle.mileage"]
        total_km = num(own["distance_m"].sum()) / 1000
        assert num(span.max()) - num(span.min()) == pytest.approx(total_km, abs=0.01)


def test_emitted_positions_are_near_the_truth(truth: dict[str, pl.DataFrame]) -> None:
    valid = truth["records"].filter(pl.col("position.valid"))
    dy = (valid["position.latitude"] - valid["true.latitude"]).to_numpy() * 111_320
    scale = 111_320 * np.cos(np.radians(valid["true.latitude"].to_numpy()))
    dx = (valid["position.longitude"] - valid["true.longitude"]).to_numpy() * scale
    error = np.hypot(dx, dy)
    assert 0.5 < float(np.median(error)) < 10
    assert float(error.max()) < 40
    assert truth["records"]["position.valid"].mean() > 0.8  # type: ignore[operator]


def test_geofence_visits_and_files(fleet: Fleet, tmp_path: Path) -> None:
    lon, lat = float(np.median(fleet.network.lon)), float(np.median(fleet.network.lat))
    ring = [[lon - 0.004, lat - 0.002], [lon + 0.004, lat - 0.002], [lon + 0.004, lat + 0.002],
            [lon - 0.004, lat + 0.002], [lon - 0.004, lat - 0.002]]  # fmt: skip
    geojson = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "centre"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}  # fmt: skip
    fences_path = tmp_path / "fences.geojson"
    fences_path.write_text(json.dumps(geojson))
    paths = write_ground_truth(fleet, tmp_path / "truth", fences_path)
    assert {p.name for p in paths} == {
        "trips.parquet", "journeys.parquet", "parkings.parquet", "stops.parquet", "records.parquet",
        "geofence_visits.parquet",
    }  # fmt: skip
    visits = pl.read_parquet(tmp_path / "truth" / "geofence_visits.parquet")
    assert visits.height > 0
    assert (visits["exit_time"] - visits["enter_time"] >= MIN_DWELL).all()
    # Undebounced, every true position between enter and exit is inside the fence.
    exact = ground_truth(fleet, load_geofences(fences_path), min_dwell=0)["geofence_visits"]
    assert exact.height >= visits.height
    assert exact.filter(pl.col("exit_time") - pl.col("enter_time") < MIN_DWELL).height > 0
    rec = pl.read_parquet(tmp_path / "truth" / "records.parquet")
    for v in exact.iter_rows(named=True):
        during = rec.filter(
            (pl.col("ident") == v["ident"])
            & pl.col("timestamp").is_between(v["enter_time"], v["exit_time"])
        )
        assert during["true.longitude"].is_between(lon - 0.004, lon + 0.004).all()
        assert during["true.latitude"].is_between(lat - 0.002, lat + 0.002).all()
    assert ATTRIBUTION in (tmp_path / "truth" / "ATTRIBUTION.txt").read_text()


def test_bad_geofence_files(tmp_path: Path) -> None:
    path = tmp_path / "g.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [{"geometry": '
                    '{"type": "Point", "coordinates": [0, 0]}}]}')  # fmt: skip
    with pytest.raises(ConfigError, match="feature 0 is a Point"):
        load_geofences(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_geofences(path)


def test_journeys_join_trips_across_idling_halts_and_never_cross_a_parking(
    truth: dict[str, pl.DataFrame],
) -> None:
    journeys, trips, parkings = truth["journeys"], truth["trips"], truth["parkings"]
    assert 0 < journeys.height <= trips.height
    assert journeys["legs"].sum() == trips.height
    assert journeys["distance_m"].sum() == pytest.approx(trips["distance_m"].sum())
    crossing = journeys.join(parkings, on="ident", suffix="_park").filter(
        (pl.col("start_time_park") > pl.col("start_time"))
        & (pl.col("start_time_park") < pl.col("end_time"))
    )
    assert crossing.is_empty()
    rec = truth["records"]
    for journey in journeys.filter(pl.col("complete")).head(20).iter_rows(named=True):
        inside = rec.filter(
            (pl.col("ident") == journey["ident"])
            # the ignition events at both ends belong to the parkings around the journey
            & pl.col("timestamp").is_between(
                journey["start_time"], journey["end_time"], closed="none"
            )
        )
        assert inside["engine.ignition.status"].all()
