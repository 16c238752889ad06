"""Where vehicles drive: a pool of stops, depots, and a cache of routed trip profiles.

Routing every trip from scratch costs a Dijkstra run (~0.2 ms on the bundled extract, a few
ms on a country), and sampling its profile about as much. Real fleets drive between a
limited set of places, so the planner picks a pool of stop vertices, gives each stop a few
usual destinations (plus the depots) and routes and profiles each pair once.

Examples
--------
>>> import random
>>> from simulators.roads import load_network
>>> from simulators.scenario import ReportRules
>>> planner = RoutePlanner(load_network(), ReportRules(), seed=1, depots=2)
>>> leg = planner.leg(planner.depots[0], planner.next_stop(random.Random(1), planner.depots[0]))
>>> leg.duration > 0 and leg.length > 0
True
>>> a, b = np.array([0, 0]), np.array(planner.destinations[0][:2])
>>> route, duration, _, _ = planner.legs(a, b)
>>> route.tolist() == [planner.leg(0, int(x)).route for x in b]
True
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from simulators.kinematics import RouteProfile, route_profiles
from simulators.reporting import select_moving
from simulators.roads import RoadNetwork
from simulators.scenario import ReportRules
from telebench.errors import SimulationError

__all__ = ["Leg", "RoutePlanner", "Uniform"]

_POOL_SIZE: Final = 256
_DESTINATIONS: Final = 6
_MAX_DEPOTS: Final = 8
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
LegArrays = tuple[IntArray, IntArray, FloatArray, FloatArray]


class Uniform(Protocol):
    """A source of uniform [0, 1) floats (``random.Random``, ``simulators.draws.Draws``)."""

    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Leg:
    """A routed trip between two pool stops (``route`` keys ``RoutePlanner.profiles``).

    Route ids are ``a * len(stops) + b``: the same whatever order legs were first asked in.
    """

    route: int
    duration: int
    length: float
    heading: float  # on arrival


class RoutePlanner:
    """Pool of stops (indices into ``stops``) and a lazily filled route/profile cache."""

    def __init__(
        self,
        net: RoadNetwork,
        rules: ReportRules,
        *,
        seed: int,
        depots: int = 1,
        long_haul: bool = False,
    ) -> None:
        self.net = net
        self.rules = rules
        self.seed = seed
        self._lock = threading.Lock()
        rng = np.random.default_rng([seed, 0x5EED])
        size = min(net.node_count, _POOL_SIZE)
        self.stops: IntArray = np.sort(rng.choice(net.node_count, size=size, replace=False))
        self.depots: list[int] = list(range(min(max(depots, 1), size, _MAX_DEPOTS)))
        self.destinations = self._destinations(rng, long_haul)
        #: ``destinations`` as a table (rows padded with their first stop) and row lengths.
        self.destination_table: IntArray = np.array(
            [d + d[:1] * (_DESTINATIONS - len(d)) for d in self.destinations], dtype=np.int64
        ).reshape(len(self.destinations), -1)
        self.destination_count: IntArray = np.array([len(d) for d in self.destinations])
        self.profiles: dict[int, RouteProfile] = {}  # by route id, in profiling order
        self.records: dict[int, IntArray] = {}
        self._legs: dict[tuple[int, int], Leg] = {}
        n = self.stops.size
        self._known = np.zeros((n, n), dtype=np.bool_)
        self._leg_table = np.zeros((4, n, n))  # route, duration, length, heading per pair
        self._paths: dict[tuple[int, int], list[int]] = {}
        self._routed: dict[int, list[int]] = {}  # each source's routed targets, in order
        self.routing_seconds = 0.0
        self.profile_seconds = 0.0

    def _destinations(self, rng: np.random.Generator, long_haul: bool) -> list[list[int]]:
        """Each stop's usual next stops: near ones for a local round, far ones for long haul."""
        lon, lat = self.net.lon[self.stops], self.net.lat[self.stops]
        scale = np.cos(np.radians(lat.mean()))
        d2 = ((lon[:, None] - lon[None, :]) * scale) ** 2 + (lat[:, None] - lat[None, :]) ** 2
        order = np.argsort(d2, axis=1)[:, 1:]  # nearest first, self excluded
        n = order.shape[1]
        if n == 0:
            return [[0]]
        width = min(n, max(3 * _DESTINATIONS, n // 3))  # a third of the pool: varied legs
        band = order[:, n - width :] if long_haul else order[:, :width]
        picks = [rng.choice(row, size=min(_DESTINATIONS, row.size), replace=False) for row in band]
        return [sorted(int(x) for x in p) for p in picks]

    def next_stop(self, rnd: Uniform, stop: int) -> int:
        """One of the usual destinations of ``stop``, uniformly."""
        usual = self.destinations[stop]
        return usual[int(rnd.random() * len(usual))]

    def leg(self, a: int, b: int) -> Leg:
        """The routed, profiled trip from stop ``a`` to stop ``b`` (cached).

        A first leg from ``a`` profiles every route found from ``a`` in one batch: a vehicle
        there will take one of them next.
        """
        found = self._legs.get((a, b))
        if found is None:
            if (a, b) not in self._paths:
                self._route_from(a, b)
            self._profile([(a, t) for t in self._routed[a] if (a, t) not in self._legs])
            found = self._legs[(a, b)]
        return found

    def legs(self, a: IntArray, b: IntArray) -> LegArrays:
        """:meth:`leg` of many pairs: route ids, durations (s), lengths (m), headings (deg).

        Pairs not seen before are profiled in one batch (a route's profile does not depend
        on the batch: the same as :meth:`leg` gives).
        """
        missing = ~self._known[a, b]
        if missing.any():
            with self._lock:  # fleets on several threads may share a planner
                pairs = [
                    (x, y)
                    for x, y in np.unique(np.stack([a[missing], b[missing]]), axis=1).T.tolist()
                ]
                for x, y in pairs:
                    if (x, y) not in self._paths:
                        self._route_from(x, y)
                self._profile([p for p in pairs if p not in self._legs])
                for x, y in pairs:
                    leg = self._legs[(x, y)]
                    self._leg_table[:, x, y] = (leg.route, leg.duration, leg.length, leg.heading)
                    self._known[x, y] = True
        table = self._leg_table[:, a, b]
        return table[0].astype(np.int64), table[1].astype(np.int64), table[2], table[3]

    def _route_from(self, a: int, b: int) -> None:
        """One Dijkstra from ``a`` to all its usual destinations, the depots and ``b``."""
        targets = sorted({*self.destinations[a], *self.depots, b} - {a})
        start = time.perf_counter()
        paths = self.net.routes_from(int(self.stops[a]), [int(self.stops[t]) for t in targets])
        for target, path in zip(targets, paths, strict=True):
            if (a, target) not in self._paths:
                self._paths[(a, target)] = path
                self._routed.setdefault(a, []).append(target)
        self.routing_seconds += time.perf_counter() - start

    def _profile(self, pairs: list[tuple[int, int]]) -> None:
        """Profile the routed ``pairs`` (one batch) and note their legs."""
        if not pairs:
            return
        start = time.perf_counter()
        paths = [self._paths[p] for p in pairs]
        if not all(paths):
            raise SimulationError("a leg between two stops has no route (same vertex?)")
        n = self.stops.size
        for (a, b), profile in zip(pairs, route_profiles(self.net, paths), strict=True):
            route = a * n + b
            # records first: a fleet sharing this planner on another thread reads profiles
            self.records[route] = select_moving(
                self.rules, distance=profile.distance, heading=profile.heading
            )
            self.profiles[route] = profile
            self._legs[(a, b)] = Leg(
                route=route,
                duration=profile.duration,
                length=profile.length,
                heading=float(profile.heading[-1]),
            )
        self.profile_seconds += time.perf_counter() - start
