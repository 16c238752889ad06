"""Tracker reporting: when a record is made, and which parameters each protocol can carry.

Teltonika-style rules: while moving a record is made when the period, the distance or the
heading change since the last record reaches its threshold (whichever comes first); while
stationary every ``parked_period_s``; and an event record whenever ignition or movement
changes (so every trip starts and ends with a record).

Examples
--------
>>> import numpy as np
>>> from simulators.scenario import ReportRules
>>> t = np.arange(101.0)
>>> select_moving(ReportRules(period_s=30, distance_m=1e9, angle_deg=360),
...               distance=t * 5, heading=np.zeros(101)).tolist()
[0, 30, 60, 90, 100]
>>> stationary_offsets(0, 1300, 600, event=True).tolist()
[0, 600, 1200]
>>> sorted(PROTOCOL_PARAMS["gt06"])[:3]
['engine.ignition.status', 'position.direction', 'position.latitude']
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Final

import numpy as np
import numpy.typing as npt

from simulators.scenario import ReportRules

__all__ = [
    "COLUMNS",
    "PROTOCOL_PARAMS",
    "select_moving",
    "stationary_offsets",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_POSITION: Final = (
    "position.latitude",
    "position.longitude",
    "position.speed",
    "position.direction",
    "position.satellites",
    "position.valid",
)
_COMMON: Final = (*_POSITION, "engine.ignition.status", "vehicle.mileage")

#: Parameters each simulated protocol carries (its encoder accepts them and its decoder
#: gives them back unchanged, after the rounding in :mod:`simulators.sensors`).
PROTOCOL_PARAMS: Final[dict[str, frozenset[str]]] = {
    "teltonika": frozenset(
        {
            *_COMMON,
            "position.altitude",
            "position.hdop",
            "movement.status",
            "external.powersource.voltage",
            "battery.voltage",
            "gsm.signal.level",
            "din.1",
            "din.2",
            "din.3",
        }
    ),
    "wialon_ips": frozenset(
        {
            *_COMMON,
            "position.altitude",
            "position.hdop",
            "external.powersource.voltage",
            "battery.voltage",
            "din",
        }
    ),
    "gt06": frozenset(_COMMON),
}

#: Every column a simulated message can have, in output order (after ``ident``, ``timestamp``).
COLUMNS: Final = (
    *_POSITION[:2],
    "position.altitude",
    *_POSITION[2:],
    "position.hdop",
    "engine.ignition.status",
    "movement.status",
    "external.powersource.voltage",
    "battery.voltage",
    "vehicle.mileage",
    "gsm.signal.level",
    "din",
    "din.1",
    "din.2",
    "din.3",
)


def _angle_index(head: list[float], turns: list[int], i: int, stop: int, limit: float) -> int:
    """First j in (i, stop] whose heading differs from head[i] by >= limit, else stop + 1.

    Headings only change where the route turns onto another edge (``turns``, sorted), so
    only those samples are compared.
    """
    ref = head[i]
    for k in range(bisect_right(turns, i), len(turns)):
        j = turns[k]
        if j > stop:
            break
        if abs((head[j] - ref + 180.0) % 360.0 - 180.0) >= limit:
            return j
    return stop + 1


def select_moving(rules: ReportRules, *, distance: FloatArray, heading: FloatArray) -> IntArray:
    """Sample indices (1 s apart) a tracker records on a trip: start, rule hits, arrival.

    The departure and the arrival are event records (movement starts, movement stops);
    between them whichever of period, distance and heading change fires first.
    """
    dist: list[float] = distance.tolist()
    head: list[float] = heading.tolist()
    turns: list[int] = (np.flatnonzero(np.diff(heading)) + 1).tolist()
    last = len(dist) - 1
    out = [0]
    i = 0
    while True:
        nxt = min(i + rules.period_s, bisect_left(dist, dist[i] + rules.distance_m, lo=i + 1))
        nxt = min(nxt, _angle_index(head, turns, i, min(nxt, last) - 1, rules.angle_deg))
        if nxt >= last:
            break
        out.append(nxt)
        i = nxt
    if last > 0:
        out.append(last)
    return np.asarray(out, dtype=np.int64)


def stationary_offsets(t0: int, t1: int, period: int, *, event: bool) -> IntArray:
    """Record times in [t0, t1) while stationary: t0 if it is an event, then every period.

    Examples
    --------
    >>> stationary_offsets(100, 250, 60, event=False).tolist()
    [160, 220]
    """
    first = t0 if event else t0 + period
    return np.arange(first, t1, period, dtype=np.int64)
