"""The vehicles' behaviour for the whole fleet at once: numpy masks instead of SimPy processes.

:class:`PhaseEngine` produces exactly the phases the :class:`~simulators.vehicle.Vehicle`
processes log (same draws from the same per-vehicle streams, same float operations), but
advances all vehicles in lock-step: each step, every vehicle that has not yet logged past
the requested time does its next action (a shift window, or one drive-and-halt of the
working loop, or the way home), so the Python work is per step (tens per day), never per
vehicle or per phase. The SimPy processes stay the reference model and drive the network
mode; the dry mode uses this engine.

Phases come out as :func:`simulators.records.phase_arrays` returns them (each vehicle's
in time order, vehicles interleaved).

Examples
--------
>>> from simulators.roads import load_network
>>> from simulators.scenario import ReportRules, ShiftPattern
>>> from simulators.planner import RoutePlanner
>>> planner = RoutePlanner(load_network(), ReportRules(), seed=0)
>>> engine = PhaseEngine(np.arange(3), 0, ShiftPattern(start_hour=0, jitter_minutes=0),
...                      planner, horizon=3600, day_offset=0)
>>> ph = engine.advance(3600)
>>> ph["kind"][ph["vehicle"] == 0][:3].tolist()  # parked until the shift, warm-up, trip
[0, 1, 2]
>>> bool((ph["t0"] <= 3600).any()), engine.advance(3600)["t0"].size
(True, 0)
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from simulators.draws import GAUSS_DRAWS, gausses, stream_keys, uniforms
from simulators.planner import RoutePlanner
from simulators.scenario import ShiftPattern
from simulators.vehicle import IDLE, PARK, PHASE_FIELDS, TRIP

__all__ = ["PhaseEngine"]

_DAY: Final = 86400
_KM: Final = 1000.0
_WINDOW, _WORK, _DONE = 0, 1, 2  # what a vehicle does next: its next shift, work, nothing

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class PhaseEngine:
    """The phases of ``vehicles`` (fleet indices), as their SimPy processes would log them."""

    def __init__(
        self,
        vehicles: IntArray,
        seed: int,
        shift: ShiftPattern,
        planner: RoutePlanner,
        *,
        horizon: int,
        day_offset: int,
    ) -> None:
        n = vehicles.size
        self.vehicle = vehicles.astype(np.int64)
        self.shift = shift
        self.planner = planner
        self.horizon = horizon
        self.day_offset = day_offset
        self.keys = stream_keys(seed, self.vehicle)
        self.counter = np.zeros(n, dtype=np.int64)  # draws taken per vehicle
        every = np.arange(n)
        self.depot = np.asarray(planner.depots, dtype=np.int64)[self.vehicle % len(planner.depots)]
        self.stop = self.depot.copy()
        self.odometer = self._uniform(every, 5_000, 250_000) * _KM
        self.heading = self._uniform(every, 0.0, 360.0)
        self.offset = self._gauss(every, 0.0, shift.jitter_minutes * 60.0)
        self.ignition = np.full(n, -1, dtype=np.int64)  # -1: nothing logged yet
        self.clock = np.zeros(n, dtype=np.int64)
        self.day = np.full(n, -1, dtype=np.int64)
        self.end = np.zeros(n, dtype=np.int64)  # end of the current shift
        self.mode = np.full(n, _WINDOW, dtype=np.int64)
        self.phases = 0  # logged so far: the next phase's id
        self._rows: list[tuple[npt.NDArray[Any], ...]] = []

    # -- draws: the vehicle's stream, one value per vehicle of ``idx`` ---------------------

    def _random(self, idx: IntArray) -> FloatArray:
        out = uniforms(self.keys[idx], self.counter[idx])
        self.counter[idx] += 1
        return out

    def _uniform(self, idx: IntArray, a: float, b: float) -> FloatArray:
        out: FloatArray = a + (b - a) * self._random(idx)  # as random.uniform
        return out

    def _gauss(self, idx: IntArray, mu: float, sigma: float) -> FloatArray:
        z = gausses(self.keys[idx], self.counter[idx])
        self.counter[idx] += GAUSS_DRAWS
        out: FloatArray = mu + z * sigma
        return out

    # -- logging -----------------------------------------------------------------------------

    def _log(
        self,
        idx: IntArray,
        kind: int,
        seconds: FloatArray | IntArray,
        *,
        route: IntArray | None = None,
        door: bool = False,
    ) -> None:
        """As ``Vehicle._log`` for the vehicles of ``idx``."""
        if idx.size == 0:
            return
        duration = seconds.astype(np.int64)
        duration[duration == 0] = 1  # int(seconds) or 1
        ignition = int(kind != PARK)
        event = (self.ignition[idx] != ignition) | (kind == TRIP)
        n = idx.size
        start = self.clock[idx]
        self._rows.append(
            (
                self.vehicle[idx], np.full(n, kind), start, start + duration,
                route if route is not None else np.full(n, -1), self.stop[idx], event,
                self.odometer[idx], self.heading[idx], np.full(n, door),
            )
        )  # fmt: skip
        self.ignition[idx] = ignition
        self.clock[idx] = start + duration

    def _drive(self, idx: IntArray, target: IntArray) -> None:
        route, duration, length, heading = self.planner.legs(self.stop[idx], target)
        self._log(idx, TRIP, duration, route=route)
        self.odometer[idx] += length
        self.heading[idx] = heading
        self.stop[idx] = target

    # -- behaviour -----------------------------------------------------------------------------

    def _windows(self, idx: IntArray) -> None:
        """The top of ``Vehicle.run``: next day's shift; park until it starts, warm up."""
        over = self.clock[idx] >= self.horizon
        self.mode[idx[over]] = _DONE
        idx = idx[~over]
        jitter = self._gauss(idx, 0.0, 600.0)
        # the same operations, in the same order, as Vehicle._window
        start = self.day[idx] * _DAY - self.day_offset + self.shift.start_hour * 3600
        start = start + self.offset[idx] + jitter
        first = start.astype(np.int64)
        end = (start + self.shift.hours * 3600).astype(np.int64)
        self.day[idx] += 1
        go = end > self.clock[idx]
        idx, first, end = idx[go], first[go], end[go]
        late = first > self.clock[idx]
        self._log(idx[late], PARK, first[late] - self.clock[idx[late]])
        self._log(idx, IDLE, self._uniform(idx, 30, 120))
        self.end[idx] = end
        self.mode[idx] = _WORK

    def _halt(self, idx: IntArray) -> None:
        """As ``Vehicle._halt``: a short idling stop or a delivery (idle, park, idle)."""
        shift = self.shift
        short = self._random(idx) < shift.stop_probability
        brief, deliver = idx[short], idx[~short]
        lo, hi = shift.stop_seconds
        self._log(brief, IDLE, lo + (hi - lo) * self._random(brief))
        lo, hi = shift.delivery_minutes
        self._log(deliver, IDLE, 3 + 17 * self._random(deliver))
        self._log(deliver, PARK, (lo + (hi - lo) * self._random(deliver)) * 60, door=True)
        self._log(deliver, IDLE, 10 + 50 * self._random(deliver))

    def _work(self, idx: IntArray) -> None:
        """One pass of ``Vehicle._work``'s loop, or its ending (home, cool down)."""
        clock = self.clock[idx]
        going = (clock < self.end[idx]) & (clock < self.horizon)
        drive, finish = idx[going], idx[~going]
        if drive.size:
            stop = self.stop[drive]
            pick = (self._random(drive) * self.planner.destination_count[stop]).astype(np.int64)
            self._drive(drive, self.planner.destination_table[stop, pick])
            self._halt(drive[self.clock[drive] < self.end[drive]])
        away = (self.stop[finish] != self.depot[finish]) & (self.clock[finish] < self.horizon)
        home = finish[away]
        self._log(home, IDLE, self._uniform(home, 5, 20))  # never a trip right after a trip
        if home.size:
            self._drive(home, self.depot[home])
        self._log(finish, IDLE, self._uniform(finish, 5, 30))
        self.mode[finish] = _WINDOW

    def advance(self, t_sim: int) -> dict[str, Any]:
        """Log until every vehicle has logged past ``t_sim`` (or is done): the new phases."""
        while True:
            busy = np.flatnonzero((self.mode != _DONE) & (self.clock <= t_sim))
            if busy.size == 0:
                break
            mode = self.mode[busy]
            self._windows(busy[mode == _WINDOW])
            self._work(busy[mode == _WORK])
        return self._take()

    def _take(self) -> dict[str, Any]:
        """The phases logged since the last call, numbered (each vehicle's in time order)."""
        rows, self._rows = self._rows, []
        if rows:
            cols = [np.concatenate(c) for c in zip(*rows, strict=True)]
        else:
            empty = (np.int64,) * 6 + (np.bool_, np.float64, np.float64, np.bool_)
            cols = [np.zeros(0, dtype=t) for t in empty]
        out = dict(zip(PHASE_FIELDS, cols, strict=True))
        n = cols[0].size
        out["id"] = np.arange(self.phases, self.phases + n, dtype=np.int64)
        self.phases += n
        return out
