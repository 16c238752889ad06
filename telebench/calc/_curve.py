"""Where a moving vehicle crossed a fence's edge between two fixes, along a curved path.

Fixes are taken when the heading turns (Teltonika's angle rule, and most trackers' like
it), so between two fixes the road bends; the straight chord between them cuts the bend.
A road bulging out of a fence and back is then timed short (and one bending in, long) by a
second or two, which decides whether a brief exit counts. With the speed and course each
fix reports, the path between them is a cubic Hermite curve in time (position and
velocity at both ends): it follows the bend, and its parameter is the time.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import shapely

from telebench.calc._grid import segment_fracs

__all__ = ["hermite_crossing_times"]

_M_PER_DEG: Final = 111_195.0
_SAMPLES: Final = 16  # points along each curve; a straight chord refines between two
_BEND_DEG: Final = 10.0  # a course this far off the chord's bearing: the road bends
_STEADY: Final = (0.7, 1.6)  # speed x time over chord: a bend's arc is at most pi/2 of it

F64 = npt.NDArray[np.float64]


def _hermite(s: F64, p0: F64, p1: F64, m0: F64, m1: F64) -> F64:
    """Points at parameters ``s`` (columns) of the curves (rows) from ``p0`` to ``p1``
    with end tangents ``m0``, ``m1`` (one coordinate)."""
    s2, s3 = s * s, s * s * s
    h00, h10 = 2 * s3 - 3 * s2 + 1, s3 - 2 * s2 + s
    h01, h11 = -2 * s3 + 3 * s2, s3 - s2
    out: F64 = h00 * p0[:, None] + h10 * m0[:, None] + h01 * p1[:, None] + h11 * m1[:, None]
    return out


def hermite_crossing_times(
    lon: F64,
    lat: F64,
    ts: F64,
    speed: F64,
    course: F64,
    fences: npt.NDArray[np.object_],
    entering: npt.NDArray[np.bool_],
) -> F64:
    """Times the curves through fix pairs (index 0 and 1 along the first axis of each
    ``(2, n)`` array: positions in degrees, times, speed in km/h, course in degrees) first
    cross into (``entering``) or out of their fence; NaN where the chord's time should stay:
    a fix without speed or course, a straight drive (both courses within 10 degrees of the
    chord), a drive that was not steady (speed x time at either fix not 0.7-1.6 times the
    chord: the vehicle slowed, stopped or turned back), or a curve that never crosses.

    >>> import shapely
    >>> fence = shapely.box(-1.0, 0.0, 1.0, 1.0)  # the half-plane y > 0, near the origin
    >>> # heading east at 36 km/h from 10 m south, then north-east: a bend into the fence
    >>> lat = np.array([[-10 / 111_195], [10 / 111_195]])
    >>> lon = np.array([[0.0], [60 / 111_195]])
    >>> t = hermite_crossing_times(lon, lat, np.array([[0.0], [7.0]]),
    ...     np.array([[36.0], [36.0]]), np.array([[90.0], [45.0]]),
    ...     np.array([fence]), np.array([True]))
    >>> 3.5 < float(t[0]) < 7.0  # the chord would say 3.5 s: the curve enters later
    True
    """
    out = np.full(entering.size, np.nan)
    ok = np.isfinite(speed).all(axis=0) & np.isfinite(course).all(axis=0) & (speed > 0).all(0)
    # a straight drive keeps the chord (courses are whole degrees, speeds whole km/h: the
    # curve would only add their rounding); a bend is where a course leaves the chord's
    dx = (lon[1] - lon[0]) * np.cos(np.radians(lat[0]))
    chord = np.degrees(np.arctan2(dx, lat[1] - lat[0]))
    off = np.abs((course - chord + 180.0) % 360.0 - 180.0)
    ok &= off.max(axis=0) > _BEND_DEG
    # and a steady drive: both speeds cover about the chord in the time between the fixes
    # (else the vehicle slowed, stopped or turned back between them; a curve would loop)
    chord_m = np.hypot(dx * _M_PER_DEG, (lat[1] - lat[0]) * _M_PER_DEG)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = speed / 3.6 * (ts[1] - ts[0]) / chord_m
    ok &= ((ratio > _STEADY[0]) & (ratio < _STEADY[1])).all(axis=0)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return out
    lon, lat, ts = lon[:, idx], lat[:, idx], ts[:, idx]
    span = ts[1] - ts[0]
    kx = _M_PER_DEG * np.cos(np.radians(lat[0]))
    # local metres from the first fix; tangents are velocity times the segment's duration
    x1, y1 = (lon[1] - lon[0]) * kx, (lat[1] - lat[0]) * _M_PER_DEG
    rad = np.radians(course[:, idx])
    v = speed[:, idx] / 3.6 * span
    s = np.linspace(0.0, 1.0, _SAMPLES + 1)
    zero = np.zeros(idx.size)
    x = _hermite(s, zero, x1, v[0] * np.sin(rad[0]), v[1] * np.sin(rad[1]))
    y = _hermite(s, zero, y1, v[0] * np.cos(rad[0]), v[1] * np.cos(rad[1]))
    px = lon[0][:, None] + x / kx[:, None]
    py = lat[0][:, None] + y / _M_PER_DEG
    inside = shapely.contains_xy(fences[idx][:, None], px, py)
    # the first sample past the edge (the curve's start is on the other side, like the fix)
    goal = entering[idx][:, None]
    hit = (inside == goal) & (s[None, :] > 0)
    found = hit.any(axis=1) & (inside[:, 0] != goal[:, 0])
    j = np.argmax(hit, axis=1)
    rows = np.flatnonzero(found)
    j = j[rows]
    edges = shapely.boundary(fences[idx][rows])
    lo, hi = segment_fracs(
        px[rows, j - 1], py[rows, j - 1], px[rows, j], py[rows, j], np.asarray(edges)
    )
    frac = np.where(entering[idx][rows], hi, lo)
    frac = np.nan_to_num(frac, nan=0.5)  # GEOS missed a grazing touch: the middle
    t = ts[0][rows] + (s[j - 1] + frac * (s[j] - s[j - 1])) * span[rows]
    out[idx[rows]] = t
    return out
