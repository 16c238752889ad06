"""Road networks: the bundled extract loads offline, routes are contiguous, caching works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulators.roads import ATTRIBUTION, bundled_osm_path, load_network
from telebench.errors import ConfigError, SimulationError

ANDORRA = Path(__file__).resolve().parents[3] / "shared" / "osm" / "andorra.osm.pbf"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache per module: the first load parses, the others read the cache."""
    return tmp_path_factory.mktemp("osm-cache")


def test_bundled_extract_loads_offline_and_is_strongly_connected(cache: Path) -> None:
    net = load_network(cache_dir=cache)
    assert bundled_osm_path().name == "Helsinki.osm.pbf"
    assert net.node_count > 500
    assert net.graph.is_connected(mode="strong")
    assert net.graph.vcount() == net.node_count == net.lat.size
    assert (net.edge_length > 0).all()
    assert (net.edge_speed * 3.6 >= 10).all()
    assert set(net.class_names) >= {"primary", "residential"}
    assert 59.9 < float(net.lat.mean()) < 60.4
    assert list(cache.glob("*.npz")), "the parsed network is cached"


def test_cache_gives_the_same_network(cache: Path) -> None:
    first = load_network(cache_dir=None)
    second = load_network(cache_dir=cache)
    np.testing.assert_array_equal(first.edge_src, second.edge_src)
    np.testing.assert_array_equal(first.edge_length, second.edge_length)
    np.testing.assert_array_equal(first.lon, second.lon)


def test_routes_are_contiguous_fastest_paths(cache: Path) -> None:
    net = load_network(cache_dir=cache)
    rng = np.random.default_rng(0)
    for a, b in rng.integers(0, net.node_count, size=(20, 2)).tolist():
        path = net.route(a, b)
        if a == b:
            assert path == []
            continue
        assert int(net.edge_src[path[0]]) == a
        assert int(net.edge_dst[path[-1]]) == b
        assert (net.edge_dst[path[:-1]] == net.edge_src[path[1:]]).all()


def test_missing_and_broken_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_network(tmp_path / "nope.osm.pbf", cache_dir=tmp_path)
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"not a pbf at all")
    with pytest.raises(SimulationError, match=r"broken\.osm\.pbf"):
        load_network(broken, cache_dir=tmp_path)


def test_attribution_names_openstreetmap() -> None:
    assert "© OpenStreetMap contributors" in ATTRIBUTION
    assert "ODbL" in ATTRIBUTION


@pytest.mark.skipif(not ANDORRA.is_file(), reason="../shared/osm/andorra.osm.pbf is absent")
def test_andorra_extract(tmp_path: Path) -> None:
    net = load_network(ANDORRA, cache_dir=tmp_path)
    assert net.node_count > 5000
    assert net.total_length_km > 400  # both directions of ~400 km of road
    assert 42.4 < float(net.lat.mean()) < 42.7
    path = net.route(0, net.node_count // 2)
    assert float(net.edge_length[path].sum()) > 0
