"""Geofence visits: debounce against GPS noise, sparse-fix crossings, circles, corridors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import shapely

from telebench.calc import (
    Geofences,
    InGeofence,
    circle,
    corridor,
    geofence_events,
    geofence_visits,
    intervals,
)
from telebench.errors import ConfigError

SQUARE = shapely.box(0.0, 0.0, 0.01, 0.01)  # about 1.1 km a side at the equator


def _msgs(lon: list[float], lat: list[float] | float = 0.005, dt: float = 10.0) -> pl.DataFrame:
    n = len(lon)
    lats = lat if isinstance(lat, list) else [lat] * n
    return pl.DataFrame(
        {"ident": ["a"] * n, "timestamp": [dt * i for i in range(n)],
         "position.latitude": lats, "position.longitude": lon}
    )  # fmt: skip


def test_enter_exit_interpolated_and_events_ordered() -> None:
    fences = Geofences.from_shapes({"sq": SQUARE})
    v = geofence_visits(_msgs([-0.005, 0.005, 0.015]), fences).collect()
    assert v.select("begin", "end", "fixes", "ended_by").rows() == [(5.0, 15.0, 1, "exit")]
    ev = geofence_events(_msgs([-0.005, 0.005, 0.015]), fences).collect()
    assert ev.select("timestamp", "event").rows() == [(5.0, "enter"), (15.0, "exit")]


def test_debounce_bridges_noise_and_drops_blips() -> None:
    fences = Geofences.from_shapes({"sq": SQUARE})
    # Inside for 6 fixes with one noisy fix outside, then one noisy fix inside later.
    lon = [-0.01, 0.005, 0.006, 0.0105, 0.005, 0.006, 0.007, -0.01, -0.02, 0.0001, -0.03]
    raw = geofence_visits(_msgs(lon), fences, min_dwell=0, crossings=False).collect()
    assert raw.height == 3
    clean = geofence_visits(_msgs(lon), fences, min_dwell=0, min_fixes=2, crossings=False)
    clean = clean.collect()
    assert clean.select("fixes").to_series().to_list() == [6]
    dwell = geofence_visits(_msgs(lon), fences, min_dwell=15, crossings=False).collect()
    assert dwell.height == 1


def test_sparse_fixes_crossing_is_detected() -> None:
    fences = Geofences.from_shapes({"sq": SQUARE})
    v = geofence_visits(_msgs([-0.01, 0.02], dt=300), fences).collect()
    assert v.select("crossing", "fixes").rows() == [(True, 0)]
    begin, end = v.row(0)[2:4]
    assert (begin, end) == pytest.approx((100.0, 200.0))
    assert geofence_visits(_msgs([-0.01, 0.02]), fences, crossings=False).collect().height == 0
    # A short segment clipping a corner (fixes in neighbouring grid cells).
    corner = geofence_visits(
        _msgs([-0.001, 0.002], lat=[0.009, 0.0115]), fences, min_dwell=0
    ).collect()
    assert corner.select("crossing", "fixes").rows() == [(True, 0)]


def test_circle_and_corridor_from_geojson(tmp_path: Path) -> None:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "c", "radius": 200},
         "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}},
        {"type": "Feature", "properties": {"name": "road", "width": 100},
         "geometry": {"type": "LineString", "coordinates": [[0.1, -0.01], [0.1, 0.01]]}},
    ]}  # fmt: skip
    path = tmp_path / "f.geojson"
    path.write_text(json.dumps(doc))
    fences = Geofences.from_geojson(path)
    lon = [-0.0025, -0.0015, 0.0, 0.0015, 0.0025, 0.0996, 0.1004, 0.1006]
    v = geofence_visits(_msgs(lon, lat=0.0), fences).collect()
    assert v.select("geofence", "fixes").rows() == [("c", 3), ("road", 2)]
    assert v.get_column("active").to_list() == [False, False]
    with pytest.raises(ConfigError, match="radius"):
        Geofences.from_geojson({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {},
             "geometry": {"type": "Point", "coordinates": [0, 0]}}]})  # fmt: skip


def test_geodataframe_and_many_fences_are_fast_and_exact() -> None:
    gpd = pytest.importorskip("geopandas")
    rng = np.random.default_rng(1)
    cx, cy = rng.uniform(0, 1, 1000), rng.uniform(0, 1, 1000)
    polys = [circle(float(y), float(x), 300.0) for x, y in zip(cx, cy, strict=True)]
    gdf = gpd.GeoDataFrame({"name": [f"f{i}" for i in range(1000)]}, geometry=polys, crs=4326)
    fences = Geofences.from_geodataframe(gdf)
    lon, lat = rng.uniform(0, 1, 20000), rng.uniform(0, 1, 20000)
    df = pl.DataFrame({"ident": "a", "timestamp": np.arange(20000.0), "position.latitude": lat,
                       "position.longitude": lon})  # fmt: skip
    v = geofence_visits(df, fences, min_dwell=0, crossings=False).collect()
    brute = sum(int(shapely.contains_xy(p, lon, lat).sum()) for p in polys)
    assert int(v.get_column("fixes").sum()) == brute


def test_geofence_selector_in_the_engine() -> None:
    fences = Geofences.from_shapes({"sq": SQUARE})
    out = intervals(_msgs([-0.01, 0.005, 0.006, 0.02]), InGeofence(fences)).collect()
    assert out.select("begin", "end", "ended_by").rows() == [(10.0, 20.0, "left geofence")]


def test_corridor_rejects_bad_width() -> None:
    with pytest.raises(ConfigError, match="width"):
        corridor([(0, 0), (1, 1)], 0)


def test_messages_without_position_do_not_split_a_visit() -> None:
    fences = Geofences.from_shapes({"sq": SQUARE})
    lon: list[float | None] = [-0.005, 0.004, None, 0.006, 0.015]
    df = _msgs([0.0] * 5).with_columns(pl.Series("position.longitude", lon, dtype=pl.Float64))
    v = geofence_visits(df, fences).collect()
    assert v.select("begin", "end", "fixes").rows() == [
        (pytest.approx(50 / 9), pytest.approx(310 / 9), 2)
    ]
    with pytest.raises(ConfigError, match="finite"):
        circle(float("nan"), 0.0, 100.0)


def test_a_departure_after_a_long_stay_is_timed_by_the_moving_fix() -> None:
    # Parked 55 m west of the square for an hour (one fix at the start), then a fix 55 m
    # inside at 3,600 s driving 36 km/h: the vehicle entered ~5.5 s before that fix, not
    # half-way through the hour. A fix without speed keeps the linear time.
    fences = Geofences.from_shapes({"sq": SQUARE})
    msgs = _msgs([-0.0005, 0.0005], dt=3600).with_columns(pl.Series("position.speed", [0.0, 36.0]))
    begin = geofence_visits(msgs, fences, min_dwell=0).collect().item(0, "begin")
    assert begin == pytest.approx(3600 - 55.6 / 10, abs=0.1)
    linear = geofence_visits(msgs.drop("position.speed"), fences, min_dwell=0).collect()
    assert linear.item(0, "begin") == pytest.approx(1800.0)
    assert geofence_visits(msgs, fences, min_dwell=0, still_speed=None).collect().item(
        0, "begin"
    ) == pytest.approx(1800.0)


def test_time_along_arrival_and_a_stop_between_moving_fixes() -> None:
    from telebench.calc.geofence import time_along

    ts = np.array([[0.0, 0.0, 0.0], [600.0, 600.0, 60.0]])
    kmh = np.array([[36.0, 36.0, 36.0], [0.0, 36.0, 36.0]])
    metres = np.array([500.0, 500.0, 600.0])
    got = time_along(ts, kmh, metres, np.array([0.2, 0.8, 0.5]), 2.0)
    # arrival: 100 m at 10 m/s; a stop between (500 m in 600 s at 10 m/s): 100 m before the
    # end; a steady drive (600 m in 60 s): linear.
    assert got.tolist() == pytest.approx([10.0, 590.0, 30.0])


def test_time_along_changes_speed_at_the_slow_end() -> None:
    # 150 m in 20 s between a fix at 36 km/h and one at 18 km/h: the vehicle kept 10 m/s
    # and braked at 1.5 m/s² into the slow fix (12.5 s + 3.3 s, scaled to the 20 s), so
    # it was half-way at 9.47 s (7.5 of 15.83 s); pulling away mirrors it; equal speeds
    # stay linear. From a standstill to 36 km/h in 100 m: 10 m out, 9.68 s before the
    # moving fix (6.67 s cruising, 3.02 s pulling away), and braking into a stop mirrors it.
    from telebench.calc.geofence import time_along

    ts = np.array([[0.0] * 5, [20.0, 20.0, 20.0, 100.0, 100.0]])
    kmh = np.array([[36.0, 18.0, 36.0, 0.0, 36.0], [18.0, 36.0, 36.0, 36.0, 0.0]])
    metres = np.array([150.0, 150.0, 150.0, 100.0, 100.0])
    frac = np.array([0.5, 0.5, 0.5, 0.1, 0.9])
    got = time_along(ts, kmh, metres, frac, 2.0)
    pull = 20 / 3 + (10 - 30**0.5) / 1.5
    expected = [20 * 7.5 / (12.5 + 5 / 1.5), 20 * (1 - 7.5 / (12.5 + 5 / 1.5)), 10.0]
    assert got.tolist() == pytest.approx([*expected, 100 - pull, pull], abs=1e-9)


def test_time_along_on_a_segment_of_zero_length() -> None:
    # Two fixes at one spot: whatever the speeds, no time goes on the distance (no NaN).
    from telebench.calc.geofence import time_along

    ts = np.array([[0.0] * 4, [10.0] * 4])
    kmh = np.array([[0.0, 36.0, 36.0, 36.0], [36.0, 0.0, 18.0, 36.0]])
    got = time_along(ts, kmh, np.zeros(4), np.full(4, 0.5), 2.0)
    assert got.tolist() == [10.0, 0.0, 10.0, 10.0]
