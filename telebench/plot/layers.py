"""The map's layers that take geometry work: fences, trip lines and tracks; frame helpers.

Part of :mod:`telebench.plot`, which draws with them.

>>> import shapely
>>> [len(c) for c in split_coords(np.array([shapely.LineString([(0, 0), (1, 1), (2, 0)])]))]
[3]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import polars as pl
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection

from telebench.errors import SchemaError

__all__ = [
    "LAT",
    "LON",
    "FloatArray",
    "Frame",
    "as_frame",
    "draw_fences",
    "require",
    "split_coords",
    "trip_lines",
    "xy",
]

FloatArray = npt.NDArray[np.float64]
Frame = pl.DataFrame | pl.LazyFrame
LON: Final = "position.longitude"
LAT: Final = "position.latitude"


def as_frame(frame: Frame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def require(frame: Frame, columns: Sequence[str], what: str) -> None:
    have = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    missing = [c for c in columns if c not in have]
    if missing:
        raise SchemaError(f"{what} lack column(s) {missing} (have {have[:12]})")


def xy(frame: Frame, lon: str, lat: str) -> tuple[FloatArray, FloatArray]:
    """Longitudes and latitudes of the rows that have both."""
    require(frame, [lon, lat], "positions")
    d = as_frame(frame.lazy().select(pl.col(lon, lat).cast(pl.Float64)).drop_nulls())
    return d.get_column(lon).to_numpy(), d.get_column(lat).to_numpy()


def _fence_geoms(fences: Any) -> tuple[list[str], npt.NDArray[np.object_]]:
    """Names and geometries of a Geofences, a ``{name: geometry}`` mapping or a sequence."""
    if hasattr(fences, "geoms") and hasattr(fences, "names"):
        return list(fences.names), np.asarray(fences.geoms, dtype=object)
    if isinstance(fences, Mapping):
        return [str(n) for n in fences], np.array(list(fences.values()), dtype=object)
    geoms = np.array([fences] if isinstance(fences, shapely.Geometry) else list(fences), object)
    return [""] * len(geoms), geoms


def draw_fences(ax: Axes, fences: Any) -> None:
    """Outlines (every ring) and a light fill of each fence, named at a point inside it."""
    names, geoms = _fence_geoms(fences)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    kinds = shapely.get_type_id(parts)
    polygons = parts[kinds == 3]
    rings, ring_owner = shapely.get_rings(polygons, return_index=True)
    lines = np.concatenate([rings, parts[(kinds == 1) | (kinds == 2)]])
    colour_of = np.concatenate([owner[kinds == 3][ring_owner], owner[(kinds == 1) | (kinds == 2)]])
    outline = split_coords(lines)
    palette = plt.get_cmap("tab10")(np.arange(len(geoms)) % 10)
    ax.add_collection(LineCollection(outline, colors=palette[colour_of], linewidths=1.4,
                                     zorder=2.5, gid="fences"))  # fmt: skip
    shells = split_coords(shapely.get_exterior_ring(polygons))
    ax.add_collection(PolyCollection(shells, facecolors=palette[owner[kinds == 3]], alpha=0.15,
                                     edgecolors="none", zorder=1.5, gid="fences-fill"))  # fmt: skip
    if 0 < len(names) <= 50 and any(names):
        spots = shapely.get_coordinates(shapely.point_on_surface(geoms))
        for name, (x, y), colour in zip(names, spots, palette, strict=True):
            ax.annotate(name, (x, y), fontsize=8, color=colour, ha="center", zorder=5)


def split_coords(geoms: npt.NDArray[np.object_]) -> list[FloatArray]:
    """The coordinate arrays of each geometry (empty ones dropped)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    if not len(coords):
        return []
    return np.split(coords, np.flatnonzero(np.diff(index)) + 1)


def trip_lines(trips: pl.DataFrame, messages: Frame | None) -> list[FloatArray]:
    """One polyline per trip: its WKT route, its messages, or begin -> end position."""
    if "route" in trips.columns:
        routes = trips.get_column("route").drop_nulls().to_numpy()
        return split_coords(shapely.from_wkt(routes))
    if messages is not None:
        return _tracks(trips, messages)
    ends = ["begin.longitude", "begin.latitude", "end.longitude", "end.latitude"]
    require(trips, ends, "trips without route or messages")
    xy = trips.select(pl.col(ends).cast(pl.Float64)).drop_nulls().to_numpy()
    return list(xy.reshape(-1, 2, 2))


def _tracks(trips: pl.DataFrame, messages: Frame) -> list[FloatArray]:
    """Messages of each trip's device within ``[begin, end]``, found by binary search on one
    ``(ident, time)`` key (devices spaced apart on it) instead of a join per trip."""
    require(trips, ["ident", "begin", "end"], "trips")
    require(messages, ["ident", "timestamp", LON, LAT], "messages")
    fix = pl.col(LON).is_not_null() & pl.col(LAT).is_not_null()
    m = as_frame(messages.lazy().filter(fix).select("ident", "timestamp", LON, LAT)
               .sort("ident", "timestamp"))  # fmt: skip
    t = trips.select("ident", "begin", "end").drop_nulls()
    idents = pl.concat([m.get_column("ident"), t.get_column("ident")]).unique().sort()
    times = pl.concat([m.get_column("timestamp"), t.get_column("begin"), t.get_column("end")])
    t0 = float(times.min() or 0.0)  # type: ignore[arg-type]
    span = float(times.max() or 0.0) - t0 + 1.0  # type: ignore[arg-type]

    def key(frame: pl.DataFrame, column: str) -> FloatArray:
        code = idents.search_sorted(frame.get_column("ident")).to_numpy().astype(np.float64)
        return code * span + (frame.get_column(column).to_numpy().astype(np.float64) - t0)

    keys = key(m, "timestamp")
    lo = np.searchsorted(keys, key(t, "begin"), side="left")
    hi = np.searchsorted(keys, key(t, "end"), side="right")
    xy = m.select(pl.col(LON, LAT).cast(pl.Float64)).to_numpy()
    return [xy[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True) if b - a >= 2]
