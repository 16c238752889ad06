"""Vehicle behaviour as SimPy processes: shifts, trips, stops, deliveries, overnight parking.

Each vehicle is one SimPy process (sim time in whole seconds) that only decides *what* it
does next and logs the phase (park, idle or trip) to a :class:`PhaseLog`. Positions,
sensors and records of all phases are produced later, vectorised, by the fleet: that keeps
the per-vehicle Python work to a few calls per phase.

Phases: ``PARK`` (ignition off: overnight, deliveries), ``IDLE`` (ignition on, standing:
warm-up, short stops, cool-down) and ``TRIP`` (driving a routed leg). ``event`` marks a
phase that starts with an ignition or movement change, i.e. with an event record.

Examples
--------
>>> import simpy
>>> from simulators.draws import Draws
>>> from simulators.roads import load_network
>>> from simulators.scenario import ReportRules, ShiftPattern
>>> from simulators.planner import RoutePlanner
>>> env, log = simpy.Environment(), PhaseLog()
>>> planner = RoutePlanner(load_network(), ReportRules(), seed=0)
>>> car = Vehicle(0, Draws(0, 0), ShiftPattern(start_hour=0, jitter_minutes=0), planner,
...               log, horizon=3600, day_offset=0)
>>> _ = env.process(car.run(env))
>>> env.run(until=3600)
>>> log.rows[1], log.rows[len(PHASE_FIELDS) + 1]  # parked until the shift, warming up
(0, 1)
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Final

import simpy

from simulators.draws import Draws
from simulators.planner import RoutePlanner
from simulators.scenario import ShiftPattern

__all__ = ["IDLE", "PARK", "PHASE_FIELDS", "TRIP", "PhaseLog", "Vehicle"]

PARK: Final = 0
IDLE: Final = 1
TRIP: Final = 2
_DAY: Final = 86400
_KM: Final = 1000.0
# Plan this far ahead before sleeping: vehicles do not interact, so planning a few visits
# per SimPy event changes nothing but the event count.
_LOOKAHEAD: Final = 900

Process = Generator[simpy.Event, Any, None]


#: Columns of a logged phase row, in order.
PHASE_FIELDS: Final = (
    "vehicle", "kind", "t0", "t1", "route", "stop", "event", "odometer", "heading", "door",
)  # fmt: skip


@dataclass
class PhaseLog:
    """Phases of all vehicles, flat: :data:`PHASE_FIELDS` numbers per phase, back to back.

    ``route`` is -1 unless TRIP; ``stop`` is the planner stop at the start; ``odometer``
    (metres) and ``heading`` (degrees) hold at the start; ``door`` is a cargo door open.
    A flat list of numbers is the cheapest thing to append to and to turn into numpy.
    """

    rows: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows) // len(PHASE_FIELDS)

    def take(self) -> PhaseLog:
        """Hand over the logged phases and start an empty log."""
        out = PhaseLog(self.rows)
        self.rows = []
        return out


class Vehicle:
    """One vehicle's behaviour; :meth:`run` is its SimPy process.

    ``rnd`` is the vehicle's own counter-based stream: :mod:`simulators.lockstep` replays
    the same behaviour for all vehicles at once with the numpy twin of the stream.
    """

    def __init__(
        self,
        index: int,
        rnd: Draws,
        shift: ShiftPattern,
        planner: RoutePlanner,
        log: PhaseLog,
        *,
        horizon: int,
        day_offset: int,
    ) -> None:
        self.index = index
        self.rnd = rnd
        self.shift = shift
        self.planner = planner
        self.log = log
        self.horizon = horizon
        self.day_offset = day_offset  # seconds since UTC midnight at sim t = 0
        self.depot = planner.depots[index % len(planner.depots)]
        self.stop = self.depot
        self.odometer = rnd.uniform(5_000, 250_000) * _KM
        self.heading = rnd.uniform(0.0, 360.0)
        self.ignition: bool | None = None  # None: nothing logged yet (first record is an event)
        self.clock = 0  # end of the phases logged so far (sim s), may run ahead of env.now
        self.shift_offset = rnd.gauss(0.0, shift.jitter_minutes * 60.0)

    def _log(self, kind: int, seconds: float, *, route: int = -1, door: bool = False) -> None:
        """Log a phase starting at the vehicle's clock and move the clock to its end."""
        now = self.clock
        duration = int(seconds) or 1  # seconds > 0: whole seconds, at least one
        ignition = kind != PARK
        event = kind == TRIP or ignition != self.ignition
        self.log.rows.extend(
            (self.index, kind, now, now + duration, route, self.stop, event, self.odometer,
             self.heading, door)
        )  # fmt: skip
        self.ignition = ignition
        self.clock = now + duration

    def _wait(self, env: simpy.Environment) -> simpy.Timeout:
        """Let sim time catch up with the phases logged ahead."""
        return env.timeout(max(self.clock - int(env.now), 0))

    def _window(self, day: int) -> tuple[int, int]:
        """Shift start/end of ``day`` in sim seconds (daily jitter on the vehicle's own)."""
        start = day * _DAY - self.day_offset + self.shift.start_hour * 3600 + self.shift_offset
        start += self.rnd.gauss(0.0, 600.0)
        return int(start), int(start + self.shift.hours * 3600)

    def _drive(self, target: int) -> None:
        leg = self.planner.leg(self.stop, target)
        self._log(TRIP, leg.duration, route=leg.route)
        self.odometer += leg.length
        self.heading = leg.heading
        self.stop = target

    def _halt(self) -> None:
        """A short stop with the engine idling, or a delivery with the ignition off."""
        shift, draw = self.shift, self.rnd.random
        if draw() < shift.stop_probability:
            lo, hi = shift.stop_seconds
            self._log(IDLE, lo + (hi - lo) * draw())
            return
        lo, hi = shift.delivery_minutes
        self._log(IDLE, 3 + 17 * draw())
        self._log(PARK, (lo + (hi - lo) * draw()) * 60, door=True)
        self._log(IDLE, 10 + 50 * draw())

    def _work(self, env: simpy.Environment, end: int) -> Process:
        """One shift: warm up, drive from stop to stop, return to the depot, cool down."""
        self._log(IDLE, self.rnd.uniform(30, 120))
        while self.clock < end and self.clock < self.horizon:
            self._drive(self.planner.next_stop(self.rnd, self.stop))
            if self.clock < end:
                self._halt()
            if self.clock - env.now >= _LOOKAHEAD:
                yield self._wait(env)
        if self.stop != self.depot and self.clock < self.horizon:
            self._log(IDLE, self.rnd.uniform(5, 20))  # never a trip right after a trip
            self._drive(self.depot)
        self._log(IDLE, self.rnd.uniform(5, 30))
        yield self._wait(env)

    def run(self, env: simpy.Environment) -> Process:
        """The process: park until the shift, work it, park overnight; repeat until horizon."""
        day = -1
        self.clock = int(env.now)
        while self.clock < self.horizon:
            start, end = self._window(day)
            day += 1
            if end <= self.clock:
                continue
            if start > self.clock:
                self._log(PARK, start - self.clock)
                yield self._wait(env)
            yield from self._work(env, end)
