"""Per-vehicle random draws that vectorise: SplitMix64 streams, scalar and numpy twins.

Vehicle ``v`` of a fleet seeded ``seed`` owns the SplitMix64 stream keyed by
``(seed, v)``; its ``n``-th draw (counting from 0) is a hash of ``key + (n + 1) * golden``.
:class:`Draws` walks one stream in pure Python (the SimPy vehicles), :func:`uniforms` and
:func:`gausses` draw the next value of many streams at once with numpy (the vectorised
phase engine). Both use only integer arithmetic and correctly rounded float operations, so
they give bit-identical floats, and a vehicle's draws depend only on its own index: the
same whatever the shard or the order vehicles are simulated in.

The gaussian is the Irwin-Hall sum of twelve 16-bit uniforms (three draws) minus 6, which
is exact in floats: no ``log``/``cos`` whose last bit differs between ``math`` and numpy.

Examples
--------
>>> d = Draws(7, 3)
>>> a, b = d.random(), d.uniform(5.0, 20.0)
>>> u = uniforms(stream_keys(7, np.array([3])), np.array([0]))
>>> float(u[0]) == a, 0.0 <= a < 1.0, 5.0 <= b < 20.0
(True, True, True)
>>> g = gausses(stream_keys(7, np.array([3])), np.array([2]))
>>> float(g[0]) == d.gauss(0.0, 1.0), d.counter
(True, 5)
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["GAUSS_DRAWS", "Draws", "gausses", "stream_keys", "uniforms"]

_MASK: Final = 0xFFFFFFFFFFFFFFFF
_GOLDEN: Final = 0x9E3779B97F4A7C15
_M1: Final = 0xBF58476D1CE4E5B9
_M2: Final = 0x94D049BB133111EB
_DOMAIN: Final = 0x7E1EBE4C5EEDF00D  # keeps these streams apart from the sensor noise
_UNIT: Final = 2.0**-53
_IRWIN_HALL: Final = 12 * 65535 // 2 * 1.0  # 12 16-bit parts centred: (sum - 393210) / 2**16
#: Stream values one gaussian consumes.
GAUSS_DRAWS: Final = 3

U64 = npt.NDArray[np.uint64]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _mix(x: int) -> int:
    """splitmix64 finaliser on a Python int in [0, 2**64)."""
    x = ((x ^ (x >> 30)) * _M1) & _MASK
    x = ((x ^ (x >> 27)) * _M2) & _MASK
    return x ^ (x >> 31)


def _mix_array(x: U64) -> U64:
    """splitmix64 finaliser, uint64 arrays (their arithmetic wraps, as intended)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(_M1)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(_M2)
    out: U64 = x ^ (x >> np.uint64(31))
    return out


def _key(seed: int, vehicle: int) -> int:
    return _mix((_mix((seed ^ _DOMAIN) & _MASK) + vehicle * _GOLDEN) & _MASK)


def stream_keys(seed: int, vehicles: IntArray) -> U64:
    """The stream key of each vehicle (index) of a fleet seeded ``seed``."""
    base = np.array([_mix((seed ^ _DOMAIN) & _MASK)], dtype=np.uint64)
    return _mix_array(base + vehicles.astype(np.uint64) * np.uint64(_GOLDEN))


def _hash_array(keys: U64, counters: IntArray) -> U64:
    steps = counters.astype(np.uint64) + np.uint64(1)
    return _mix_array(keys + steps * np.uint64(_GOLDEN))


def uniforms(keys: U64, counters: IntArray) -> FloatArray:
    """Draw number ``counters[i]`` of stream ``keys[i]``: a uniform float in [0, 1)."""
    out: FloatArray = (_hash_array(keys, counters) >> np.uint64(11)).astype(np.float64) * _UNIT
    return out


def gausses(keys: U64, counters: IntArray) -> FloatArray:
    """Standard normal (Irwin-Hall) from draws ``counters[i]`` .. ``+ GAUSS_DRAWS - 1``."""
    total = np.zeros(keys.size, dtype=np.int64)
    for k in range(GAUSS_DRAWS):
        x = _hash_array(keys, counters + k)
        for shift in (0, 16, 32, 48):
            total += ((x >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.int64)
    out: FloatArray = (total - _IRWIN_HALL).astype(np.float64) / 65536.0
    return out


class Draws:
    """One vehicle's stream, the ``random.Random`` methods the vehicle uses."""

    def __init__(self, seed: int, vehicle: int) -> None:
        self.key = _key(seed, vehicle)
        self.counter = 0  # draws taken so far

    def _next(self) -> int:
        self.counter += 1
        return _mix((self.key + self.counter * _GOLDEN) & _MASK)

    def random(self) -> float:
        """A uniform float in [0, 1)."""
        return (self._next() >> 11) * _UNIT

    def uniform(self, a: float, b: float) -> float:
        """A uniform float in [a, b) (as ``random.uniform``: ``a + (b - a) * random()``)."""
        return a + (b - a) * self.random()

    def gauss(self, mu: float, sigma: float) -> float:
        """A normal draw (Irwin-Hall approximation, within 6 sigma)."""
        total = 0
        for _ in range(GAUSS_DRAWS):
            x = self._next()
            total += (x & 0xFFFF) + (x >> 16 & 0xFFFF) + (x >> 32 & 0xFFFF) + (x >> 48)
        return mu + (total - _IRWIN_HALL) / 65536.0 * sigma
