"""The demo's geofences: the fleet's depots, a few customer sites and the town centre.

They are drawn from the simulated fleet's own road network (depots and usual stops of its
route planner), so vehicles really enter and leave them, and written as a GeoJSON
FeatureCollection of polygons that both the calculators and the simulator's ground truth
read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
import shapely.geometry

from telebench.calc import circle

if TYPE_CHECKING:
    from simulators.fleet import Fleet

__all__ = ["demo_fences", "write_fences"]

_DEPOT_RADIUS_M = 300.0
_SITE_RADIUS_M = 150.0
_SITES = 8


def demo_fences(fleet: Fleet, seed: int = 0) -> dict[str, Any]:
    """``{name: lon/lat polygon}``: depots, customer sites, the centre of the road network."""
    net, planner = fleet.network, fleet.planner
    shapes: dict[str, Any] = {}
    for i, depot in enumerate(planner.depots):
        node = int(planner.stops[depot])
        shapes[f"depot-{i + 1}"] = circle(
            float(net.lat[node]), float(net.lon[node]), _DEPOT_RADIUS_M
        )
    rng = np.random.default_rng([seed, 0xFE4CE])
    candidates = np.setdiff1d(np.arange(planner.stops.size), planner.depots)
    picks = rng.choice(candidates, size=min(_SITES, candidates.size), replace=False)
    for i, stop in enumerate(sorted(int(p) for p in picks)):
        node = int(planner.stops[stop])
        shapes[f"site-{i + 1}"] = circle(float(net.lat[node]), float(net.lon[node]), _SITE_RADIUS_M)
    # The middle ninth of the network's extent: busy, crossed often, a plain polygon.
    lon0, lon1 = np.quantile(net.lon, [1 / 3, 2 / 3])
    lat0, lat1 = np.quantile(net.lat, [1 / 3, 2 / 3])
    shapes["centre"] = shapely.box(float(lon0), float(lat0), float(lon1), float(lat1))
    return shapes


def write_fences(shapes: dict[str, Any], path: Path) -> Path:
    """Write ``shapes`` as a GeoJSON FeatureCollection (``name`` property per feature)."""
    features = [
        {
            "type": "Feature",
            "properties": {"name": name},
            "geometry": shapely.geometry.mapping(geom),
        }
        for name, geom in shapes.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path
