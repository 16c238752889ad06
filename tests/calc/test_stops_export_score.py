"""Spatial stops, exports readable by GDAL and gpxpy, and the scoring helper."""

from __future__ import annotations

import json
from pathlib import Path

import gpxpy
import numpy as np
import polars as pl
import pytest

from telebench.calc import Counters, export, parkings, score, stops, trips
from telebench.errors import ConfigError


def _drive() -> pl.DataFrame:
    """Parked 10 min (fix every 60 s, 5 m noise), drive 5 min, parked 10 min."""
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 1500.0, 30.0)
    moving = (t >= 600) & (t < 900)
    lat = np.where(t < 600, 0.0, np.where(moving, (t - 600) * 1e-5, 300 * 1e-5))
    lat = lat + rng.normal(0, 2e-5, t.size) * ~moving
    return pl.DataFrame({
        "ident": "v1", "timestamp": t, "position.latitude": lat,
        "position.longitude": 1.0, "position.speed": np.where(moving, 40.0, 0.0),
        "engine.ignition.status": moving,
    })  # fmt: skip


def test_stops_from_positions_alone() -> None:
    out = stops(_drive().drop("engine.ignition.status"), max_diameter=50, min_duration=300)
    rows = out.collect().select("begin", "end", "active", "ended_by").rows()
    # 630 and 870 s: moving fixes still within 50 m of the parked ones.
    assert rows == [(0.0, 630.0, False, "moved"), (870.0, 1470.0, True, "end of data")]
    with pytest.raises(ConfigError, match="max_diameter"):
        stops(_drive(), max_diameter=0)


def test_sparse_parking_fix_still_spans_a_stop() -> None:
    df = pl.DataFrame(
        {
            "ident": "a",
            "timestamp": [0.0, 3600.0, 3610.0],
            "position.latitude": [0.0, 0.00001, 0.01],
            "position.longitude": 0.0,
        }
    )
    assert stops(df, min_duration=300).collect().select("begin", "end").rows() == [(0.0, 3600.0)]


@pytest.mark.parametrize("fmt", ["gpx", "kml", "geojson"])
def test_exports_open_in_gdal_and_gpxpy(tmp_path: Path, fmt: str) -> None:
    pyogrio = pytest.importorskip("pyogrio")
    df = _drive()
    tr = trips(df, min_duration=0, counters=Counters(route=True))
    pk = parkings(df, min_duration=0)
    for name, iv in (("trips", tr), ("parkings", pk)):
        path = tmp_path / f"{name}.{fmt}"
        n = export(iv, path, fmt)
        assert n == iv.collect().height > 0
        layers = [layer[0] for layer in pyogrio.list_layers(path)]
        total = sum(len(pyogrio.read_dataframe(path, layer=layer)) for layer in layers)
        assert total >= n
        if fmt == "gpx":
            doc = gpxpy.parse(path.read_text())
            assert len(doc.tracks) + len(doc.waypoints) == n
        if fmt == "geojson":
            props = json.loads(path.read_text())["features"][0]["properties"]
            assert props["ident"] == "v1"
    with pytest.raises(ConfigError, match="format"):
        export(tr, tmp_path / "x", "shp")


def test_score_matches_the_simulator_truth_shape() -> None:
    df = _drive()
    pred = trips(df, min_duration=0)
    truth = pl.DataFrame({"ident": ["v1"], "begin": [600.0], "end": [900.0],
                          "distance_m": [333.6]})  # fmt: skip
    s = score(pred, truth)
    assert (s["tp"], s["f1"]) == (1, 1.0)
    assert s["median_begin_error"] == 0.0
    assert s["distance_error"] < 0.02
    visits = pl.DataFrame({"ident": ["v1"], "geofence": ["g"], "enter_time": [0.0],
                           "exit_time": [10.0]})  # fmt: skip
    assert score(visits, visits)["f1"] == 1.0


def test_dense_noisy_stay_uses_the_exact_box() -> None:
    """1 Hz fixes with 3 m noise: the noise path exceeds the diameter, the box does not."""
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 900.0)
    lat = np.where(t < 600, 0.0, (t - 600) * 1e-4) + rng.normal(0, 3e-5, t.size)
    df = pl.DataFrame({"ident": "a", "timestamp": t, "position.latitude": lat,
                       "position.longitude": 0.0})  # fmt: skip
    row = stops(df, max_diameter=50, min_duration=300).collect().row(0, named=True)
    assert row["begin"] == 0.0
    assert 599.0 <= row["end"] <= 605.0
    assert row["diameter"] <= 60.0


def test_stops_split_over_threads_by_device_match_one_pass() -> None:
    import importlib

    from telebench.calc._frame import LAT, LON, collect, prepare

    trips_module = importlib.import_module("telebench.calc.trips")
    fleet = pl.concat(
        [_drive().with_columns(ident=pl.lit(f"v{k}"), timestamp=pl.col("timestamp") + k)
         for k in range(7)]
    ).drop("engine.ignition.status")  # fmt: skip
    rows = prepare(fleet, [LAT, LON]).pipe(collect)
    one, one_step = trips_module._covered(rows, 50.0, 300.0)
    for parts in (2, 3, 20):
        split, step = trips_module._covered_in_parts(rows, 50.0, 300.0, parts=parts)
        assert np.array_equal(split, one)
        new = rows.get_column("_new").to_numpy()
        assert np.array_equal(step[~new], one_step[~new])  # a device's first step is unused
    assert one.sum() > 0
