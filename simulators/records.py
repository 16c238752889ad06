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
from simulators.vehicle import IDLE, PHASE_FIELDS, TRIP, PhaseLog

__all__ = ["RecordBatch", "Templates", "materialise"]

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
    """The recorded samples of every routed leg, concatenated (grown as routes appear)."""

    def __init__(self) -> None:
        self.routes = 0
        self.start: IntArray = np.zeros(0, dtype=np.int64)
        self.count: IntArray = np.zeros(0, dtype=np.int64)
        self.arrays: dict[str, FloatArray] = {}
        self.last: IntArray = np.zeros(0, dtype=np.int64)

    def update(self, planner: RoutePlanner) -> None:
        """Append the routes the planner profiled since the last update."""
        new = range(self.routes, len(planner.profiles))
        if not new:
            return
        parts: dict[str, list[FloatArray]] = {k: [] for k in ("t", "lon", "lat", "v", "h", "d")}
        counts = []
        for r in new:
            prof, idx = planner.profiles[r], planner.records[r]
            counts.append(idx.size)
            parts["t"].append(idx.astype(np.float64))
            parts["lon"].append(prof.lon[idx])
            parts["lat"].append(prof.lat[idx])
            parts["v"].append(prof.speed[idx])
            parts["h"].append(prof.heading[idx])
            parts["d"].append(prof.distance[idx])
        total = int(self.count.sum())
        count = np.asarray(counts, dtype=np.int64)
        self.start = np.concatenate([self.start, total + np.cumsum(count) - count])
        self.count = np.concatenate([self.count, count])
        self.last = self.start + self.count - 1
        for key, chunks in parts.items():
            self.arrays[key] = np.concatenate([self.arrays.get(key, np.zeros(0)), *chunks])
        self.routes = len(planner.profiles)


def _spread(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For groups of ``counts`` items: each item's group and its rank within the group."""
    group = np.repeat(np.arange(counts.size), counts)
    rank = np.arange(group.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return group, rank


def _trips(ph: dict[str, Any], sel: IntArray, tpl: Templates) -> RecordBatch:
    if sel.size == 0:
        return RecordBatch.empty()
    route = ph["route"][sel]
    group, rank = _spread(tpl.count[route])
    src = tpl.start[route][group] + rank
    a = tpl.arrays
    p = sel[group]
    n = src.size
    return RecordBatch(
        vehicle=ph["vehicle"][p],
        t=ph["t0"][p] + a["t"][src].astype(np.int64),
        phase=ph["id"][p],
        kind=np.full(n, TRIP, dtype=np.int64),
        lon=a["lon"][src],
        lat=a["lat"][src],
        speed=a["v"][src],
        heading=a["h"][src],
        odometer=ph["odometer"][p] + a["d"][src],
        ignition=np.ones(n, dtype=np.bool_),
        movement=src != tpl.last[route][group],
        door=np.zeros(n, dtype=np.bool_),
    )


def _stationary(
    ph: dict[str, Any], sel: IntArray, period: int, lon: FloatArray, lat: FloatArray
) -> RecordBatch:
    span = ph["t1"][sel] - ph["t0"][sel]
    event = ph["event"][sel]
    counts = -(-span // period) - np.where(event, 0, 1)
    group, rank = _spread(np.maximum(counts, 0))
    p = sel[group]
    stop = ph["stop"][p]
    n = p.size
    return RecordBatch(
        vehicle=ph["vehicle"][p],
        t=ph["t0"][p] + (rank + np.where(ph["event"][p], 0, 1)) * period,
        phase=ph["id"][p],
        kind=ph["kind"][p],
        lon=lon[stop],
        lat=lat[stop],
        speed=np.zeros(n),
        heading=ph["heading"][p],
        odometer=ph["odometer"][p],
        ignition=ph["kind"][p] == IDLE,
        movement=np.zeros(n, dtype=np.bool_),
        door=ph["door"][p],
    )


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


def materialise(
    ph: dict[str, Any], planner: RoutePlanner, tpl: Templates, *, period: int, horizon: int
) -> RecordBatch:
    """All records of the phases in ``ph`` (true state), sorted by (vehicle, time)."""
    if ph["t0"].size == 0:
        return RecordBatch.empty()
    tpl.update(planner)
    is_trip = ph["kind"] == TRIP
    lon = planner.net.lon[planner.stops]
    lat = planner.net.lat[planner.stops]
    batch = RecordBatch.concat(
        [
            _trips(ph, np.flatnonzero(is_trip), tpl),
            _stationary(ph, np.flatnonzero(~is_trip), period, lon, lat),
        ]
    )
    batch = batch.select(batch.t <= horizon)
    return batch.select(np.lexsort((batch.t, batch.vehicle)))
