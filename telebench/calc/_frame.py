"""Shared column names, input preparation and geodesy for the calculators.

Examples
--------
>>> import polars as pl
>>> df = pl.DataFrame({"ident": ["a", "a", "a"], "timestamp": [2.0, 1.0, 2.0]})
>>> prepare(df, []).collect()["timestamp"].to_list()
[1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from telebench.errors import SchemaError

__all__ = [
    "COURSE",
    "EARTH_RADIUS_M",
    "IDENT",
    "IGNITION",
    "LAT",
    "LON",
    "MILEAGE",
    "MOVEMENT",
    "SPEED",
    "TS",
    "VALID",
    "as_lazy",
    "collect",
    "fill_within",
    "haversine_m",
    "new_device",
    "prepare",
    "step_km",
]

IDENT: Final = "ident"
TS: Final = "timestamp"
LAT: Final = "position.latitude"
LON: Final = "position.longitude"
SPEED: Final = "position.speed"
COURSE: Final = "position.direction"
VALID: Final = "position.valid"
IGNITION: Final = "engine.ignition.status"
MOVEMENT: Final = "movement.status"
MILEAGE: Final = "vehicle.mileage"
EARTH_RADIUS_M: Final = 6_371_008.8
ROW: Final = "_row"
NEW: Final = "_new"  # true on a device's first row, added by prepare()


def as_lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Accept a DataFrame or a LazyFrame (a DataFrame is made lazy, without copying)."""
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def collect(lf: pl.LazyFrame) -> pl.DataFrame:
    """Collect with the in-memory engine: one chunk per column, so ``to_numpy`` and
    ``gather`` stay zero-copy (the streaming engine returns ~100 chunks per column)."""
    return lf.collect(engine="in-memory")


def prepare(
    frame: pl.DataFrame | pl.LazyFrame,
    fields: Iterable[str],
    *,
    optional: Iterable[str] = (),
    where: pl.Expr | None = None,
) -> pl.LazyFrame:
    """Device-time order: sort by (ident, timestamp), drop duplicate timestamps, add ``_row``.

    ``fields`` must exist (:class:`SchemaError` names the missing ones); ``optional`` fields
    are added as nulls when absent so counters can always refer to them. ``where`` drops
    messages first (flespi's ``validate_message``). A message resent
    with the same device timestamp (black-box replay, retransmission) is kept once: the
    first copy in input order.
    """
    lf = as_lazy(frame)
    schema = lf.collect_schema()
    need = [IDENT, TS, *fields]
    missing = [c for c in need if c not in schema]
    if missing:
        raise SchemaError(f"messages lack column(s) {missing}; have {list(schema)[:12]}...")
    extra = [pl.lit(None, pl.Float64).alias(c) for c in dict.fromkeys(optional) if c not in schema]
    lf = lf.with_columns(*extra, pl.col(TS).cast(pl.Float64))
    if where is not None:
        lf = lf.filter(where)
    # Sorting is stable, so the first copy of a duplicate stays first; dropping rows equal to
    # their predecessor on (ident, timestamp) is a cheap shift instead of a hash ``unique``.
    dup = (pl.col(IDENT) == pl.col(IDENT).shift(1)) & (pl.col(TS) == pl.col(TS).shift(1))
    df = collect(lf)
    first = _first_rows(df)
    if first is None:
        df = df.sort(IDENT, TS, maintain_order=True).filter(~dup.fill_null(False))
        first = df.select(pl.col(IDENT).ne_missing(pl.col(IDENT).shift(1))).to_series()
    rows = pl.Series(ROW, np.arange(df.height, dtype=np.int64))
    return pl.concat([rows.to_frame(), df.with_columns(first.alias(NEW))], how="horizontal").lazy()


def _first_rows(df: pl.DataFrame) -> pl.Series | None:
    """Each device's first row, if ``df`` is already in (ident, timestamp) order without
    duplicates (the store's scan order), else None. One string comparison serves both."""
    first = df.select(pl.col(IDENT).ne_missing(pl.col(IDENT).shift(1))).to_series()
    if df.height < 2:
        return first
    if not df.get_column(IDENT).is_sorted():
        return None
    ts = pl.col(TS)
    ok = df.select(((ts > ts.shift(1)) | first).slice(1).all()).item()
    return first if ok else None


def haversine_m(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    """Great-circle distance in metres between two positions given in degrees.

    Examples
    --------
    >>> import polars as pl
    >>> d = haversine_m(pl.lit(0.0), pl.lit(0.0), pl.lit(0.0), pl.lit(1.0))
    >>> round(pl.select(d).item())
    111195
    """
    p1, p2 = lat1.radians(), lat2.radians()
    dphi, dlmb = p2 - p1, (lon2 - lon1).radians()
    a = (dphi / 2).sin().pow(2) + p1.cos() * p2.cos() * (dlmb / 2).sin().pow(2)
    return 2 * EARTH_RADIUS_M * a.sqrt().clip(upper_bound=1.0).arcsin()


def step_km(lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Kilometres from each position (degrees) to the one before it (NaN for the first).

    Steps of a track are short: an equirectangular step at the mean latitude, in float32
    once the differences are taken in float64, agrees with the haversine distance to about
    1e-6 per step (1e-8 over a track) at a quarter of the cost; steps longer than ~10 km
    (gaps, jumps, the antimeridian) get the haversine formula.

    >>> km = step_km(np.array([60.0, 60.001, 10.0]), np.array([25.0, 25.002, 0.0]))
    >>> [round(float(x), 6) for x in km[1:]]  # haversine: 0.157252, 5934.570237
    [0.157252, 5934.570237]
    """
    out = np.empty(lat.size)
    out[:1] = np.nan
    if lat.size < 2:
        return out
    dphi, dlmb = np.diff(lat), np.diff(lon)
    kx = np.empty(lat.size - 1, dtype=np.float32)
    np.add(lat[1:], lat[:-1], out=kx, casting="same_kind")
    kx *= np.float32(np.pi / 360.0)
    np.cos(kx, out=kx)
    dx = dlmb.astype(np.float32)
    dx *= kx
    dx *= dx
    dy = dphi.astype(np.float32)
    dy *= dy
    dx += dy
    np.sqrt(dx, out=dx)
    np.multiply(dx, np.float32(np.pi / 180.0 * EARTH_RADIUS_M / 1000.0), out=out[1:])
    far = np.flatnonzero(out[1:] > 10.0)  # also a wrap across the antimeridian
    if far.size:
        p1, p2 = np.radians(lat[far]), np.radians(lat[far + 1])
        h = (
            np.sin((p2 - p1) / 2) ** 2
            + np.cos(p1) * np.cos(p2) * np.sin(np.radians(dlmb[far]) / 2) ** 2
        )
        out[far + 1] = 2 * EARTH_RADIUS_M / 1000.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return out


def new_device() -> pl.Expr:
    """True on each device's first row (the ``_new`` column of :func:`prepare`)."""
    return pl.col(NEW)


def fill_within(expr: pl.Expr, *, backward: bool = False) -> pl.Expr:
    """Forward (or backward) fill that never crosses devices, without a slow ``over``.

    A global fill is masked where the value came from another device's row (rows come
    from :func:`prepare`: ``_row`` and ``_new`` columns).

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"ident": ["a", "a", "b", "b"], "timestamp": [1, 2, 1, 2],
    ...                    "x": [1, None, None, 2]})
    >>> df = prepare(df, []).collect()
    >>> df.select(fill_within(pl.col("x"))).to_series().to_list()
    [1, 1, None, 2]
    >>> df.select(fill_within(pl.col("x"), backward=True)).to_series().to_list()
    [1, None, 2, 2]
    """
    row = pl.col(ROW)
    if backward:
        last = pl.col(NEW).shift(-1).fill_null(True)
        end = pl.when(last).then(row).backward_fill()
        src = pl.when(expr.is_not_null()).then(row).backward_fill()
        return pl.when(src <= end).then(expr.backward_fill())
    start = pl.when(new_device()).then(row).forward_fill()
    src = pl.when(expr.is_not_null()).then(row).forward_fill()
    return pl.when(src >= start).then(expr.forward_fill())
