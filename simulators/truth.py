"""Ground truth of a simulation: what really happened, to check calculators against.

Per vehicle: the true trips (driving between stops), journeys (ignition on: trips joined
across idling halts), parkings (ignition off), stops (halts with the engine idling),
geofence visits (for GeoJSON polygons), and every emitted record with its true position
before GPS noise. Times are UNIX seconds.

Examples
--------
>>> from simulators.fleet import Fleet
>>> from simulators.scenario import Scenario
>>> fleet = Fleet(Scenario(devices=2, duration=6 * 3600), seed=3)
>>> _ = fleet.advance(fleet.start_time + 6 * 3600)
>>> truth = fleet.ground_truth()
>>> sorted(truth)
['journeys', 'parkings', 'records', 'stops', 'trips']
>>> truth["records"].height == sum(len(b) for b, _ in fleet.truth_records)
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import shapely
from shapely.geometry import shape

from simulators.records import RecordBatch
from simulators.roads import ATTRIBUTION
from simulators.vehicle import IDLE, PARK, TRIP
from telebench.errors import ConfigError

if TYPE_CHECKING:
    from simulators.fleet import Fleet

__all__ = [
    "MIN_DWELL",
    "Geofence",
    "dwell",
    "ground_truth",
    "load_geofences",
    "write_ground_truth",
    "write_tables",
]

Geofence = tuple[str, Any]  # (name, shapely polygon)
#: Seconds a geofence visit or an exit must last to count (telebench.calc's default too).
MIN_DWELL: Final = 10.0
IntArray = npt.NDArray[np.int64]


def load_geofences(path: Path) -> list[Geofence]:
    """Polygons of a GeoJSON FeatureCollection, named by their ``name`` property.

    Examples
    --------
    >>> load_geofences(Path("/nonexistent.geojson"))
    Traceback (most recent call last):
    ...
    telebench.errors.ConfigError: geofence file /nonexistent.geojson does not exist
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"geofence file {path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"geofence file {path}: invalid JSON: {exc}") from exc
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise ConfigError(f"geofence file {path} is not a GeoJSON FeatureCollection")
    fences = []
    for i, feat in enumerate(features):
        geom = shape(feat.get("geometry") or {})
        if geom.geom_type not in {"Polygon", "MultiPolygon"}:
            raise ConfigError(f"geofence file {path}: feature {i} is a {geom.geom_type}")
        name = (feat.get("properties") or {}).get("name", f"geofence-{i}")
        fences.append((str(name), geom))
    return fences


def _phases(fleet: Fleet) -> dict[str, Any]:
    parts = fleet.truth_phases
    if not parts:
        return {}
    ph = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    started = ph["t0"] <= max(fleet._now, 0)
    return {k: v[started] for k, v in ph.items()}


def _frame(fleet: Fleet, ph: dict[str, Any], sel: IntArray, lon: Any, lat: Any) -> pl.DataFrame:
    t0 = ph["t0"][sel] + fleet.start_time
    t1 = np.minimum(ph["t1"][sel], fleet.duration) + fleet.start_time
    idents = np.array([v.ident for v in fleet.vehicles])
    return pl.DataFrame(
        {
            "ident": idents[ph["vehicle"][sel]],
            "vehicle": ph["vehicle"][sel],
            "phase": ph["id"][sel],
            "start_time": t0,
            "end_time": t1,
            "duration": t1 - t0,
            "complete": ph["t1"][sel] <= fleet.duration,
            "start_latitude": lat[0],
            "start_longitude": lon[0],
            "end_latitude": lat[1],
            "end_longitude": lon[1],
        }
    )


def _stationary(fleet: Fleet, ph: dict[str, Any], kind: int) -> pl.DataFrame:
    sel = np.flatnonzero(ph["kind"] == kind)
    node = fleet.planner.stops[ph["stop"][sel]]
    lon, lat = fleet.network.lon[node], fleet.network.lat[node]
    frame = _frame(fleet, ph, sel, (lon, lon), (lat, lat))
    return frame.with_columns(pl.Series("delivery", ph["door"][sel]))


def _trips(fleet: Fleet, ph: dict[str, Any]) -> pl.DataFrame:
    sel = np.flatnonzero(ph["kind"] == TRIP)
    profiles = [fleet.planner.profiles[r] for r in ph["route"][sel].tolist()]
    ends = np.array([[p.lon[0], p.lon[-1], p.lat[0], p.lat[-1]] for p in profiles]).reshape(-1, 4)
    frame = _frame(fleet, ph, sel, (ends[:, 0], ends[:, 1]), (ends[:, 2], ends[:, 3]))
    return frame.with_columns(
        pl.Series("distance_m", [p.length for p in profiles], dtype=pl.Float64),
        pl.Series("max_speed_kmh", [p.peak_speed * 3.6 for p in profiles],
                  dtype=pl.Float64),
        pl.Series("start_odometer_m", ph["odometer"][sel]),
    )  # fmt: skip


def _records(fleet: Fleet) -> pl.DataFrame:
    from simulators.fleet import concat_columns  # fleet imports truth

    if not fleet.truth_records:
        return pl.DataFrame()
    batch = RecordBatch.concat([b for b, _ in fleet.truth_records])
    cols = concat_columns([c for _, c in fleet.truth_records])
    done = batch.t <= fleet._now
    idents = np.array([v.ident for v in fleet.vehicles])
    data: dict[str, Any] = {
        "ident": idents[batch.vehicle],
        "vehicle": batch.vehicle,
        "timestamp": batch.t + fleet.start_time,
        "phase": batch.phase,
        "true.latitude": batch.lat,
        "true.longitude": batch.lon,
        "true.speed": batch.speed * 3.6,
        "true.odometer": batch.odometer,
    }
    frame = pl.DataFrame({k: np.asarray(v)[done] for k, v in data.items()})
    emitted = [
        pl.Series(name, np.where(cols.present[name], cols.values[name], np.nan)[done]).fill_nan(
            None
        )
        for name in ("position.latitude", "position.longitude")
    ]
    extra = [
        pl.Series(name, cols.values[name][done])
        for name in ("position.valid", "engine.ignition.status", "movement.status",
                     "vehicle.mileage")
    ]  # fmt: skip
    return frame.with_columns(*emitted, *extra).sort("timestamp", "vehicle")


def _samples(fleet: Fleet, ph: dict[str, Any]) -> tuple[IntArray, IntArray, Any, Any]:
    """Every phase's true track up to the simulated horizon: 1 s samples while driving,
    start and end when standing."""
    node = fleet.planner.stops[ph["stop"]]
    horizon = min(fleet.duration, max(fleet._now, 0))
    times, vehicles, lons, lats = [], [], [], []
    for i, (kind, t0, t1, veh, route) in enumerate(
        zip(*(ph[k].tolist() for k in ("kind", "t0", "t1", "vehicle", "route")), strict=True)
    ):
        if kind == TRIP:
            p = fleet.planner.profiles[route]
            n = min(p.lon.size, horizon - t0 + 1)
            times.append(t0 + np.arange(n))
            lons.append(p.lon[:n])
            lats.append(p.lat[:n])
        else:
            times.append(np.array([t0, min(t1, horizon)]))
            lons.append(np.repeat(fleet.network.lon[node[i]], 2))
            lats.append(np.repeat(fleet.network.lat[node[i]], 2))
        vehicles.append(np.full(times[-1].size, veh))
    t, veh = np.concatenate(times), np.concatenate(vehicles)
    order = np.lexsort((t, veh))
    return t[order], veh[order], np.concatenate(lons)[order], np.concatenate(lats)[order]


def _visits(
    fleet: Fleet, ph: dict[str, Any], fences: list[Geofence], min_dwell: float
) -> pl.DataFrame:
    """Enter/exit times of each vehicle in each geofence, where the true track crosses the
    boundary (interpolated between its 1 s samples; a track starting or ending inside
    enters or leaves at that sample), debounced by ``min_dwell`` (:func:`dwell`)."""
    t, veh, lon, lat = _samples(fleet, ph)
    first = np.append(True, veh[1:] != veh[:-1])
    last = np.append(veh[1:] != veh[:-1], True)
    idents = np.array([v.ident for v in fleet.vehicles])
    frames = []
    for name, poly in fences:
        ins = shapely.contains_xy(poly, lon, lat)
        enter = np.flatnonzero(ins & (first | ~np.append(False, ins[:-1])))
        leave = np.flatnonzero(ins & (last | ~np.append(ins[1:], False)))
        edge = shapely.boundary(poly)
        # A 1 s sample is up to a second past the crossing: the truth would be short by
        # about a second per visit, which matters for visits of a few seconds.
        t_in, t_out = t[enter].astype(np.float64), t[leave].astype(np.float64)
        come, go = enter[~first[enter]], leave[~last[leave]]
        frac = _crossing(lon, lat, come - 1, come, edge, 1.0)
        t_in[~first[enter]] = t[come - 1] + frac * (t[come] - t[come - 1])
        t_out[~last[leave]] = t[go] + _crossing(lon, lat, go, go + 1, edge, 0.0) * (
            t[go + 1] - t[go]
        )
        frames.append(
            pl.DataFrame(
                {
                    "ident": idents[veh[enter]],
                    "geofence": np.full(enter.size, name),
                    "enter_time": t_in + fleet.start_time,
                    "exit_time": t_out + fleet.start_time,
                },
                schema=_VISIT_SCHEMA,
            )
        )
    return dwell(pl.concat(frames), min_dwell) if frames else pl.DataFrame(schema=_VISIT_SCHEMA)


def dwell(visits: pl.DataFrame, min_dwell: float) -> pl.DataFrame:
    """Visits with exits shorter than ``min_dwell`` s bridged, then those shorter dropped.

    A road that runs along a fence's edge leaves and re-enters it for a fraction of a
    second, and one that grazes a corner is inside for a second: no tracker reporting
    every few seconds can see such events, so the truth, like the calculators, counts a
    visit or an exit only when it lasts ``min_dwell`` s.

    Examples
    --------
    >>> v = pl.DataFrame({"ident": "a", "geofence": "g", "enter_time": [0.0, 62.0, 200.0],
    ...                   "exit_time": [60.0, 120.0, 203.0]})
    >>> dwell(v, 10.0).rows()
    [('a', 'g', 0.0, 120.0)]
    """
    if min_dwell <= 0 or visits.is_empty():
        return visits
    v = visits.sort("ident", "geofence", "enter_time")
    key = ["ident", "geofence"]
    same = pl.all_horizontal(pl.col(k) == pl.col(k).shift(1) for k in key)
    reach = pl.col("exit_time").cum_max().over(key).shift(1)
    glue = (same & (pl.col("enter_time") - reach < min_dwell)).fill_null(False)
    return (
        v.with_columns(_m=(~glue).cum_sum())
        .group_by("_m", maintain_order=True)
        .agg(pl.col(*key, "enter_time").first(), pl.col("exit_time").max())
        .drop("_m")
        .filter(pl.col("exit_time") - pl.col("enter_time") >= min_dwell)
    )


def _crossing(lon: Any, lat: Any, a: IntArray, b: IntArray, edge: Any, default: float) -> Any:
    """Fraction (0..1) along each segment ``a -> b`` where it meets ``edge``, nearest to the
    inside end (the ``b`` end when ``default`` is 1, the ``a`` end when it is 0)."""
    out = np.full(a.size, default)
    moved = np.flatnonzero((lon[a] != lon[b]) | (lat[a] != lat[b]))
    a, b = a[moved], b[moved]
    lines = shapely.linestrings(
        np.stack([np.column_stack((lon[a], lat[a])), np.column_stack((lon[b], lat[b]))], axis=1)
    )
    xy, idx = shapely.get_coordinates(shapely.intersection(lines, edge), return_index=True)
    dx, dy = lon[b][idx] - lon[a][idx], lat[b][idx] - lat[a][idx]
    frac = ((xy[:, 0] - lon[a][idx]) * dx + (xy[:, 1] - lat[a][idx]) * dy) / (dx * dx + dy * dy)
    best = np.full(a.size, np.nan)
    (np.fmax if default else np.fmin).at(best, idx, np.clip(frac, 0.0, 1.0))
    out[moved] = np.where(np.isnan(best), default, best)
    return out


_VISIT_SCHEMA: Final = {
    "ident": pl.String, "geofence": pl.String, "enter_time": pl.Float64, "exit_time": pl.Float64,
}  # fmt: skip


def journeys(trips: pl.DataFrame, parkings: pl.DataFrame) -> pl.DataFrame:
    """Ignition-on intervals: from the end of one parking to the start of the next.

    They hold the trips between two parkings joined across idling halts, plus the idling
    warm-up and cool-down: what flespi's and Traccar's ignition-based trips (and
    telebench's default ``trips``) find, whereas ``trips`` are the driving legs alone.
    Columns: ident, vehicle, start_time, end_time, duration, complete, distance_m,
    max_speed_kmh, legs.

    Examples
    --------
    >>> trips = pl.DataFrame({"ident": ["a"] * 3, "vehicle": [0] * 3,
    ...                       "start_time": [10.0, 40.0, 200.0],
    ...                       "end_time": [30.0, 90.0, 260.0], "complete": [True] * 3,
    ...                       "distance_m": [100.0, 300.0, 50.0],
    ...                       "max_speed_kmh": [30.0, 50.0, 20.0]})
    >>> parkings = pl.DataFrame({"ident": ["a", "a"], "start_time": [0.0, 95.0],
    ...                          "end_time": [5.0, 190.0]})
    >>> journeys(trips, parkings).select("start_time", "end_time", "distance_m", "legs").rows()
    [(5.0, 95.0, 400.0, 2), (190.0, 260.0, 50.0, 1)]
    """
    if trips.is_empty():
        return trips.select("ident", "vehicle", "start_time", "end_time", "duration", "complete")
    parked = parkings.select(
        "ident", pl.col("start_time").alias("_parked"), pl.col("end_time").alias("_left")
    ).sort("_parked")
    # A journey is numbered by the parking its vehicle left last before the trip.
    numbered = (
        trips.sort("start_time")
        .join_asof(
            parked,
            left_on="start_time",
            right_on="_parked",
            by="ident",
            strategy="backward",
            check_sortedness=False,  # both sides sorted by time above, so within each ident
        )
        .with_columns(pl.col("_parked").fill_null(-np.inf))
    )
    grouped = (
        numbered.group_by("ident", "vehicle", "_parked", maintain_order=True)
        .agg(
            pl.col("_left").first(),
            pl.col("start_time").min(),
            pl.col("end_time").max(),
            pl.col("complete").all(),
            pl.col("distance_m").sum(),
            pl.col("max_speed_kmh").max(),
            pl.len().alias("legs"),
        )
        .sort("end_time")
    )
    following = parked.select("ident", pl.col("_parked").alias("_next"))
    return (
        grouped.join_asof(
            following,
            left_on="end_time",
            right_on="_next",
            by="ident",
            strategy="forward",
            check_sortedness=False,
        )
        .with_columns(
            pl.coalesce("_left", "start_time").alias("start_time"),
            pl.coalesce("_next", "end_time").alias("end_time"),
        )
        .with_columns((pl.col("end_time") - pl.col("start_time")).alias("duration"))
        .drop("_parked", "_left", "_next")
        .sort("ident", "start_time")
    )


def ground_truth(
    fleet: Fleet, geofences: list[Geofence] | None = None, *, min_dwell: float = MIN_DWELL
) -> dict[str, pl.DataFrame]:
    """Trips, journeys, parkings, stops, records (and geofence visits with ``geofences``,
    debounced by ``min_dwell`` seconds: :func:`dwell`)."""
    ph = _phases(fleet)
    if not ph:
        raise ConfigError("no ground truth yet: advance the fleet first (keep_truth=True)")
    trips = _trips(fleet, ph)
    parkings = _stationary(fleet, ph, PARK)
    out = {
        "trips": trips,
        "journeys": journeys(trips, parkings),
        "parkings": parkings,
        "stops": _stationary(fleet, ph, IDLE),
        "records": _records(fleet),
    }
    if geofences is not None:
        out["geofence_visits"] = _visits(fleet, ph, geofences, min_dwell)
    return out


def write_ground_truth(fleet: Fleet, folder: Path, geofences: Path | None = None) -> list[Path]:
    """Write ``<name>.parquet`` per ground-truth table (and the ODbL attribution) to ``folder``."""
    fences = load_geofences(geofences) if geofences is not None else None
    return write_tables(ground_truth(fleet, fences), folder)


def write_tables(tables: dict[str, pl.DataFrame], folder: Path) -> list[Path]:
    """Write each table as ``<name>.parquet`` with the attribution, plus ATTRIBUTION.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = folder / f"{name}.parquet"
        frame.write_parquet(path, metadata={"attribution": ATTRIBUTION})
        paths.append(path)
    (folder / "ATTRIBUTION.txt").write_text(f"Road data: {ATTRIBUTION}\n", encoding="utf-8")
    return paths
