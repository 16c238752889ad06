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

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from simulators.roads import RoadNetwork

__all__ = ["ACCELERATION", "DECELERATION", "METRES_PER_DEGREE", "RouteProfile", "route_profile"]

ACCELERATION: Final = 1.5  # m/s², a loaded van pulling away
DECELERATION: Final = 2.0  # m/s², comfortable braking
METRES_PER_DEGREE: Final = 111_320.0
_GRID_M: Final = 10.0  # distance resolution of the speed profile
_TURN_FREE_DEG: Final = 20.0  # turns gentler than this need no slowing
_MIN_TURN_SPEED: Final = 3.0  # m/s at a hairpin
_MAX_TURN_SPEED: Final = 13.0  # m/s at a gentle bend

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


def _vertex_caps(heads: FloatArray, limits: FloatArray) -> FloatArray:
    """Highest speed (m/s) at each vertex: 0 at both ends, slower through sharper turns."""
    turn = np.abs((np.diff(heads) + 180.0) % 360.0 - 180.0)
    share = np.clip((turn - _TURN_FREE_DEG) / (90.0 - _TURN_FREE_DEG), 0.0, 1.0)
    turn_cap = np.where(
        turn < _TURN_FREE_DEG, np.inf, _MAX_TURN_SPEED - share * (_MAX_TURN_SPEED - _MIN_TURN_SPEED)
    )
    inner = np.minimum(np.minimum(limits[:-1], limits[1:]), turn_cap)
    return np.concatenate([[0.0], inner, [0.0]])


def _grid(s_v: FloatArray) -> tuple[FloatArray, IntArray]:
    """Distances every <= 10 m along the route (all vertices included) and their edge."""
    lengths = np.diff(s_v)
    parts = np.maximum(np.ceil(lengths / _GRID_M).astype(np.int64), 2)
    edge = np.repeat(np.arange(lengths.size), parts)
    starts = np.cumsum(parts) - parts
    k = np.arange(edge.size) - np.repeat(starts, parts)
    s = s_v[edge] + lengths[edge] * k / parts[edge]
    return np.append(s, s_v[-1]), np.append(edge, lengths.size - 1)


def _speed_on_grid(
    s: FloatArray, edge: IntArray, s_v: FloatArray, caps: FloatArray, limits: FloatArray
) -> FloatArray:
    before = np.searchsorted(s_v, s, side="right") - 1
    after = np.searchsorted(s_v, s, side="left")
    fwd = np.minimum.accumulate(caps**2 - 2 * ACCELERATION * s_v)
    bwd = np.minimum.accumulate((caps**2 + 2 * DECELERATION * s_v)[::-1])[::-1]
    v2 = np.minimum(2 * ACCELERATION * s + fwd[before], bwd[after] - 2 * DECELERATION * s)
    v: FloatArray = np.minimum(np.sqrt(np.maximum(v2, 0.0)), limits[edge])
    return v


def route_profile(
    net: RoadNetwork, edges: list[int] | IntArray, *, pace: float = 1.0
) -> RouteProfile:
    """Sample a trip along ``edges`` (igraph edge ids) every second; ``pace`` scales limits."""
    ids = np.asarray(edges, dtype=np.int64)
    if ids.size == 0:
        raise ValueError("a route needs at least one edge")
    verts = np.concatenate([net.edge_src[ids[:1]], net.edge_dst[ids]])
    lon_v, lat_v = net.lon[verts], net.lat[verts]
    s_v = np.concatenate([[0.0], np.cumsum(net.edge_length[ids])])
    heads = bearing(lon_v[:-1], lat_v[:-1], lon_v[1:], lat_v[1:])
    limits = net.edge_speed[ids] * pace
    s, edge = _grid(s_v)
    v = _speed_on_grid(s, edge, s_v, _vertex_caps(heads, limits), limits)
    dt = 2 * np.diff(s) / np.maximum(v[:-1] + v[1:], 0.2)
    t = np.concatenate([[0.0], np.cumsum(dt)])
    duration = max(int(np.ceil(t[-1])), 1)
    tk = np.arange(duration + 1, dtype=np.float64)
    sk = np.interp(tk, t, s)
    vk = np.interp(tk, t, v)
    vk[-1] = 0.0
    seg = np.clip(np.searchsorted(s_v, sk, side="right") - 1, 0, ids.size - 1)
    return RouteProfile(
        edges=ids,
        lon=np.interp(sk, s_v, lon_v),
        lat=np.interp(sk, s_v, lat_v),
        speed=vk,
        heading=heads[seg],
        distance=sk,
        peak_speed=float(v.max()),
    )
