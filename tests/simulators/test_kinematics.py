"""Trip profiles: speed limits, acceleration and braking, distance and positions."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.kinematics import ACCELERATION, DECELERATION, route_profile
from simulators.roads import RoadNetwork, load_network


@pytest.fixture(scope="module")
def net() -> RoadNetwork:
    return load_network()


def test_profiles_respect_limits_and_dynamics(net: RoadNetwork) -> None:
    rng = np.random.default_rng(3)
    for a, b in rng.integers(0, net.node_count, size=(15, 2)).tolist():
        path = net.route(a, b)
        if not path:
            continue
        p = route_profile(net, path)
        dv = np.diff(p.speed)
        assert dv.max() <= ACCELERATION + 1e-6
        assert dv.min() >= -DECELERATION - 0.5  # sampling the last second may brake harder
        assert p.speed.max() <= net.edge_speed[path].max() + 1e-9
        assert (np.diff(p.distance) >= 0).all()
        assert p.distance[-1] == pytest.approx(net.edge_length[path].sum())
        assert p.speed[0] == 0
        assert p.speed[-1] == 0
        step = np.hypot(np.diff(p.lon) * 55_000, np.diff(p.lat) * 111_000)
        assert step.max() < p.speed.max() + 5  # no teleporting between seconds
        end = int(net.edge_dst[path[-1]])
        assert (p.lon[-1], p.lat[-1]) == pytest.approx((net.lon[end], net.lat[end]))


def test_slower_pace_takes_longer(net: RoadNetwork) -> None:
    path = max((net.route(0, b) for b in range(1, net.node_count, 97)), key=len)
    assert route_profile(net, path, pace=0.5).duration > route_profile(net, path).duration
