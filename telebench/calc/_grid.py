"""Spatial joins of fixes and segments with fences through a uniform grid (no per-fix Python).

Fences are registered in every grid cell their bounding box touches; a fix meets only the
fences of its cell (a Polars join on an integer cell key), then ``shapely.contains_xy`` runs
on those pairs with prepared polygons. A segment between two fixes in the same or
edge-adjacent cells can only cross fences registered in those two cells; longer segments
(rare: sparse fixes) go through an STRtree of the fences.

Examples
--------
>>> import numpy as np, shapely
>>> from telebench.calc.fences import Geofences
>>> g = Grid(Geofences.from_shapes({"a": shapely.box(0, 0, 1, 1), "b": shapely.box(5, 5, 6, 6)}))
>>> g.inside(np.array([0.5, 5.5, 3.0]), np.array([0.5, 5.5, 3.0]))
(array([0, 1]), array([0, 1]))
>>> g.crossings(np.array([-1.0, 2.0]), np.array([0.5, 0.5]), np.array([0, 0]))[:2]
(array([1]), array([0]))
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import shapely

from telebench.calc.fences import Geofences

__all__ = ["Grid"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_MAX_CELLS: Final = 4096  # a fence covering more cells is tested against every fix
_SHIFT: Final = 1 << 32


class Grid:
    """Fences indexed by grid cell (module docstring)."""

    def __init__(self, fences: Geofences) -> None:
        self.fences = fences
        b = self.bounds = fences.bounds()
        ext = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
        self.cell = max(float(np.median(ext)) * 2.0, 1e-4) if len(ext) else 1.0
        x0, y0 = self._ix(b[:, 0]), self._ix(b[:, 1])
        nx, ny = self._ix(b[:, 2]) - x0 + 1, self._ix(b[:, 3]) - y0 + 1
        n = nx * ny
        small = n <= _MAX_CELLS
        fi = np.repeat(np.flatnonzero(small), n[small])
        k = np.arange(len(fi)) - np.repeat(np.cumsum(n[small]) - n[small], n[small])
        keys = (x0[fi] + k // ny[fi]) * _SHIFT + (y0[fi] + k % ny[fi])
        self.table = pl.DataFrame({"key": keys, "f": fi.astype(np.int64)})
        self.big = np.flatnonzero(~small).astype(np.int64)
        self.tree = shapely.STRtree(fences.geoms)

    def _ix(self, v: F64) -> I64:
        return np.floor(v / self.cell).astype(np.int64)

    def _candidates(self, idx: I64, keys: I64) -> pl.DataFrame:
        """``(p, f)`` pairs: fix/segment ``idx`` meets the fences registered in cell ``keys``."""
        cand = pl.DataFrame({"key": keys, "p": idx}).join(self.table, on="key").select("p", "f")
        if self.big.size:
            extra = pl.DataFrame(
                {"p": np.tile(idx, self.big.size), "f": np.repeat(self.big, idx.size)}
            )
            cand = pl.concat([cand, extra])
        return cand

    def cell_pairs(self, lon: F64, lat: F64) -> pl.DataFrame:
        """``(p, f)``: fix ``p`` lies in a cell where fence ``f`` is registered."""
        pts = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat)).astype(np.int64)
        return self._candidates(pts, self._ix(lon[pts]) * _SHIFT + self._ix(lat[pts]))

    def inside(self, lon: F64, lat: F64, cells: pl.DataFrame | None = None) -> tuple[I64, I64]:
        """``(fix index, fence index)`` for every fix inside a fence (NaN fixes are outside)."""
        cand = self.cell_pairs(lon, lat) if cells is None else cells
        p, f = cand.get_column("p").to_numpy(), cand.get_column("f").to_numpy()
        b = self.bounds
        inb = (lon[p] >= b[f, 0]) & (lon[p] <= b[f, 2]) & (lat[p] >= b[f, 1]) & (lat[p] <= b[f, 3])
        p, f = p[inb], f[inb]
        hit = shapely.contains_xy(self.fences.geoms[f], lon[p], lat[p])
        return p[hit].astype(np.int64), f[hit].astype(np.int64)

    def crossings(
        self,
        lon: F64,
        lat: F64,
        dev: I64,
        inside: pl.DataFrame | None = None,
        cells: pl.DataFrame | None = None,
    ) -> tuple[I64, I64, F64, F64]:
        """Segments ``r-1 -> r`` of one device crossing a fence with both ends outside it:
        ``(r, fence, first fraction, last fraction)`` along the segment."""
        ok = np.isfinite(lon) & np.isfinite(lat)
        seg = np.flatnonzero(np.append(False, (dev[1:] == dev[:-1]) & ok[1:] & ok[:-1]))
        ix, iy = self._ix(np.where(ok, lon, 0.0)), self._ix(np.where(ok, lat, 0.0))
        near = np.abs(ix[seg] - ix[seg - 1]) + np.abs(iy[seg] - iy[seg - 1]) <= 1
        good = np.zeros(len(lon) + 1, dtype=bool)
        good[seg[near]] = True
        # Near segments meet the fences of their two end cells (the fixes' cell pairs).
        cand = self.cell_pairs(lon, lat) if cells is None else cells
        cp, cf = cand.get_column("p").to_numpy(), cand.get_column("f").to_numpy()
        p, f = np.concatenate([cp, cp + 1]), np.concatenate([cf, cf])
        keep = good[p]
        pairs = pl.DataFrame({"p": p[keep], "f": f[keep]}).unique()
        far = seg[~near].astype(np.int64)
        if far.size:
            lines = _lines(lon[far - 1], lat[far - 1], lon[far], lat[far])
            si, fi = self.tree.query(lines, predicate="intersects")
            pairs = pl.concat([pairs, pl.DataFrame({"p": far[si], "f": fi.astype(np.int64)})])
        if inside is not None and inside.height:
            for shift in (0, 1):
                ins = inside.select(pl.col("p") + shift, "f")
                pairs = pairs.join(ins, on=["p", "f"], how="anti")
        r, f = pairs.get_column("p").to_numpy(), pairs.get_column("f").to_numpy()
        b = self.bounds
        x0, x1 = np.minimum(lon[r - 1], lon[r]), np.maximum(lon[r - 1], lon[r])
        y0, y1 = np.minimum(lat[r - 1], lat[r]), np.maximum(lat[r - 1], lat[r])
        box = (x1 >= b[f, 0]) & (x0 <= b[f, 2]) & (y1 >= b[f, 1]) & (y0 <= b[f, 3])
        r, f = r[box], f[box]
        lines = _lines(lon[r - 1], lat[r - 1], lon[r], lat[r])
        hit = shapely.intersects(lines, self.fences.geoms[f])
        r, f = r[hit], f[hit]
        lo, hi = segment_fracs(lon[r - 1], lat[r - 1], lon[r], lat[r], self.fences.geoms[f])
        return r.astype(np.int64), f.astype(np.int64), lo, hi


def _lines(x0: F64, y0: F64, x1: F64, y1: F64) -> npt.NDArray[np.object_]:
    coords = np.stack([np.column_stack((x0, y0)), np.column_stack((x1, y1))], axis=1)
    return np.asarray(shapely.linestrings(coords), dtype=object)


def segment_fracs(
    x0: F64, y0: F64, x1: F64, y1: F64, target: npt.NDArray[np.object_]
) -> tuple[F64, F64]:
    """First and last fraction (0..1) along each segment where it meets ``target``
    (a polygon, or its boundary for a crossing point); NaN where it does not. A zero-length
    segment (two fixes at the same spot) gets 0 (GEOS cannot intersect it), one with a
    missing end NaN."""
    finite = np.isfinite(x0) & np.isfinite(y0) & np.isfinite(x1) & np.isfinite(y1)
    lo = np.where(finite, 0.0, np.nan)
    hi = lo.copy()
    real = np.flatnonzero(finite & ((x0 != x1) | (y0 != y1)))
    x0, y0, x1, y1 = x0[real], y0[real], x1[real], y1[real]
    inter = shapely.intersection(_lines(x0, y0, x1, y1), target[real])
    xy, idx = shapely.get_coordinates(inter, return_index=True)
    dx, dy = (x1 - x0)[idx], (y1 - y0)[idx]
    frac = np.clip(
        ((xy[:, 0] - x0[idx]) * dx + (xy[:, 1] - y0[idx]) * dy) / (dx * dx + dy * dy), 0, 1
    )
    rlo, rhi = np.full(len(real), np.nan), np.full(len(real), np.nan)
    np.fmin.at(rlo, idx, frac)
    np.fmax.at(rhi, idx, frac)
    lo[real], hi[real] = rlo, rhi
    return lo, hi
