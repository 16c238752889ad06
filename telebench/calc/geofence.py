"""Geofence visits and enter/exit events on device time, with debounce and segment crossing.

1. Point tests: fixes and fences meet in a grid (a Polars join on cell keys, so 10M fixes
   against 1,000 fences never build a 10M x 1,000 matrix), then ``shapely.contains_xy`` on
   the candidate pairs, vectorised with prepared polygons.
2. Visits: consecutive inside fixes of one device in one fence form a run. A parked
   vehicle's fixes are tested at their mean position (:func:`settle`), so GPS noise by an
   edge does not flap; an outside blip shorter than ``min_fixes`` fixes is bridged and a
   run with fewer than ``min_fixes`` inside fixes dropped.
3. Crossings: a segment between two consecutive fixes, both outside a fence, that intersects
   it is a visit with zero fixes (``crossing`` true): sparse fixes do not skip a fence.
4. Enter/exit times are interpolated where the segment meets the fence boundary
   (:func:`time_along`: at the speeds its end fixes report, changing speed next to the
   slower one; linear where they are unknown); then an exit shorter than ``min_dwell`` s
   is bridged and a visit shorter than ``min_dwell`` s dropped (a road grazing a fence's
   edge makes neither an exit nor a visit).

Examples
--------
>>> import polars as pl
>>> from telebench.calc.fences import circle
>>> fences = Geofences.from_shapes({"depot": circle(0.0, 0.0, 200.0)})
>>> msgs = pl.DataFrame({"ident": "a", "timestamp": [0.0, 10, 20, 30],
...                      "position.latitude": 0.0,
...                      "position.longitude": [-0.01, -0.001, 0.001, 0.01]})
>>> v = geofence_visits(msgs, fences).collect()
>>> v.select("geofence", "fixes", "crossing", "ended_by").rows()
[('depot', 2, False, 'exit')]
>>> [round(t, 1) for t in v.row(0)[2:4]]
[9.1, 20.9]
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import shapely

from telebench.calc._curve import Fixes, segment_times, time_along
from telebench.calc._frame import (
    COURSE,
    IDENT,
    LAT,
    LON,
    ROW,
    SPEED,
    TS,
    VALID,
    collect,
    new_device,
    prepare,
)
from telebench.calc._grid import Grid, segment_fracs
from telebench.calc.fences import Geofences
from telebench.calc.selectors import Selector

_M_PER_DEG: Final = 111_195.0
_STAY_STEP_M: Final = 30.0  # 5 sigma of the step between two noisy fixes of a parked vehicle

__all__ = [
    "Geofences", "InGeofence", "geofence_events", "geofence_visits", "settle", "time_along",
]  # fmt: skip


def _load(messages: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Fixes only: a message without a valid position neither enters nor leaves a fence
    (Teltonika flags a lost fix invalid and repeats the last position; it is not one)."""
    lat, lon, valid = pl.col(LAT), pl.col(LON), pl.col(VALID)
    fix = lat.is_not_null() & lon.is_not_null() & valid.fill_null(True).cast(pl.Boolean)
    return (
        prepare(messages, [LAT, LON], optional=[SPEED, VALID, COURSE], where=fix)
        .select(
            IDENT,
            ROW,
            TS,
            lon.cast(pl.Float64),
            lat.cast(pl.Float64),
            pl.col(SPEED).cast(pl.Float64).alias("_spd"),
            pl.col(COURSE).cast(pl.Float64).alias("_dir"),
            new_device().cast(pl.Int64).cum_sum().alias("_id"),
        )
        .pipe(collect)
    )


def settle(
    rows: pl.DataFrame, still_speed: float | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Longitudes and latitudes, each run of still fixes (speed <= ``still_speed`` km/h) of a
    device moved to the run's mean position.

    A vehicle cannot cross a fence without moving, but the GPS noise of a parked vehicle
    near an edge scatters its fixes across it (flapping); the mean of a stay's fixes is
    steadier than any one of them.

    >>> rows = pl.DataFrame({"_id": [1, 1, 1, 1, 1, 2], "_spd": [0, 0, 40, 0, 0, 0],
    ...     "position.longitude": [0.0, 2e-4, 0.01, 0.02, 0.03, 0.04], "position.latitude": 0.0})
    >>> settle(rows, 2.0)[0].tolist()
    [0.0001, 0.0001, 0.01, 0.02, 0.03, 0.04]
    """
    lon, lat = rows.get_column(LON).to_numpy(), rows.get_column(LAT).to_numpy()
    if still_speed is None or rows.height == 0:
        return lon, lat
    spd = rows.get_column("_spd").fill_null(np.inf).fill_nan(np.inf).to_numpy()
    dev = rows.get_column("_id").to_numpy()
    still = (spd <= still_speed) & np.isfinite(lon) & np.isfinite(lat)
    idx = np.flatnonzero(still)
    if idx.size == 0:
        return lon, lat
    prev = np.maximum(idx - 1, 0)
    # A step longer than GPS noise can make means the vehicle moved between two still fixes
    # (a stop at a light, then the next one): a new stay.
    dy = (lat[idx] - lat[prev]) * _M_PER_DEG
    dx = (lon[idx] - lon[prev]) * _M_PER_DEG * np.cos(np.radians(lat[idx]))
    moved = dx * dx + dy * dy > _STAY_STEP_M * _STAY_STEP_M
    starts = np.flatnonzero((idx == 0) | ~still[prev] | (dev[prev] != dev[idx]) | moved)
    counts = np.diff(np.append(starts, idx.size))
    out = []
    for v in (lon, lat):
        mean = np.add.reduceat(v[idx], starts) / counts
        w = v.copy()
        w[idx] = np.repeat(mean, counts)
        out.append(w)
    return out[0], out[1]


def geofence_visits(
    messages: pl.DataFrame | pl.LazyFrame,
    fences: Geofences,
    *,
    min_dwell: float = 10.0,
    min_fixes: int = 1,
    crossings: bool = True,
    still_speed: float | None = 2.0,
) -> pl.LazyFrame:
    """Visits ``ident, geofence, begin, end, duration, active, ended_by ('exit' or 'end of
    data'), fixes, crossing`` (module docstring); begin/end interpolated on device time.

    ``still_speed`` (km/h): consecutive fixes at or below it are tested at their mean
    position (:func:`settle`: no flapping while parked by an edge); None tests every fix
    where it is; it also tells which fixes stood when timing a crossing (:func:`time_along`).
    ``min_dwell`` (s): an exit or a visit shorter than this does not count (a road grazing a
    fence's edge); 0 keeps every one."""
    rows = _load(messages)
    lon, lat = settle(rows, still_speed)
    grid = Grid(fences)
    cells = grid.cell_pairs(lon, lat)
    p, f = grid.inside(lon, lat, cells)
    inside = pl.DataFrame({"p": p, "f": f})
    visits = _runs(rows, inside, min_fixes)
    fx = Fixes.of(rows, lon, lat)
    out = [_interpolate(rows, fx, visits, fences, still_speed)]
    if crossings and len(fences.names):
        r, f, lo, hi = grid.crossings(lon, lat, rows.get_column("_id").to_numpy(), inside, cells)
        cr = pl.DataFrame({"_r": r, "f": f, "_lo": lo, "_hi": hi})
        out.append(_crossing_visits(rows, fx, cr, still_speed))
    names = pl.Series(fences.names, dtype=pl.String)
    return (
        _debounce(pl.concat(out), min_dwell)
        .pipe(lambda d: d.with_columns(geofence=names.gather(d.get_column("f"))))
        .select(
            IDENT,
            "geofence",
            "begin",
            "end",
            duration=pl.col("end") - pl.col("begin"),
            active="active",
            ended_by="ended_by",
            fixes="fixes",
            crossing="crossing",
        )
        .sort(IDENT, "begin", "geofence")
        .lazy()
    )


def _runs(rows: pl.DataFrame, inside: pl.DataFrame, min_fixes: int) -> pl.DataFrame:
    """Inside runs per (device, fence); an outside blip of fewer than ``min_fixes`` fixes is
    bridged, then runs with fewer inside fixes are dropped."""
    ids = rows.get_column("_id")
    d = inside.sort("f", "p")
    d = d.with_columns(_i=ids.gather(d["p"]))
    same = (pl.col("f") == pl.col("f").shift(1)) & (pl.col("_i") == pl.col("_i").shift(1))
    new = ~(same & (pl.col("p") == pl.col("p").shift(1) + 1)).fill_null(False)
    runs = (
        d.with_columns(_g=new.cum_sum())
        .group_by("_g", maintain_order=True)
        .agg(
            pl.col("f", "_i").first(),
            pl.col("p").first().alias("r0"),
            pl.col("p").last().alias("r1"),
        )
    )
    if min_fixes > 1:
        prev_same = (pl.col("f") == pl.col("f").shift(1)) & (pl.col("_i") == pl.col("_i").shift(1))
        blip = pl.col("r0") - pl.col("r1").shift(1) - 1 < min_fixes
        glue = (prev_same & blip).fill_null(False)
        runs = (
            runs.with_columns(_m=(~glue).cum_sum())
            .group_by("_m", maintain_order=True)
            .agg(pl.col("f", "_i", "r0").first(), pl.col("r1").last())
        )
    runs = runs.with_columns(fixes=pl.col("r1") - pl.col("r0") + 1)
    return runs.filter(pl.col("fixes") >= min_fixes)


def _debounce(visits: pl.DataFrame, min_dwell: float) -> pl.DataFrame:
    """Bridge exits shorter than ``min_dwell`` s, then drop visits shorter than it."""
    if min_dwell <= 0 or visits.height == 0:
        return visits
    v = visits.sort(IDENT, "f", "begin")
    same = (pl.col(IDENT) == pl.col(IDENT).shift(1)) & (pl.col("f") == pl.col("f").shift(1))
    reach = pl.col("end").cum_max().over(IDENT, "f").shift(1)
    glue = (same & (pl.col("begin") - reach < min_dwell)).fill_null(False)
    return (
        v.with_columns(_m=(~glue).cum_sum())
        .group_by("_m", maintain_order=True)
        .agg(
            pl.col(IDENT, "f", "begin").first(),
            pl.col("end").max(),
            pl.col("active", "ended_by").last(),
            pl.col("fixes").sum(),
            pl.col("crossing").all(),
        )
        .drop("_m")
        .filter(pl.col("end") - pl.col("begin") >= min_dwell)
    )


def _interpolate(
    rows: pl.DataFrame, fx: Fixes, v: pl.DataFrame, fences: Geofences, still_speed: float | None
) -> pl.DataFrame:
    """Begin/end of visits where the entering/leaving segment crosses the fence boundary."""
    ts, lon, lat, ids = fx.ts, fx.lon, fx.lat, rows.get_column("_id").to_numpy()
    r0, r1, f = (v.get_column(c).to_numpy().astype(np.int64) for c in ("r0", "r1", "f"))
    n = len(ts)
    has_prev = (r0 > 0) & (ids[np.maximum(r0 - 1, 0)] == ids[r0])
    has_next = (r1 + 1 < n) & (ids[np.minimum(r1 + 1, n - 1)] == ids[r1])
    begin, end = ts[r0].copy(), ts[r1].copy()
    edges = shapely.boundary(fences.geoms)
    a = np.flatnonzero(has_prev)
    _, hi = segment_fracs(lon[r0[a] - 1], lat[r0[a] - 1], lon[r0[a]], lat[r0[a]], edges[f[a]])
    geoms = fences.geoms
    enter = (geoms[f[a]], np.ones(a.size, dtype=bool))
    begin[a] = segment_times(fx, r0[a], np.nan_to_num(hi, nan=1.0), still_speed, enter)
    z = np.flatnonzero(has_next)
    lo, _ = segment_fracs(lon[r1[z]], lat[r1[z]], lon[r1[z] + 1], lat[r1[z] + 1], edges[f[z]])
    leave = (geoms[f[z]], np.zeros(z.size, dtype=bool))
    end[z] = segment_times(fx, r1[z] + 1, np.nan_to_num(lo, nan=0.0), still_speed, leave)
    return pl.DataFrame(
        {
            IDENT: rows.get_column(IDENT).gather(r0),
            "f": f,
            "begin": begin,
            "end": end,
            "active": ~has_next,
            "ended_by": np.where(has_next, "exit", "end of data"),
            "fixes": (r1 - r0 + 1).astype(np.int64),
            "crossing": np.zeros(len(f), dtype=bool),
        }
    )


def _crossing_visits(
    rows: pl.DataFrame, fx: Fixes, cr: pl.DataFrame, still_speed: float | None
) -> pl.DataFrame:
    r = cr.get_column("_r").to_numpy()
    return pl.DataFrame(
        {
            IDENT: rows.get_column(IDENT).gather(r),
            "f": cr.get_column("f").to_numpy(),
            "begin": segment_times(fx, r, cr.get_column("_lo").to_numpy(), still_speed),
            "end": segment_times(fx, r, cr.get_column("_hi").to_numpy(), still_speed),
            "active": np.zeros(len(r), dtype=bool),
            "ended_by": np.full(len(r), "exit"),
            "fixes": np.zeros(len(r), dtype=np.int64),
            "crossing": np.ones(len(r), dtype=bool),
        }
    )


def geofence_events(
    messages: pl.DataFrame | pl.LazyFrame, fences: Geofences, **knobs: Any
) -> pl.LazyFrame:
    """Enter/exit events ``ident, geofence, timestamp, event, crossing`` from
    :func:`geofence_visits` (same knobs); an open visit has no exit yet."""
    v = geofence_visits(messages, fences, **knobs)
    enter = v.select(
        IDENT, "geofence", timestamp="begin", event=pl.lit("enter"), crossing="crossing"
    )
    leave = v.filter(~pl.col("active")).select(
        IDENT, "geofence", timestamp="end", event=pl.lit("exit"), crossing="crossing"
    )
    order = pl.col("event").replace_strict({"exit": 0, "enter": 1}, return_dtype=pl.Int8)
    return pl.concat([enter, leave]).sort(IDENT, "timestamp", order)


class InGeofence(Selector):
    """Selector: ON while the fix is inside any of ``fences`` (``invert`` for outside)."""

    on_reason = "entered geofence"
    off_reason = "left geofence"

    def __init__(self, fences: Geofences) -> None:
        self.fences = fences

    def fields(self) -> tuple[str, ...]:
        return (LAT, LON)

    def annotate(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        df = collect(lf)
        lon = df.get_column(LON).cast(pl.Float64).fill_null(np.nan).to_numpy()
        lat = df.get_column(LAT).cast(pl.Float64).fill_null(np.nan).to_numpy()
        p, _ = Grid(self.fences).inside(lon, lat)
        flag = np.zeros(df.height, dtype=bool)
        flag[p] = True
        return df.with_columns(_inside=pl.Series(flag)).lazy()

    def state(self) -> pl.Expr:
        return pl.col("_inside")
