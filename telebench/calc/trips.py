"""Trips, parkings and spatial stops: the calculators people store tracker data for.

``trips``/``parkings`` are :func:`~telebench.calc.intervals.intervals` with sensible
defaults (ignition where the tracker reports it, else speed). ``stops`` finds stays from
positions alone (no ignition needed): a time window of at least ``min_duration`` seconds
whose fixes, plus the fix just before it, fit in a box of ``max_diameter`` metres, computed
with rolling minima/maxima over device time; overlapping windows chain into one stop.

Examples
--------
>>> import polars as pl
>>> msgs = pl.DataFrame({"ident": "a", "timestamp": [0.0, 60, 120, 180, 240, 300],
...     "engine.ignition.status": [False, True, True, True, False, False],
...     "position.latitude": [0.0, 0.0, 0.001, 0.002, 0.002, 0.002],
...     "position.longitude": 0.0, "position.speed": [0.0, 10, 10, 10, 0, 0]})
>>> trips(msgs).collect().select("begin", "end", "ended_by").rows()
[(60.0, 240.0, 'ignition off / stopped')]
>>> parkings(msgs, min_duration=0).collect().select("begin", "end", "active").rows()
[(0.0, 60.0, False), (240.0, 300.0, True)]
>>> stops(msgs, max_diameter=50, min_duration=100).collect().select("begin", "end").rows()
[(180.0, 300.0)]
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from telebench.calc._frame import IDENT, LAT, LON, NEW, ROW, TS, collect, prepare, step_km
from telebench.calc.counters import Counters
from telebench.calc.intervals import END_OF_DATA, intervals
from telebench.calc.selectors import IgnitionOrSpeed, Selector
from telebench.errors import ConfigError

__all__ = ["parkings", "stops", "trips"]

_M_PER_DEG = 111_195.0
_SPLIT_ROWS: Final = 1_000_000  # below this, one thread: splitting costs more than it saves


def trips(
    messages: pl.DataFrame | pl.LazyFrame,
    selector: Selector | None = None,
    *,
    max_messages_time_diff: float | None = 300.0,
    min_duration: float = 0.0,
    min_distance: float = 0.0,
    min_off_duration: float = 0.0,
    counters: Counters | None = None,
    **knobs: Any,
) -> pl.LazyFrame:
    """Driving intervals (flespi's trip recipe; knobs as :func:`intervals`).

    The default selector is :class:`~telebench.calc.selectors.IgnitionOrSpeed`; a trip ends
    at the ignition-off message (``merge_message_after``), at a silence longer than
    ``max_messages_time_diff`` s, or is ``active`` at the end of the data. Distance is the
    odometer difference where both ends have ``vehicle.mileage``, else the haversine sum.
    No minimum duration by default: moving a van two doors down (ignition on for 30 s) is a
    trip, and a one-message blip of the speed fallback lasts until the next message anyway;
    filter with ``min_duration``/``min_distance`` when wanted.
    """
    knobs.setdefault("merge_message_after", True)
    return intervals(
        messages,
        selector or IgnitionOrSpeed(),
        max_messages_time_diff=max_messages_time_diff,
        min_duration=min_duration,
        min_distance=min_distance,
        min_off_duration=min_off_duration,
        counters=counters or Counters(distance="auto"),
        **knobs,
    )


def parkings(
    messages: pl.DataFrame | pl.LazyFrame,
    selector: Selector | None = None,
    *,
    min_duration: float = 60.0,
    counters: Counters | None = None,
    **knobs: Any,
) -> pl.LazyFrame:
    """The complement of :func:`trips` (same selector, inverted); silences do not split a
    parking (trackers report rarely while parked), so ``max_messages_time_diff`` is None."""
    knobs.setdefault("merge_message_after", True)
    return intervals(
        messages,
        selector or IgnitionOrSpeed(),
        invert=True,
        min_duration=min_duration,
        counters=counters or Counters(distance=None, speed=False),
        **knobs,
    )


def stops(
    messages: pl.DataFrame | pl.LazyFrame,
    *,
    max_diameter: float = 100.0,
    min_duration: float = 300.0,
    validate: pl.Expr | None = None,
) -> pl.LazyFrame:
    """Stays found from positions alone (module docstring); columns ``ident, begin, end,
    duration, active, ended_by ('moved' or 'end of data'), messages, latitude, longitude``
    (centroid) and ``diameter`` (m, of the stop's bounding box)."""
    if max_diameter <= 0 or min_duration <= 0:
        raise ConfigError(
            f"stops needs max_diameter > 0 and min_duration > 0, got {max_diameter}, {min_duration}"
        )
    has_fix = pl.col(LAT).is_not_null() & pl.col(LON).is_not_null()
    where = has_fix if validate is None else has_fix & validate
    rows = (
        prepare(messages, [LAT, LON], where=where)
        .select(IDENT, ROW, NEW, TS, LAT, LON)
        .pipe(collect)
    )
    covered, step = _covered_in_parts(rows, max_diameter, min_duration)
    return _stays(rows, covered, step, max_diameter).lazy()


def _covered_in_parts(
    rows: pl.DataFrame, diameter: float, duration: float, parts: int | None = None
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """:func:`_covered` on blocks of whole devices, one thread per core (``parts``): windows
    never span two devices, and numpy releases the GIL in the array passes that take the time.
    """
    if parts is None:
        parts = min(os.cpu_count() or 1, rows.height // _SPLIT_ROWS)
    if parts < 2:
        return _covered(rows, diameter, duration)
    firsts = np.flatnonzero(rows.get_column(NEW).to_numpy())
    near = np.searchsorted(firsts, np.arange(1, parts) * rows.height // parts)
    bounds = [0, *np.unique(firsts[np.minimum(near, firsts.size - 1)]).tolist(), rows.height]
    blocks = [rows.slice(a, b - a) for a, b in itertools.pairwise(bounds) if b > a]
    with ThreadPoolExecutor(len(blocks), thread_name_prefix="stops") as pool:
        done = list(pool.map(lambda block: _covered(block, diameter, duration), blocks))
    return np.concatenate([c for c, _ in done]), np.concatenate([s for _, s in done])


def _diag(lat0: pl.Expr, lat1: pl.Expr, lon0: pl.Expr, lon1: pl.Expr) -> pl.Expr:
    """Bounding-box diagonal in metres (equirectangular, fine for boxes of a few km)."""
    kx = ((lat0 + lat1) / 2).radians().cos()
    return (((lat1 - lat0) * _M_PER_DEG).pow(2) + ((lon1 - lon0) * _M_PER_DEG * kx).pow(2)).sqrt()


def range_extrema(
    values: npt.NDArray[np.float64], lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Min and max of ``values[..., lo[i]:hi[i] + 1]`` for every i (``values`` 1-D or 2-D,
    ranges along the last axis), by doubling: a sparse table built one level at a time,
    ``log2(longest range)`` vectorised passes with two buffers alive.

    Few short ranges (all of them together shorter than a quarter of ``values``) are
    gathered and reduced directly instead.

    >>> v = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0])
    >>> range_extrema(v, np.array([0, 2, 4, 6]), np.array([2, 5, 6, 6]))
    (array([1., 1., 2., 2.]), array([4., 9., 9., 2.]))
    >>> range_extrema(np.tile(v, 4), np.array([1, 4]), np.array([3, 5]))
    (array([1., 5.]), array([4., 9.]))
    """
    size = np.maximum(hi - lo + 1, 1)
    if 0 < size.sum() <= values.shape[-1] // 4:  # few short ranges: gather them, reduce
        start = np.cumsum(size) - size
        idx = np.arange(size.sum()) - np.repeat(start - lo, size)
        part = np.take(values, idx, axis=-1)
        return (
            np.minimum.reduceat(part, start, axis=-1),
            np.maximum.reduceat(part, start, axis=-1),
        )
    level = np.floor(np.log2(size)).astype(np.int64)
    mn, mx = values.copy(), values.copy()
    tmp = np.empty_like(values)
    out_mn = np.empty((*values.shape[:-1], len(lo)))
    out_mx = np.empty_like(out_mn)
    for k in range(int(level.max(initial=0)) + 1):
        if k:
            h = 1 << (k - 1)  # after this pass mn[x] covers values[x : x + 2**k]
            for buf, op in ((mn, np.minimum), (mx, np.maximum)):
                op(buf[..., :-h], buf[..., h:], out=tmp[..., :-h])
                buf[..., :-h] = tmp[..., :-h]
        if k < level.min(initial=0):
            continue
        if k == level.max(initial=0) == level.min(initial=0):  # one level: no scatter
            a, b = lo, hi - (1 << k) + 1
            return (
                np.minimum(np.take(mn, a, axis=-1), np.take(mn, b, axis=-1)),
                np.maximum(np.take(mx, a, axis=-1), np.take(mx, b, axis=-1)),
            )
        sel = np.flatnonzero(level == k)
        a, b = lo[sel], hi[sel] - (1 << k) + 1
        out_mn[..., sel] = np.minimum(np.take(mn, a, axis=-1), np.take(mn, b, axis=-1))
        out_mx[..., sel] = np.maximum(np.take(mx, a, axis=-1), np.take(mx, b, axis=-1))
    return out_mn, out_mx


def _covered(
    rows: pl.DataFrame, diameter: float, duration: float
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Rows inside some qualifying window (a window of >= duration s fitting the box), and
    each row's step (km) from the row before."""
    # One global time key, devices far apart on it (device k's times shifted by k * span,
    # more than its whole range plus the duration), so one binary search finds every window
    # start and a window start is never in an earlier device's rows.
    ts = rows.get_column(TS).to_numpy()
    new = rows.get_column(NEW).to_numpy()
    span = (float(ts.max() - ts.min()) if ts.size else 0.0) + duration + 1.0
    key = np.cumsum(new, dtype=np.int64).astype(np.float64)
    key *= span
    key += ts  # to a few us while devices x span < 1e10 s (1,000 devices x 300 years)
    lat, lon = (rows.get_column(c).cast(pl.Float64).to_numpy() for c in (LAT, LON))
    step = step_km(lat, lon)  # fixes only (no NaN) but the first row's
    step[:1] = 0.0
    reach = diameter / 1000.0  # km, like the steps
    path = np.cumsum(step)
    # Cheap filters first: a window holding one step longer than the diameter cannot fit
    # (prefix count of long steps; so a row that ends such a step ends no window), nor one
    # shorter than the duration.
    n_long = np.cumsum(step > reach)
    q = np.flatnonzero(step <= reach)
    j = np.searchsorted(key, key[q] - duration, side="left")
    # Include the fix just before the window (a stay reported once an hour still spans it),
    # unless the window starts at its device's first row.
    jp = j - 1
    jp += new[j]
    fit = (n_long[q] == n_long[jp]) & (ts[q] - ts[jp] >= duration)
    cand, jp = q[fit], jp[fit]
    # Exact shortcut: a track no longer than the diameter fits in it (triangle inequality);
    # only the other windows need their bounding box (sparse parked fixes rarely do).
    unsure = np.flatnonzero(path[cand] - path[jp] > reach)
    ok = np.ones(cand.size, dtype=bool)
    if unsure.size:
        lo, hi = jp[unsure], cand[unsure]
        la0, la1 = range_extrema(lat, lo, hi)
        lo0, lo1 = range_extrema(lon, lo, hi)
        dlat = (la1 - la0) * _M_PER_DEG
        dlon = (lo1 - lo0) * _M_PER_DEG * np.cos(np.radians(lat[hi]))
        ok[unsure] = dlat * dlat + dlon * dlon <= diameter * diameter
    first = np.full(rows.height + 1, rows.height + 1, dtype=np.int64)
    if ok.all():  # the usual case: skip two masked copies of ~N indices
        first[cand] = jp
    else:
        first[cand[ok]] = jp[ok]
    # Row k is covered if a qualifying window ending at i >= k starts at or before k.
    first = np.minimum.accumulate(first[::-1])[::-1][:-1]
    return first <= np.arange(rows.height), step


def _stays(
    rows: pl.DataFrame,
    covered: npt.NDArray[np.bool_],
    step: npt.NDArray[np.float64],
    diameter: float,
) -> pl.DataFrame:
    """Runs of covered rows; a jump longer than ``diameter`` between them starts a new stay.

    Stays are contiguous row blocks, so their aggregates are ``np.*.reduceat`` segments."""
    new = rows.get_column(NEW).to_numpy()
    last = np.append(new[1:], True)
    cov = np.flatnonzero(covered)
    # A covered row continues the stay of the row before it if that one is covered, of the
    # same device and no farther than the diameter (equirectangular, on covered rows only).
    prev = np.maximum(cov - 1, 0)
    near = step[cov] * 1000.0 <= diameter  # step: km from the row before (see _covered)
    seg = np.flatnonzero(~(covered[prev] & ~new[cov] & near & (cov > 0)))
    first_row = cov[seg]
    last_row = cov[np.append(seg[1:], cov.size) - 1] if seg.size else seg
    count = np.diff(np.append(seg, cov.size)) if seg.size else seg

    lat, lon = (rows.get_column(c).cast(pl.Float64).to_numpy()[cov] for c in (LAT, LON))

    def red(v: npt.NDArray[np.float64], op: Any) -> npt.NDArray[np.float64]:
        return np.asarray(op.reduceat(v, seg), dtype=np.float64) if seg.size else np.empty(0)

    ts = rows.get_column(TS).to_numpy()
    lat0, lat1 = red(lat, np.minimum), red(lat, np.maximum)
    lon0, lon1 = red(lon, np.minimum), red(lon, np.maximum)
    active = last[last_row]
    out = pl.DataFrame({
        IDENT: rows.get_column(IDENT).gather(first_row), "begin": ts[first_row],
        "end": ts[last_row], "duration": ts[last_row] - ts[first_row], "active": active,
        "ended_by": np.where(active, END_OF_DATA, "moved"), "messages": count.astype(np.int64),
        "latitude": red(lat, np.add) / np.maximum(count, 1),
        "longitude": red(lon, np.add) / np.maximum(count, 1),
        "_la0": lat0, "_la1": lat1, "_lo0": lon0, "_lo1": lon1,
    })  # fmt: skip
    box = _diag(pl.col("_la0"), pl.col("_la1"), pl.col("_lo0"), pl.col("_lo1"))
    return out.with_columns(diameter=box).drop("_la0", "_la1", "_lo0", "_lo1")
