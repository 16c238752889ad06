"""Calculator benchmark: trips + parkings, spatial stops and geofence visits on a synthetic fleet.

Each device alternates 200-message trips (10 s fixes, ~50 km/h, ignition on, odometer) and
200-message parkings (60 s fixes, 5 m GPS noise, ignition off); fences are 300 m circles
centred on random fixes. Built with numpy, no per-message Python.

Examples
--------
>>> r = run(messages=20_000, devices=10, fences=20, movingpandas=False)
>>> r["trips"] > 0 and r["stops"] > 0 and r["visits"] > 0
True
"""

from __future__ import annotations

import importlib.util
import resource
import time
from typing import Any

import numpy as np
import polars as pl

from telebench.calc import Geofences, circle, geofence_visits, parkings, stops, trips

__all__ = ["fleet", "run"]

_SEG = 200


def fleet(messages: int, devices: int, seed: int = 0) -> pl.DataFrame:
    """A synthetic message frame of ``devices`` x ``messages // devices`` rows (built 100
    devices at a time to bound the temporaries)."""
    rng = np.random.default_rng(seed)
    per = max(messages // devices, 1)
    k = np.arange(per)
    moving = (k // _SEG) % 2 == 1
    t_rel = np.cumsum(np.where(moving, 10.0, 60.0))
    parts = []
    for first in range(0, devices, 100):
        n = min(100, devices - first)
        t = 1_764_000_000.0 + t_rel[None, :] + rng.uniform(0, 3600, (n, 1))
        heading = rng.uniform(0, 2 * np.pi, (n, per // _SEG + 1))[:, k // _SEG]
        step = np.where(moving, 139.0, 0.0) * rng.uniform(0.8, 1.2, (n, per))
        lat0, lon0 = rng.uniform(41.0, 43.0, (n, 1)), rng.uniform(0.0, 3.0, (n, 1))
        lat = lat0 + np.cumsum(step * np.cos(heading), axis=1) / 111_195.0
        kx = 111_195.0 * np.cos(np.radians(lat0))
        lon = lon0 + np.cumsum(step * np.sin(heading), axis=1) / kx
        noise = rng.normal(0, 5.0 / 111_195.0, (2, n, per)) * ~moving
        idents = [f"{350_000_000_000_000 + i}" for i in range(first, first + n)]
        parts.append(pl.DataFrame({
            "ident": np.repeat(np.array(idents), per), "timestamp": t.ravel(),
            "position.latitude": (lat + noise[0]).ravel(),
            "position.longitude": (lon + noise[1]).ravel(),
            "position.speed": np.tile(np.where(moving, 50.0, 0.0), n),
            "engine.ignition.status": np.tile(moving, n),
            "vehicle.mileage": (np.cumsum(step, axis=1) / 1000.0).ravel(),
        }))  # fmt: skip
    return pl.concat(parts, rechunk=True)


def _timed(fn: Any) -> tuple[float, float, int]:
    """Wall and CPU seconds (CPU over all threads: on a shared machine wall time wobbles)."""
    start, cpu = time.perf_counter(), time.process_time()
    n = fn().height
    return time.perf_counter() - start, time.process_time() - cpu, n


def _movingpandas(points: int, seed: int) -> dict[str, float | int | str]:
    """Spatial stops on the same ``points`` with MovingPandas' TrajectoryStopDetector and ours."""
    import datetime as dt
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import geopandas as gpd
        import movingpandas as mpd

        df = fleet(points, max(points // 10_000, 1), seed)
        start = time.perf_counter()
        ours = stops(df.lazy()).collect().height
        t_ours = time.perf_counter() - start
        pdf = df.select(
            "ident", t=pl.from_epoch((pl.col("timestamp") * 1e6).cast(pl.Int64), "us"),
            x="position.longitude", y="position.latitude",
        ).to_pandas()  # fmt: skip
        gdf = gpd.GeoDataFrame(pdf, geometry=gpd.points_from_xy(pdf.x, pdf.y), crs=4326)
        start = time.perf_counter()
        tc = mpd.TrajectoryCollection(gdf, traj_id_col="ident", t="t")
        found = mpd.TrajectoryStopDetector(tc).get_stop_segments(
            max_diameter=100, min_duration=dt.timedelta(seconds=300)
        )
        t_mp = time.perf_counter() - start
    return {
        "mp_points": df.height, "mp_stops_s": round(t_mp, 3), "mp_stops": len(found),
        "ours_stops_s": round(t_ours, 3), "ours_stops": ours,
        "mp_over_ours": round(t_mp / max(t_ours, 1e-9), 1),
    }  # fmt: skip


def run(
    *,
    messages: int = 10_000_000,
    devices: int = 1000,
    fences: int = 1000,
    seed: int = 0,
    movingpandas: bool = True,
) -> dict[str, float | int | str]:
    """Seconds for each calculator, interval counts and peak RSS (MB) of this process; with
    ``movingpandas`` (and it installed) the same stop detection on 100,000 points by both."""
    df = fleet(messages, devices, seed)
    rng = np.random.default_rng(seed + 1)
    pick = rng.integers(0, df.height, fences)
    lat = df.get_column("position.latitude").gather(pick).to_numpy()
    lon = df.get_column("position.longitude").gather(pick).to_numpy()
    geo = Geofences.from_shapes({f"f{i}": circle(lat[i], lon[i], 300.0) for i in range(fences)})
    lf = df.lazy()
    t_trips, c_trips, n_trips = _timed(lambda: trips(lf).collect())
    t_park, c_park, n_park = _timed(lambda: parkings(lf).collect())
    t_stops, c_stops, n_stops = _timed(lambda: stops(lf).collect())
    t_geo, c_geo, n_geo = _timed(lambda: geofence_visits(lf, geo).collect())
    out: dict[str, float | int | str] = {
        "messages": df.height, "devices": devices, "fences": fences,
        "trips_s": round(t_trips, 3), "parkings_s": round(t_park, 3),
        "trips_parkings_s": round(t_trips + t_park, 3), "stops_s": round(t_stops, 3),
        "geofences_s": round(t_geo, 3),
        "trips_parkings_cpu_s": round(c_trips + c_park, 3), "stops_cpu_s": round(c_stops, 3),
        "geofences_cpu_s": round(c_geo, 3),
        "trips": n_trips, "parkings": n_park, "stops": n_stops, "visits": n_geo,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }  # fmt: skip
    if not movingpandas:
        out["movingpandas"] = "skipped"
    elif importlib.util.find_spec("movingpandas") is None:
        out["movingpandas"] = "not installed"
    else:
        out.update(_movingpandas(100_000, seed))
    return out


if __name__ == "__main__":  # pragma: no cover - manual benchmark entry point
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    for key, value in run(messages=n).items():
        print(f"{key:18} {value}")
