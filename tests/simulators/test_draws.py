"""Per-vehicle draws: the pure-Python stream and its numpy twin agree bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.draws import GAUSS_DRAWS, Draws, gausses, stream_keys, uniforms

SEEDS = [0, 1, 7, 2**63 + 5, 2**64 - 1]


@pytest.mark.parametrize("seed", SEEDS)
def test_scalar_and_numpy_draws_are_bit_identical(seed: int) -> None:
    vehicles = np.array([0, 1, 2, 999, 123_456])
    keys = stream_keys(seed, vehicles)
    for i, v in enumerate(vehicles.tolist()):
        d = Draws(seed, v)
        expected = [d.random(), d.uniform(5.0, 20.0), d.gauss(0.0, 600.0), d.random()]
        counters = np.array([0, 1, 2, 2 + GAUSS_DRAWS])
        u = uniforms(np.repeat(keys[i : i + 1], 4), counters)
        got = [
            float(u[0]),
            5.0 + (20.0 - 5.0) * float(u[1]),
            0.0 + float(gausses(keys[i : i + 1], counters[2:3])[0]) * 600.0,
            float(u[3]),
        ]
        assert got == expected  # exact floats, not approximately
        assert d.counter == 3 + GAUSS_DRAWS


def test_streams_depend_on_seed_and_vehicle_only() -> None:
    a = uniforms(stream_keys(3, np.arange(50)), np.zeros(50, dtype=np.int64))
    b = uniforms(stream_keys(3, np.arange(50)[::-1]), np.zeros(50, dtype=np.int64))[::-1]
    assert np.array_equal(a, b)  # a vehicle's draws do not depend on who else is drawn
    assert np.unique(a).size == 50
    c = uniforms(stream_keys(4, np.arange(50)), np.zeros(50, dtype=np.int64))
    assert not np.array_equal(a, c)


def test_uniform_and_gaussian_distributions() -> None:
    keys = stream_keys(11, np.arange(40_000))
    u = uniforms(keys, np.arange(40_000))
    assert u.min() >= 0.0
    assert u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01
    z = gausses(keys, np.zeros(40_000, dtype=np.int64))
    assert abs(z.mean()) < 0.03
    assert abs(z.std() - 1.0) < 0.02
    assert 0.040 < float((np.abs(z) > 2).mean()) < 0.051  # normal: 0.0455
    assert np.abs(z).max() <= 6.0  # Irwin-Hall: bounded
