"""Trip kinematics: a route's speed, position and heading profile sampled every second.

Speed follows the road's limit, slows before sharp turns and stops, and respects the
vehicle's acceleration and braking. Both limits are applied in closed form with running
minima over the route's vertices (``v² ≤ cap_j² ± 2·a·(s - s_j)``), so one profile is a
handful of vectorised numpy operations; the fleet caches profiles per route.

Examples
--------
>>> from simulators.roads import load_network
>>> net = load_network()
>>> p = route_profile(net, net.route(0, net.node_count - 1))
>>> float(p.speed[0]), float(p.speed[-1]), p.duration == p.speed.size - 1
(0.0, 0.0, True)
>>> bool(abs(p.distance[-1] - net.edge_length[p.edges].sum()) < 1e-6)
True
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from simulators.roads import RoadNetwork

__all__ = [
    "ACCELERATION", "DECELERATION", "METRES_PER_DEGREE", "RouteProfile", "route_profile",
    "route_profiles",
]  # fmt: skip

ACCELERATION: Final = 1.5  # m/s², a loaded van pulling away
DECELERATION: Final = 2.0  # m/s², comfortable braking
METRES_PER_DEGREE: Final = 111_320.0
_GRID_M: Final = 10.0  # distance resolution of the speed profile
_TURN_FREE_DEG: Final = 20.0  # turns gentler than this need no slowing
_MIN_TURN_SPEED: Final = 3.0  # m/s at a hairpin
_MAX_TURN_SPEED: Final = 13.0  # m/s at a gentle bend
_BLOCK: Final = 128  # routes profiled together (padded to the longest of them)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class RouteProfile:
    """One trip along ``edges``, sampled at t = 0, 1, ..., duration seconds.

    ``speed`` is m/s, ``heading`` degrees clockwise from north, ``distance`` metres from
    the start.
    """

    edges: IntArray
    lon: FloatArray
    lat: FloatArray
    speed: FloatArray
    heading: FloatArray
    distance: FloatArray
    peak_speed: float = 0.0  # m/s, between samples too

    @property
    def duration(self) -> int:
        """Seconds from departure to arrival."""
        return int(self.speed.size - 1)

    @property
    def length(self) -> float:
        """Route length in metres."""
        return float(self.distance[-1])


def bearing(lon0: FloatArray, lat0: FloatArray, lon1: FloatArray, lat1: FloatArray) -> FloatArray:
    """Initial bearing (degrees, 0 = north, clockwise) on a local flat-earth approximation.

    Examples
    --------
    >>> a = np.array([0.0])
    >>> float(bearing(a, a, a + 1e-4, a)[0]), float(bearing(a, a, a, a - 1e-4)[0])
    (90.0, 180.0)
    """
    dx = (lon1 - lon0) * np.cos(np.radians((lat0 + lat1) / 2))
    dy = lat1 - lat0
    out: FloatArray = np.degrees(np.arctan2(dx, dy)) % 360.0
    return out


def _vertex_caps(heads: FloatArray, limits: FloatArray, ends: IntArray) -> FloatArray:
    """Highest speed (m/s) at each vertex (rows: routes, padded past ``ends``, each row's
    last vertex): 0 at both ends, slower through sharper turns, +inf past the end (so a
    backward running minimum never reaches into a route from its padding)."""
    turn = np.abs((np.diff(heads, axis=1) + 180.0) % 360.0 - 180.0)
    share = np.clip((turn - _TURN_FREE_DEG) / (90.0 - _TURN_FREE_DEG), 0.0, 1.0)
    turn_cap = np.where(
        turn < _TURN_FREE_DEG, np.inf, _MAX_TURN_SPEED - share * (_MAX_TURN_SPEED - _MIN_TURN_SPEED)
    )
    inner = np.minimum(np.minimum(limits[:, :-1], limits[:, 1:]), turn_cap)
    zero = np.zeros((heads.shape[0], 1))
    caps = np.concatenate([zero, inner, zero], axis=1)
    rows = np.arange(caps.shape[0])
    caps[rows, ends] = 0.0
    caps[np.arange(caps.shape[1]) > ends[:, None]] = np.inf
    return caps


def _padded(values: Sequence[npt.NDArray[Any]], width: int, fill: float) -> FloatArray:
    """Rows of ``values`` padded to ``width`` with ``fill``."""
    out = np.full((len(values), width), fill)
    for i, v in enumerate(values):
        out[i, : v.size] = v
    return out


def _row_interp(
    x: FloatArray, xp: FloatArray, fp: FloatArray, at: IntArray, row: IntArray, last: IntArray
) -> FloatArray:
    """Linear interpolation at ``x`` between ``xp[row, at]`` and the next point of the row
    (the row's last value where ``at`` is its last point); per element, so a route's
    samples never depend on the other routes profiled with it."""
    nxt = np.minimum(at + 1, last[row])
    x0, x1 = xp[row, at], xp[row, nxt]
    f0, f1 = fp[row, at], fp[row, nxt]
    width = x1 - x0
    frac = np.divide(x - x0, width, out=np.zeros_like(x), where=width > 0)
    out: FloatArray = f0 + frac * (f1 - f0)
    return out


def route_profile(
    net: RoadNetwork, edges: list[int] | IntArray, *, pace: float = 1.0
) -> RouteProfile:
    """Sample a trip along ``edges`` (igraph edge ids) every second; ``pace`` scales limits."""
    return route_profiles(net, [edges], pace=pace)[0]


def route_profiles(
    net: RoadNetwork, routes: Sequence[Sequence[int] | IntArray], *, pace: float = 1.0
) -> list[RouteProfile]:
    """:func:`route_profile` of many routes in a few vectorised passes.

    Every operation is per element or runs along one route's row, so a route's profile is
    bit for bit the same whichever routes are profiled with it. Routes go in blocks of
    similar length (rows are padded to the longest of their block).

    >>> from simulators.roads import load_network
    >>> net = load_network()
    >>> a, b = net.route(0, 50), net.route(3, 80)
    >>> both = route_profiles(net, [a, b])
    >>> bool((both[1].lon == route_profile(net, b).lon).all()), both[0].duration > 0
    (True, True)
    """
    ids_list = [np.asarray(e, dtype=np.int64) for e in routes]
    if not ids_list or min(x.size for x in ids_list) == 0:
        raise ValueError("a route needs at least one edge")
    order = np.argsort([x.size for x in ids_list], kind="stable")
    out: list[RouteProfile | None] = [None] * len(ids_list)
    for block in np.array_split(order, -(-order.size // _BLOCK)):
        for i, profile in zip(
            block.tolist(), _profile_block(net, [ids_list[i] for i in block], pace), strict=True
        ):
            out[i] = profile
    return [p for p in out if p is not None]


class _Rows(NamedTuple):
    """A block of routes as padded rows: edges, vertices and their distances."""

    ids: IntArray  # (routes, edges), padded with each route's last edge
    real: npt.NDArray[np.bool_]  # which edge slots are the route's
    ends: IntArray  # each route's edge count = its last vertex's column
    lon: FloatArray  # (routes, vertices)
    lat: FloatArray
    s: FloatArray  # metres from the start at each vertex
    heads: FloatArray  # (routes, edges)
    limits: FloatArray


class _Grid(NamedTuple):
    """Points every <= 10 m along each route, flat, route after route (each ends with the
    route's last vertex); ``row``/``col`` place them in a padded (route, point) table."""

    s: FloatArray
    edge: IntArray
    before: IntArray  # the vertices bounding each point
    after: IntArray
    row: IntArray
    col: IntArray
    counts: IntArray  # points per route


def _rows(net: RoadNetwork, ids_list: list[IntArray], pace: float) -> _Rows:
    ends = np.array([x.size for x in ids_list])
    ids = _padded(ids_list, int(ends.max()), -1).astype(np.int64)
    real = ids >= 0
    ids = np.where(real, ids, ids[np.arange(ids.shape[0]), ends - 1][:, None])
    verts = np.concatenate([net.edge_src[ids[:, :1]], net.edge_dst[ids]], axis=1)
    lon, lat = net.lon[verts], net.lat[verts]
    length = np.where(real, net.edge_length[ids], 0.0)
    s = np.concatenate([np.zeros((ids.shape[0], 1)), np.cumsum(length, axis=1)], axis=1)
    heads = bearing(lon[:, :-1], lat[:, :-1], lon[:, 1:], lat[:, 1:])
    return _Rows(ids, real, ends, lon, lat, s, heads, net.edge_speed[ids] * pace)


def _grid(r: _Rows) -> _Grid:
    """Each edge's start vertex and points every <= 10 m (at least 2 a edge), then the end."""
    row_e, edge = np.nonzero(r.real)
    len_e = r.s[row_e, edge + 1] - r.s[row_e, edge]
    parts = np.maximum(np.ceil(len_e / _GRID_M).astype(np.int64), 2)
    k = np.arange(int(parts.sum())) - np.repeat(np.cumsum(parts) - parts, parts)
    mid_edge = np.repeat(edge, parts)
    mid_s = np.repeat(r.s[row_e, edge], parts) + np.repeat(len_e, parts) * k / np.repeat(
        parts, parts
    )
    rows = np.arange(r.ids.shape[0])
    counts = np.bincount(row_e, weights=parts, minlength=rows.size).astype(np.int64) + 1
    at_end = np.cumsum(counts) - 1
    keep = np.ones(int(counts.sum()), dtype=np.bool_)
    keep[at_end] = False

    def place(mid: npt.NDArray[Any], end: npt.NDArray[Any]) -> npt.NDArray[Any]:
        out = np.empty(keep.size, dtype=np.result_type(mid, end))
        out[keep], out[at_end] = mid, end
        return out

    return _Grid(
        s=place(mid_s, r.s[rows, r.ends]),
        edge=place(mid_edge, r.ends - 1),
        before=place(mid_edge, r.ends),
        after=place(mid_edge + (k > 0), r.ends),
        row=np.repeat(rows, counts),
        col=np.arange(keep.size) - np.repeat(at_end - counts + 1, counts),
        counts=counts,
    )


def _grid_speeds(r: _Rows, g: _Grid) -> FloatArray:
    """Speed at each grid point: the limit, and what acceleration from the last slower
    vertex and braking for the next one allow (running minima along each row)."""
    caps = _vertex_caps(r.heads, r.limits, r.ends)
    fwd = np.minimum.accumulate(caps**2 - 2 * ACCELERATION * r.s, axis=1)
    bwd = np.minimum.accumulate((caps**2 + 2 * DECELERATION * r.s)[:, ::-1], axis=1)[:, ::-1]
    v2 = np.minimum(
        2 * ACCELERATION * g.s + fwd[g.row, g.before], bwd[g.row, g.after] - 2 * DECELERATION * g.s
    )
    v: FloatArray = np.minimum(np.sqrt(np.maximum(v2, 0.0)), r.limits[g.row, g.edge])
    return v


def _table(g: _Grid, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Grid values as a padded (route, point) table (zeros past each route's end)."""
    out = np.zeros((g.counts.size, int(g.counts.max())), dtype=values.dtype)
    out[g.row, g.col] = values
    return out


def _profile_block(net: RoadNetwork, ids_list: list[IntArray], pace: float) -> list[RouteProfile]:
    r = _rows(net, ids_list, pace)
    g = _grid(r)
    v = _grid_speeds(r, g)
    firsts = np.cumsum(g.counts) - g.counts
    dt = np.zeros(g.s.size)
    dt[1:] = 2 * np.diff(g.s) / np.maximum(v[:-1] + v[1:], 0.2)
    dt[firsts] = 0.0
    t_table = np.cumsum(_table(g, dt), axis=1)  # a running sum along each route's row
    t = t_table[g.row, g.col]
    n_sec = np.maximum(np.ceil(t[firsts + g.counts - 1]).astype(np.int64), 1) + 1
    # each whole second's grid point: the points of its route at or before it, minus one
    sec_row = np.repeat(np.arange(n_sec.size), n_sec)
    sec = np.arange(int(n_sec.sum())) - np.repeat(np.cumsum(n_sec) - n_sec, n_sec)
    hist = np.zeros((n_sec.size, int(n_sec.max()) + 1), dtype=np.int64)
    np.add.at(hist, (g.row, np.ceil(t).astype(np.int64)), 1)
    at = np.cumsum(hist, axis=1)[sec_row, sec] - 1
    last = g.counts - 1
    secs = sec.astype(np.float64)
    sk = _row_interp(secs, t_table, _table(g, g.s), at, sec_row, last)
    vk = _row_interp(secs, t_table, _table(g, v), at, sec_row, last)
    vk[np.cumsum(n_sec) - 1] = 0.0
    seg = _table(g, g.edge)[sec_row, at]
    lon = _row_interp(sk, r.s, r.lon, seg, sec_row, r.ends)
    lat = _row_interp(sk, r.s, r.lat, seg, sec_row, r.ends)
    peak = np.maximum.reduceat(v, firsts).tolist()
    heading = r.heads[sec_row, seg]
    ends = np.cumsum(n_sec).tolist()
    return [
        RouteProfile(
            edges=ids_list[i], lon=lon[a:b], lat=lat[a:b], speed=vk[a:b], heading=heading[a:b],
            distance=sk[a:b], peak_speed=peak[i],
        )
        for i, (a, b) in enumerate(itertools.pairwise([0, *ends]))
    ]  # fmt: skip
