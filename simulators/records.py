"""From logged phases to the records trackers make, with their true state (vectorised).

A trip's record offsets are fixed by its route (an event record resets the reporting rules
at departure), so each routed leg's recorded samples are concatenated once into
:class:`Templates` and every trip is a gather from them. Stationary phases record every
``parked_period_s`` (and at their start when it is an ignition change).

Examples
--------
>>> b = RecordBatch.empty()
>>> len(b), b.t.dtype.name
(0, 'int64')
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from simulators.planner import RoutePlanner
from simulators.vehicle import PARK, PHASE_FIELDS, TRIP, PhaseLog

__all__ = ["RecordBatch", "Templates", "materialise", "phase_arrays", "stable_order"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class RecordBatch:
    """Records with their true (noise-free) state, one array element per record."""

    vehicle: IntArray
    t: IntArray  # sim seconds
    phase: IntArray  # global phase number
    kind: IntArray
    lon: FloatArray
    lat: FloatArray
    speed: FloatArray  # m/s
    heading: FloatArray
    odometer: FloatArray  # metres
    ignition: BoolArray
    movement: BoolArray
    door: BoolArray

    def __len__(self) -> int:
        return int(self.t.size)

    @classmethod
    def empty(cls) -> RecordBatch:
        """A batch with no records."""
        kinds: dict[str, Any] = {"f": np.float64, "b": np.bool_, "i": np.int64}
        dtypes = {f.name: kinds[_KIND[f.name]] for f in fields(cls)}
        return cls(**{name: np.empty(0, dtype=dt) for name, dt in dtypes.items()})

    def select(self, index: IntArray | BoolArray) -> RecordBatch:
        """The records at ``index`` (an index array or a boolean mask)."""
        return RecordBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[RecordBatch]) -> RecordBatch:
        """All records of ``parts`` in order."""
        if not parts:
            return cls.empty()
        names = [f.name for f in fields(cls)]
        return cls(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})


_KIND = {
    "vehicle": "i", "t": "i", "phase": "i", "kind": "i", "lon": "f", "lat": "f", "speed": "f",
    "heading": "f", "odometer": "f", "ignition": "b", "movement": "b", "door": "b",
}  # fmt: skip


class Templates:
    """The recorded samples of every routed leg, concatenated (grown as routes appear).

    The first entries are the planner's stops (a standing record is a "template" of one
    sample at its stop); ``start``, ``count`` and ``last`` are indexed by route id (see
    ``planner.Leg``). ``key`` (a segment number times 2**32 plus the sample's second)
    increases along the arrays, so one ``searchsorted`` counts any route's samples up to
    any second.
    """

    def __init__(self) -> None:
        self.routes = 0  # routes of the planner taken so far
        self.start: IntArray = np.zeros(0, dtype=np.int64)
        self.count: IntArray = np.zeros(0, dtype=np.int64)
        self.last: IntArray = np.zeros(0, dtype=np.int64)
        self.segment: IntArray = np.zeros(0, dtype=np.int64)
        self.arrays: dict[str, FloatArray] = {}
        self.offset: IntArray = np.zeros(0, dtype=np.int64)
        self.key: IntArray = np.zeros(0, dtype=np.int64)

    def update(self, planner: RoutePlanner) -> None:
        """Append the routes the planner profiled since the last update."""
        if self.arrays and len(planner.profiles) == self.routes:
            return
        new = list(planner.profiles)[self.routes :]
        names = ("t", "lon", "lat", "v", "h", "d")
        parts: dict[str, list[FloatArray]] = {k: [] for k in names}
        if not self.arrays:  # the stops: one standing sample each
            zero = np.zeros(planner.stops.size)
            at = planner.stops
            for k, first in zip(names, (zero, planner.net.lon[at], planner.net.lat[at]),
                                strict=False):  # fmt: skip
                parts[k].append(first)
            for k in names[3:]:
                parts[k].append(zero)
        for r in new:
            prof, idx = planner.profiles[r], planner.records[r]
            parts["t"].append(idx.astype(np.float64))
            for k, values in zip(names[1:], (prof.lon, prof.lat, prof.speed, prof.heading,
                                             prof.distance), strict=True):  # fmt: skip
                parts[k].append(values[idx])
        count = np.array([planner.records[r].size for r in new], dtype=np.int64)
        size = max(self.start.size, max(new, default=0) + 1)
        self.start, self.count, self.segment = (
            np.pad(x, (0, size - x.size)) for x in (self.start, self.count, self.segment)
        )
        total = self.offset.size if self.arrays else planner.stops.size
        self.start[new] = total + np.cumsum(count) - count
        self.count[new] = count
        self.segment[new] = np.arange(self.routes + 1, self.routes + 1 + len(new))
        self.last = self.start + self.count - 1
        for k, chunks in parts.items():
            self.arrays[k] = np.concatenate([self.arrays.get(k, np.zeros(0)), *chunks])
        self.offset = self.arrays["t"].astype(np.int64)
        segment = np.repeat(self.segment[new], count)
        added = self.offset[self.offset.size - segment.size :] + (segment << 32)
        stops = np.zeros(total if not self.key.size else 0, dtype=np.int64)
        self.key = np.concatenate([self.key, stops, added])
        self.routes += len(new)  # not len(profiles): another thread may have added some

    def upto(self, route: IntArray, seconds: IntArray) -> IntArray:
        """How many samples of each ``route`` are at most ``seconds`` after its start."""
        x = (self.segment[route] << 32) + np.clip(seconds, -1, 2**32 - 1)
        found: IntArray = np.searchsorted(self.key, x, side="right") - self.start[route]
        return found


def stable_order(values: IntArray, bound: int) -> IntArray:
    """``argsort(values, kind="stable")`` for values in ``[0, bound)``: a radix sort if small.

    Examples
    --------
    >>> stable_order(np.array([2, 0, 2, 1]), 3).tolist()
    [1, 3, 0, 2]
    """
    small = values.astype(np.uint16) if bound <= 1 << 16 else values
    order: IntArray = np.argsort(small, kind="stable")
    return order


def _spread(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For groups of ``counts`` items: each item's group and its rank within the group."""
    group = np.repeat(np.arange(counts.size), counts)
    rank = np.arange(group.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return group, rank


def phase_arrays(log: PhaseLog, first_id: int) -> dict[str, Any]:
    """The log's phases as one numpy array per field, plus each phase's global ``id``."""
    flat = np.array(log.rows, dtype=np.float64).reshape(-1, len(PHASE_FIELDS))
    types = (np.int64,) * 6 + (np.bool_, np.float64, np.float64, np.bool_)
    out: dict[str, Any] = {
        name: flat[:, i].astype(dt)
        for i, (name, dt) in enumerate(zip(PHASE_FIELDS, types, strict=True))
    }
    out["id"] = np.arange(first_id, first_id + flat.shape[0], dtype=np.int64)
    return out


def _counts(
    ph: dict[str, Any], trip: BoolArray, route: IntArray, tpl: Templates, period: int, upto: int
) -> IntArray:
    """Records of each phase made at most at sim second ``upto``.

    A trip records at its route's sample seconds; a standing phase every ``period`` s from
    its start (from one period in when it starts without an event), until it ends.
    """
    t0, t1 = ph["t0"], ph["t1"]
    later = np.where(ph["event"], 0, 1)
    total = np.maximum(-(-(t1 - t0) // period) - later, 0)
    standing = np.clip((upto - t0) // period - later + 1, 0, total)
    counts = np.where(trip, np.where(t1 <= upto, tpl.count[route], 0), standing)
    mid = np.flatnonzero(trip & (t0 <= upto) & (upto < t1))  # trips under way at upto
    counts[mid] = tpl.upto(route[mid], upto - t0[mid])
    return counts


def materialise(
    ph: dict[str, Any], planner: RoutePlanner, tpl: Templates, *, period: int,
    window: tuple[int, int], vehicles: int,
) -> tuple[RecordBatch, IntArray]:  # fmt: skip
    """The records of the phases in ``ph`` made in sim seconds ``(window[0], window[1]]``.

    ``ph`` must hold each vehicle's phases in time order (vehicles interleaved, indices
    below ``vehicles``). The records come sorted by time, then vehicle; the second array
    holds where each is in (vehicle, time) order: ``batch.select(by_vehicle)`` is sorted
    by (vehicle, time).
    """
    if ph["t0"].size == 0:
        return RecordBatch.empty(), np.zeros(0, dtype=np.int64)
    tpl.update(planner)
    lo, hi = window
    trip = ph["kind"] == TRIP
    route = np.where(trip, ph["route"], 0)
    # records are spread phase by phase in (vehicle, start) order: by (vehicle, time)
    order = stable_order(ph["vehicle"], vehicles)
    first = _counts(ph, trip, route, tpl, period, lo)[order]
    group, rank = _spread(_counts(ph, trip, route, tpl, period, hi)[order] - first)
    rank += first[group]
    group = order[group]
    # per phase: record k is template sample base + k * step, at second t0 + offset +
    # (k + later) * every (trips: step 1, every 0; standing: step 0, every period)
    base = np.where(trip, tpl.start[route], ph["stop"])  # first template sample
    every = np.where(trip, 0, period)
    start = ph["t0"] + np.where(trip | ph["event"], 0, every)
    src = base[group] + rank * trip[group]
    t = start[group] + tpl.offset[src] + rank * every[group]
    # a stable sort by time: records of one second stay in vehicle order
    by_time = stable_order(t - (lo + 1), hi - lo)
    by_vehicle = np.empty_like(by_time)
    by_vehicle[by_time] = np.arange(by_time.size)
    group, src = group[by_time], src[by_time]
    seconds = np.bincount(t - (lo + 1), minlength=hi - lo)  # sorted t without a gather
    last = np.where(trip, tpl.last[route], base)
    a = tpl.arrays
    kind = ph["kind"][group]
    batch = RecordBatch(
        vehicle=ph["vehicle"][group],
        t=np.repeat(np.arange(lo + 1, hi + 1), seconds),
        phase=ph["id"][group],
        kind=kind,
        lon=a["lon"][src],
        lat=a["lat"][src],
        speed=a["v"][src],
        # standing samples (a stop's template) have heading 0: add the phase's own
        heading=a["h"][src] + np.where(trip, 0.0, ph["heading"])[group],
        odometer=ph["odometer"][group] + a["d"][src],
        ignition=kind != PARK,
        movement=src != last[group],
        door=ph["door"][group],
    )
    return batch, by_vehicle
