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
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from simulators.kinematics import RouteProfile, route_profile
from simulators.reporting import select_moving
from simulators.roads import RoadNetwork
from simulators.scenario import ReportRules
from telebench.errors import SimulationError

__all__ = ["Leg", "RoutePlanner"]

_POOL_SIZE: Final = 256
_DESTINATIONS: Final = 6
_MAX_DEPOTS: Final = 8
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Leg:
    """A routed trip between two pool stops (``route`` indexes ``RoutePlanner.profiles``)."""

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
        rng = np.random.default_rng([seed, 0x5EED])
        size = min(net.node_count, _POOL_SIZE)
        self.stops: IntArray = np.sort(rng.choice(net.node_count, size=size, replace=False))
        self.depots: list[int] = list(range(min(max(depots, 1), size, _MAX_DEPOTS)))
        self.destinations = self._destinations(rng, long_haul)
        self.profiles: list[RouteProfile] = []
        self.records: list[IntArray] = []
        self._legs: dict[tuple[int, int], Leg] = {}
        self._paths: dict[tuple[int, int], list[int]] = {}
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

    def next_stop(self, rnd: random.Random, stop: int) -> int:
        """One of the usual destinations of ``stop``, uniformly."""
        usual = self.destinations[stop]
        return usual[int(rnd.random() * len(usual))]

    def leg(self, a: int, b: int) -> Leg:
        """The routed, profiled trip from stop ``a`` to stop ``b`` (cached)."""
        found = self._legs.get((a, b))
        if found is None:
            path = self._paths.get((a, b))
            if path is None:
                self._route_from(a, b)
                path = self._paths[(a, b)]
            start = time.perf_counter()
            found = self._legs[(a, b)] = self._profile(path)
            self.profile_seconds += time.perf_counter() - start
        return found

    def _route_from(self, a: int, b: int) -> None:
        """One Dijkstra from ``a`` to all its usual destinations, the depots and ``b``."""
        targets = sorted({*self.destinations[a], *self.depots, b} - {a})
        start = time.perf_counter()
        paths = self.net.routes_from(int(self.stops[a]), [int(self.stops[t]) for t in targets])
        for target, path in zip(targets, paths, strict=True):
            self._paths.setdefault((a, target), path)
        self.routing_seconds += time.perf_counter() - start

    def _profile(self, path: list[int]) -> Leg:
        if not path:
            raise SimulationError("a leg between two stops has no route (same vertex?)")
        profile = route_profile(self.net, path)
        self.profiles.append(profile)
        self.records.append(
            select_moving(self.rules, distance=profile.distance, heading=profile.heading)
        )
        return Leg(
            route=len(self.profiles) - 1,
            duration=profile.duration,
            length=profile.length,
            heading=float(profile.heading[-1]),
        )
