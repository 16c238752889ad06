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
>>> trips(msgs, min_duration=0).collect().select("begin", "end", "ended_by").rows()
[(60.0, 240.0, 'ignition off / stopped')]
>>> parkings(msgs, min_duration=0).collect().select("begin", "end", "active").rows()
[(0.0, 60.0, False), (240.0, 300.0, True)]
>>> stops(msgs, max_diameter=50, min_duration=100).collect().select("begin", "end").rows()
[(180.0, 300.0)]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from telebench.calc._frame import IDENT, LAT, LON, NEW, ROW, TS, haversine_m, new_device, prepare
from telebench.calc.counters import Counters
from telebench.calc.intervals import END_OF_DATA, intervals
from telebench.calc.selectors import IgnitionOrSpeed, Selector
from telebench.errors import ConfigError

__all__ = ["parkings", "stops", "trips"]

_M_PER_DEG = 111_195.0


def trips(
    messages: pl.DataFrame | pl.LazyFrame,
    selector: Selector | None = None,
    *,
    max_messages_time_diff: float | None = 300.0,
    min_duration: float = 60.0,
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
        prepare(messages, [LAT, LON], where=where).select(IDENT, ROW, NEW, TS, LAT, LON).collect()
    )
    covered = _covered(rows, max_diameter, min_duration)
    return _stays(rows.with_columns(_cov=covered), max_diameter).lazy()


def _diag(lat0: pl.Expr, lat1: pl.Expr, lon0: pl.Expr, lon1: pl.Expr) -> pl.Expr:
    """Bounding-box diagonal in metres (equirectangular, fine for boxes of a few km)."""
    kx = ((lat0 + lat1) / 2).radians().cos()
    return (((lat1 - lat0) * _M_PER_DEG).pow(2) + ((lon1 - lon0) * _M_PER_DEG * kx).pow(2)).sqrt()


def range_extrema(
    values: npt.NDArray[np.float64], lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Min and max of ``values[lo[i]:hi[i] + 1]`` for every i, by doubling (sparse table one
    level at a time: ``log2(longest range)`` vectorised passes, two arrays alive).

    >>> v = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0])
    >>> range_extrema(v, np.array([0, 2, 4, 6]), np.array([2, 5, 6, 6]))
    (array([1., 1., 2., 2.]), array([4., 9., 9., 2.]))
    """
    length = hi - lo + 1
    level = np.floor(np.log2(np.maximum(length, 1))).astype(np.int64)
    mn, mx = values.copy(), values.copy()
    out_mn, out_mx = np.empty_like(values), np.empty_like(values)
    for k in range(int(level.max(initial=0)) + 1):
        if k:
            h = 1 << (k - 1)  # mn[x] now covers values[x : x + 2**k]
            np.minimum(mn[:-h], mn[h:], out=mn[:-h])
            np.maximum(mx[:-h], mx[h:], out=mx[:-h])
        sel = np.flatnonzero(level == k)
        a, b = lo[sel], hi[sel] - (1 << k) + 1
        out_mn[sel] = np.minimum(mn[a], mn[b])
        out_mx[sel] = np.maximum(mx[a], mx[b])
    return out_mn, out_mx


def _covered(rows: pl.DataFrame, diameter: float, duration: float) -> pl.Series:
    """Rows inside some qualifying window (a window of >= duration s fitting the box)."""
    # One global time key, devices far apart on it, so one binary search finds every
    # window start and windows never span two devices.
    t = pl.col(TS) - pl.col(TS).min()
    span = int(rows.select(t.max()).item() or 0) + int(duration) + 1
    dev = new_device().cast(pl.Int64).cum_sum() - 1
    ti = rows.select(dev * (span * 1000) + (t * 1000).floor().cast(pl.Int64)).to_series()
    j = ti.search_sorted(ti - int(duration * 1000), side="left").cast(pl.Int64)
    start = rows.select(pl.when(new_device()).then(pl.col(ROW)).forward_fill()).to_series()
    # Include the fix just before the window: a stay reported once an hour still spans it.
    jp = np.maximum(j.to_numpy() - 1, start.to_numpy())
    i = np.arange(rows.height, dtype=np.int64)
    la0, la1 = range_extrema(rows.get_column(LAT).cast(pl.Float64).to_numpy(), jp, i)
    lo0, lo1 = range_extrema(rows.get_column(LON).cast(pl.Float64).to_numpy(), jp, i)
    ts = rows.get_column(TS).to_numpy()
    w = pl.DataFrame({"_la0": la0, "_la1": la1, "_lo0": lo0, "_lo1": lo1, "_jp": jp,
                      "_span": ts - ts[jp]})  # fmt: skip
    box = _diag(pl.col("_la0"), pl.col("_la1"), pl.col("_lo0"), pl.col("_lo1"))
    qual = (box <= diameter) & (pl.col("_span") >= duration)
    big = rows.height + 1
    # Row k is covered if a qualifying window ending at i >= k starts at or before k.
    first = pl.when(qual).then(pl.col("_jp")).otherwise(big).reverse().cum_min().reverse()
    return w.select(first <= pl.Series(i)).to_series()


def _stays(rows: pl.DataFrame, diameter: float) -> pl.DataFrame:
    """Runs of covered rows; a jump longer than ``diameter`` between them starts a new stay."""
    same = ~new_device()
    step = haversine_m(pl.col(LAT).shift(1), pl.col(LON).shift(1), pl.col(LAT), pl.col(LON))
    begins = pl.col("_cov") & ~(same & pl.col("_cov").shift(1) & (step <= diameter)).fill_null(
        False
    )
    last = new_device().shift(-1).fill_null(True)
    last_row = pl.when(last).then(pl.col(ROW)).backward_fill()
    g = (
        rows.with_columns(_stay=begins.cum_sum(), _last=last_row)
        .filter(pl.col("_cov"))
        .group_by("_stay", maintain_order=True)
        .agg(
            pl.col(IDENT).first(),
            pl.col(TS).first().alias("begin"),
            pl.col(TS).last().alias("end"),
            (pl.col(ROW).last() == pl.col("_last").first()).alias("active"),
            pl.len().cast(pl.Int64).alias("messages"),
            pl.col(LAT).mean().alias("latitude"),
            pl.col(LON).mean().alias("longitude"),
            _diag(pl.col(LAT).min(), pl.col(LAT).max(), pl.col(LON).min(), pl.col(LON).max()).alias(
                "diameter"
            ),
        )
    )
    return g.select(
        IDENT,
        "begin",
        "end",
        duration=pl.col("end") - pl.col("begin"),
        active="active",
        ended_by=pl.when("active").then(pl.lit(END_OF_DATA)).otherwise(pl.lit("moved")),
        messages="messages",
        latitude="latitude",
        longitude="longitude",
        diameter="diameter",
    )
