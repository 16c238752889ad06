"""When a vehicle crossed a fence's edge between two fixes: what the fixes' speeds and
courses say about the path between them (:func:`segment_times`).

A vehicle that stood at one end of a segment, or between its fixes, drove it at the
reported speed from its moving end (:func:`time_along`).

On a steady drive the straight chord between two fixes misleads round a bend. Fixes are
taken when the heading turns (Teltonika's angle rule, and most trackers' like it), so
between two fixes the road bends, and the chord cuts the bend.
A road bulging out of a fence and back is then timed short (and one bending in, long) by a
second or two, which decides whether a brief exit counts. With the speed and course each
fix reports, the path between them is a cubic Hermite curve in time (position and
velocity at both ends): it follows the bend, and its parameter is the time.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl
import shapely

from telebench.calc._frame import TS
from telebench.calc._grid import segment_fracs

__all__ = ["Fixes", "hermite_crossing_times", "segment_times", "time_along"]

_M_PER_DEG: Final = 111_195.0
_SAMPLES: Final = 16  # points along each curve; a straight chord refines between two
_BEND_DEG: Final = 10.0  # a course this far off the chord's bearing: the road bends
_STEADY: Final = (0.7, 1.6)  # speed x time over chord: a bend's arc is at most pi/2 of it
#: m/s², how hard a vehicle pulls away from a stop or brakes into one (time_along): a calm
#: start or stop of a car (1.5-2.5) or a loaded van or truck (1-1.5).
PULL_AWAY: Final = 1.5

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


def time_along(
    ts: npt.NDArray[np.float64],
    speed: npt.NDArray[np.float64],
    metres: npt.NDArray[np.float64],
    frac: npt.NDArray[np.float64],
    still_speed: float,
) -> npt.NDArray[np.float64]:
    """Device time at ``frac`` (0..1) of the way along segments from fix ``a`` to fix ``b``.

    ``ts`` and ``speed`` (km/h) are ``(2, n)``: the segments' start and end fixes; ``metres``
    their lengths. The vehicle changes speed at :data:`PULL_AWAY` m/s², next to the slower
    fix, and drives the rest at the faster fix's speed:

    - moving at both ends: braking to (or pulling away from) the slower fix's speed beside
      it, the whole scaled to the segment's time (a fix taken at a turn catches the vehicle
      slowed for it; linear in time would put a crossing far from that fix seconds late
      or early); linear when the speeds are equal or unknown;
    - departure (still at ``a``, moving at ``b``): it drove the segment last, reaching
      ``b``'s speed at :data:`PULL_AWAY` m/s² from a standstill and keeping it (a vehicle
      leaving a parking spot after hours does not creep out all night; timing it at
      ``b``'s speed all the way would put a crossing near the start seconds late);
    - arrival (moving, then still): it drove the segment first, at ``a``'s speed, braking
      at the same rate into the stop;
    - moving at both ends, but the segment took more than twice as long as its length at
      the slower speed (a stop or a gap in fixes between them): timed from the nearer end.

    >>> ts = np.array([[0.0, 0.0, 0.0], [100.0, 100.0, 100.0]])
    >>> kmh = np.array([[36.0, 0.0, 36.0], [36.0, 36.0, 0.0]])
    >>> time_along(ts, kmh, np.array([1000.0, 200, 200]), np.full(3, 0.5), 2.0).tolist()
    [50.0, 90.0, 10.0]
    >>> # from a standstill to 36 km/h in 100 m: 10 m out it was 9.7 s before the fix, not 9
    >>> round(float(time_along(ts, kmh, np.full(3, 100.0), np.full(3, 0.1), 2.0)[1]), 1)
    90.3
    """
    ta, tb = ts[0], ts[1]
    span = tb - ta
    linear = ta + frac * span
    va, vb = speed[0] / 3.6, speed[1] / 3.6  # m/s; NaN (unknown) compares False below
    still = still_speed / 3.6
    with np.errstate(divide="ignore", invalid="ignore"):
        after_a = ta + frac * metres / va
        before_b = tb - (1.0 - frac) * metres / vb
        stop = np.zeros_like(va)
        braked = ta + _slowing(frac * metres, metres, va, stop)
        pulled = tb - _slowing((1.0 - frac) * metres, metres, vb, stop)  # a stop reversed
        slows = va >= vb
        whole = np.where(slows, _slowing(metres, metres, va, vb), _slowing(metres, metres, vb, va))
        part = np.where(
            slows,
            _slowing(frac * metres, metres, va, vb),
            whole - _slowing((1.0 - frac) * metres, metres, vb, va),
        )
        paced = np.where(whole > 0, ta + span * part / whole, linear)  # 0 m: fixes coincide
        moving = (va > still) & (vb > still)
        stood = moving & (metres < 0.5 * np.minimum(va, vb) * span)
    departs = (va <= still) & (vb > still)
    arrives = (va > still) & (vb <= still)
    out = np.where(moving, paced, linear)
    out = np.where(stood & (frac >= 0.5), before_b, np.where(stood, after_a, out))
    out = np.where(departs, pulled, np.where(arrives, braked, out))
    return np.asarray(np.clip(out, ta, tb), dtype=np.float64)


def _slowing(dist: F64, total: F64, v: F64, v_end: F64) -> F64:
    """Seconds to drive the first ``dist`` metres of ``total`` that start at ``v`` m/s and
    end at ``v_end``, braking at :data:`PULL_AWAY` (harder if ``total`` is too short)."""
    drop = v * v - v_end * v_end
    rate = np.maximum(PULL_AWAY, drop / (2.0 * total))
    cruise = total - drop / (2.0 * rate)  # metres at ``v`` before braking
    braking = np.maximum(dist - cruise, 0.0)
    slowed = np.sqrt(np.maximum(v * v - 2.0 * rate * braking, 0.0))
    out: F64 = np.where(total > 0, np.minimum(dist, cruise) / v + (v - slowed) / rate, 0.0)
    return out


class Fixes(NamedTuple):
    """A device-ordered table's columns as arrays, converted once for every segment lookup:
    times, positions (degrees), speed (km/h) and course (degrees), NaN where unknown."""

    ts: F64
    lon: F64
    lat: F64
    speed: F64
    course: F64

    @classmethod
    def of(cls, rows: pl.DataFrame, lon: F64, lat: F64) -> Fixes:
        """From ``rows`` with ``_spd``/``_dir`` columns and (settled) ``lon``/``lat``."""

        def floats(name: str) -> F64:
            out: F64 = rows.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy()
            return out

        return cls(floats(TS), lon, lat, floats("_spd"), floats("_dir"))


def segment_times(
    fx: Fixes,
    b: npt.NDArray[np.int64],
    frac: F64,
    still_speed: float | None,
    curve: tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]] | None = None,
) -> F64:
    """:func:`time_along` the segments from fix ``b - 1`` to fix ``b`` (linear when
    ``still_speed`` is None). With ``curve`` (each segment's fence and whether it enters
    it), a drive round a bend is timed where its curved path crosses the edge
    (:func:`hermite_crossing_times`)."""
    ts, lon, lat = fx.ts, fx.lon, fx.lat
    a = b - 1
    if still_speed is None:
        linear: F64 = ts[a] + frac * (ts[b] - ts[a])
        return linear
    kx = _M_PER_DEG * np.cos(np.radians(lat[b]))
    metres = np.hypot((lon[b] - lon[a]) * kx, (lat[b] - lat[a]) * _M_PER_DEG)
    pair = (np.stack([ts[a], ts[b]]), np.stack([fx.speed[a], fx.speed[b]]))
    out = time_along(*pair, metres, frac, still_speed)
    if curve is not None and b.size:
        pick = np.flatnonzero((pair[1] > still_speed).all(axis=0))  # moving at both ends
        a, b = a[pick], b[pick]
        bent = hermite_crossing_times(
            np.stack([lon[a], lon[b]]), np.stack([lat[a], lat[b]]), pair[0][:, pick],
            pair[1][:, pick], np.stack([fx.course[a], fx.course[b]]),
            curve[0][pick], curve[1][pick],
        )  # fmt: skip
        out[pick] = np.where(np.isfinite(bent), bent, out[pick])
    return out
