"""Per-interval counters, computed from row indices without touching rows one by one.

An interval is a contiguous block of a device's messages ``[b_row, e_row]`` in the prepared
frame (sorted, deduplicated, ``_row`` = position). Sums come from differences of cumulative
columns, first/last values from ``gather`` at the two boundary rows, the route from one
``int_ranges``/``explode``.

Examples
--------
>>> Counters().columns(first=False)[:4]
['messages', 'distance', 'avg_speed', 'max_speed']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

from telebench.calc._frame import (
    LAT,
    LON,
    MILEAGE,
    NEW,
    SPEED,
    TS,
    collect,
    fill_within,
    step_km,
)
from telebench.errors import ConfigError

__all__ = ["Counters", "add_counters", "row_columns"]

_DISTANCES: Final = ("haversine", "odometer", "auto")


@dataclass(frozen=True)
class Counters:
    """What to compute per interval.

    ``distance`` (km): ``"haversine"`` sums great-circle steps (a step implying more than
    ``max_jump_speed`` km/h is a GPS jump and counts 0), ``"odometer"`` is the difference of
    ``vehicle.mileage``, ``"auto"`` uses the odometer when both ends have one, else the
    haversine sum; None skips it. ``speed``: mean and max of ``position.speed`` (km/h) over the
    interval's own messages. ``positions``: begin/end latitude and longitude (last known fix).
    ``first``/``last``: parameters whose value at the first/last message is wanted, as
    ``<param>.first`` / ``<param>.last``. ``route``: the track as WKT ``LINESTRING (lon lat, ...)``.
    """

    distance: str | None = "haversine"
    speed: bool = True
    positions: bool = True
    first: tuple[str, ...] = ()
    last: tuple[str, ...] = ()
    route: bool = False
    max_jump_speed: float = 300.0

    def __post_init__(self) -> None:
        if self.distance is not None and self.distance not in _DISTANCES:
            raise ConfigError(
                f"distance must be one of {_DISTANCES} or None, not {self.distance!r}"
            )

    def fields(self) -> tuple[str, ...]:
        """Columns read (added as nulls when absent)."""
        return (LAT, LON, SPEED, MILEAGE, *self.first, *self.last)

    def columns(self, *, first: bool = True) -> list[str]:
        """Output counter columns, in order."""
        out = ["messages"]
        out += ["distance"] if self.distance else []
        out += ["avg_speed", "max_speed"] if self.speed else []
        if self.positions:
            out += ["begin.latitude", "begin.longitude", "end.latitude", "end.longitude"]
        if first:
            out += [f"{p}.first" for p in self.first] + [f"{p}.last" for p in self.last]
        return out + (["route"] if self.route else [])


def row_columns(lf: pl.LazyFrame, c: Counters) -> pl.DataFrame:
    """Per-row helper columns the counters need (only those): filled positions, cumulative
    km, filled odometer, speed sums."""
    # Collected in steps: fused lazily, the filled positions get recomputed per use.
    df = collect(lf)
    if c.positions or c.route or c.distance in ("haversine", "auto"):
        df = df.with_columns(_filled(df, LAT).alias("_lat"), _filled(df, LON).alias("_lon"))
    cols: list[pl.Expr | pl.Series] = []
    if c.distance in ("haversine", "auto"):
        lat = df.get_column("_lat").to_numpy()
        km = step_km(lat, df.get_column("_lon").to_numpy())
        reach = np.diff(df.get_column(TS).to_numpy(), prepend=np.nan)
        reach *= c.max_jump_speed / 3600.0
        # A step implying more than max_jump_speed is a GPS jump: it counts 0 (as across
        # devices: the first row of a device). NaN (no position yet) fails the test too.
        km[~(km <= reach) | df.get_column(NEW).to_numpy()] = 0.0
        cols.append(pl.Series("_cum", np.cumsum(km, out=km)))
    if c.distance in ("odometer", "auto"):
        cols.append(_filled(df, MILEAGE, both=True).alias("_odo"))
    spd = pl.col(SPEED).cast(pl.Float64)
    cols.append(spd.alias("_spd"))
    if c.speed:
        cols.append(spd.fill_null(0.0).cum_sum().alias("_ssum"))
        cols.append(spd.is_not_null().cast(pl.Int64).cum_sum().alias("_scnt"))
    return df.with_columns(cols)


def _filled(df: pl.DataFrame, col: str, *, both: bool = False) -> pl.Expr:
    """``col`` as float, gaps filled from the same device's neighbours (skipped if none)."""
    expr = pl.col(col).cast(pl.Float64)
    if df.get_column(col).null_count() == 0:
        return expr
    if both:
        return pl.coalesce(fill_within(expr), fill_within(expr, backward=True))
    return fill_within(expr)


def _at(rows: pl.DataFrame, col: str, idx: pl.Series) -> pl.Series:
    return rows.get_column(col).gather(idx)


def add_counters(rows: pl.DataFrame, iv: pl.DataFrame, c: Counters) -> pl.DataFrame:
    """Add counter columns to ``iv`` (needs ``b_row``, ``e_row``, ``c0``, ``c1`` = core rows)."""
    b, e = iv.get_column("b_row"), iv.get_column("e_row")
    c0, c1 = iv.get_column("c0"), iv.get_column("c1")
    cols: dict[str, pl.Series] = {"messages": e - b + 1}
    if c.distance:
        if c.distance != "odometer":
            cols["distance"] = _at(rows, "_cum", e) - _at(rows, "_cum", b)
        if c.distance != "haversine":
            odo = _at(rows, "_odo", e) - _at(rows, "_odo", b)
            cols["distance"] = odo.fill_nan(None).fill_null(cols.get("distance", odo))
    if c.speed:
        s0 = _at(rows, "_spd", c0)
        ssum = _at(rows, "_ssum", c1) - _at(rows, "_ssum", c0) + s0.fill_null(0.0)
        scnt = _at(rows, "_scnt", c1) - _at(rows, "_scnt", c0) + s0.is_not_null().cast(pl.Int64)
        cols["avg_speed"] = (ssum / scnt.cast(pl.Float64)).fill_nan(None)
    if c.positions:
        cols["begin.latitude"], cols["begin.longitude"] = _at(rows, "_lat", b), _at(rows, "_lon", b)
        cols["end.latitude"], cols["end.longitude"] = _at(rows, "_lat", e), _at(rows, "_lon", e)
    for p in c.first:
        cols[f"{p}.first"] = _at(rows, p, b)
    for p in c.last:
        cols[f"{p}.last"] = _at(rows, p, e)
    out = iv.with_columns(*(s.alias(k) for k, s in cols.items()))
    if c.speed:
        out = out.with_columns(
            pl.max_horizontal(
                "max_speed", _at(rows, "_spd", b).alias("_sb"), _at(rows, "_spd", e).alias("_se")
            ).alias("max_speed")
        )
    if c.route:
        out = out.with_columns(route=_routes(rows, out))
    return out


def _routes(rows: pl.DataFrame, iv: pl.DataFrame) -> pl.Series:
    """WKT LINESTRING per interval; a one-fix interval repeats its point (valid, zero length)."""
    ex = (
        iv.select(pl.int_range(pl.len()).alias("_i"), pl.int_ranges("b_row", pl.col("e_row") + 1))
        .explode("b_row")
        .rename({"b_row": "_r"})
    )
    idx = ex.get_column("_r")
    pts = ex.with_columns(
        (
            _at(rows, "_lon", idx).round(7).cast(pl.String)
            + " "
            + _at(rows, "_lat", idx).round(7).cast(pl.String)
        ).alias("_p")
    ).filter(pl.col("_p").is_not_null())
    lines = pts.group_by("_i", maintain_order=True).agg(
        pl.when(pl.len() == 1)
        .then(pl.col("_p").first() + ", " + pl.col("_p").first())
        .otherwise(pl.col("_p").str.join(", "))
        .first()
        .alias("_w")
    )
    full = pl.DataFrame({"_i": pl.int_range(iv.height, eager=True)}).join(
        lines, on="_i", how="left"
    )
    return ("LINESTRING (" + full.get_column("_w") + ")").alias("route")
