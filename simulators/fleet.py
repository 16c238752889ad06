"""The fleet: vehicles on a road network, advanced in sim time, emitting tracker records.

:class:`Fleet` is the interface the network layer (``simulators.net``) and the dry mode
build on: ``advance(until)`` runs the vehicles' SimPy processes (or, with
``engine="lockstep"``, their numpy twin :mod:`simulators.lockstep`, which the dry mode
uses) up to ``until`` (UNIX seconds) and returns the records their trackers made, in time
order, as flespi-named messages. Same scenario and seed: identical output, whatever the
engine, the shards and however ``advance`` is chunked.

Examples
--------
>>> from simulators.scenario import Scenario
>>> fleet = Fleet(Scenario(devices=4, duration=3600), seed=1)
>>> [v.protocol for v in fleet.vehicles].count("teltonika")
2
>>> out = fleet.advance(fleet.start_time + 3600)
>>> times = [m["timestamp"] for _, m in out]
>>> times == sorted(times) and all(0 <= i < 4 for i, _ in out)
True
>>> fast = Fleet(Scenario(devices=4, duration=3600), seed=1, engine="lockstep")
>>> fast.advance(fast.start_time + 3600) == out  # same vehicles, numpy instead of SimPy
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt
import simpy

from simulators.draws import Draws
from simulators.lockstep import PhaseEngine
from simulators.planner import RoutePlanner
from simulators.records import RecordBatch, Templates, materialise, phase_arrays
from simulators.reporting import COLUMNS
from simulators.roads import RoadNetwork, load_network
from simulators.scenario import Scenario, ShiftPattern
from simulators.sensors import SIM_PROTOCOLS, Columns, CoverageHoles, observe
from simulators.vehicle import PhaseLog, Vehicle
from telebench.errors import SimulationError
from telebench.model import Message

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

__all__ = ["Engine", "Fleet", "VehicleSpec", "concat_columns", "imei"]

_TAC: Final = {"teltonika": "35630704", "wialon_ips": "86123404", "gt06": "35341353"}
_VEHICLES_PER_DEPOT: Final = 50
IntArray = npt.NDArray[np.int64]
#: How vehicles are simulated: SimPy processes (the reference) or numpy lock-step.
Engine = Literal["simpy", "lockstep"]


@dataclass(frozen=True)
class VehicleSpec:
    """Who a simulated tracker is and how it talks (client session options)."""

    index: int
    ident: str
    protocol: str
    transport: str
    options: dict[str, object]


def imei(tac: str, serial: int) -> str:
    """A 15-digit IMEI: 8-digit TAC, 6-digit serial, Luhn check digit.

    Examples
    --------
    >>> imei("35630704", 244101)
    '356307042441013'
    """
    body = f"{tac}{serial % 1_000_000:06d}"
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _imeis(tacs: list[str], serials: IntArray) -> list[str]:
    """:func:`imei` of many (TAC, serial) pairs, the Luhn sums in numpy."""
    digits = np.array([[int(c) for c in tac] for tac in tacs], dtype=np.int64).reshape(-1, 8)
    serial = serials % 1_000_000
    body = np.hstack([digits, serial[:, None] // 10 ** np.arange(5, -1, -1) % 10])
    doubled = body[:, ::-2] * 2  # every other digit from the right, the rightmost first
    total = (doubled - 9 * (doubled > 9)).sum(axis=1) + body[:, -2::-2].sum(axis=1)
    check = (10 - total % 10) % 10
    return [f"{t}{s:06d}{c}" for t, s, c in zip(tacs, serial.tolist(), check.tolist(), strict=True)]


def _allocate(mix: dict[str, float], n: int) -> list[str]:
    """Protocols for ``n`` devices by largest remainder (exact shares, deterministic)."""
    names = [p for p in SIM_PROTOCOLS if mix.get(p, 0.0) > 0]
    total = sum(mix[p] for p in names)
    exact = [mix[p] / total * n for p in names]
    counts = [int(x) for x in exact]
    order = sorted(range(len(names)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return [p for p, c in zip(names, counts, strict=True) for _ in range(c)]


def _specs(scenario: Scenario, rng: random.Random) -> list[VehicleSpec]:
    protocols = _allocate(scenario.protocol_mix, scenario.devices)
    rng.shuffle(protocols)
    serial0 = rng.randrange(1_000_000)
    seen: dict[str, int] = {}
    specs = []
    idents = _imeis([_TAC[p] for p in protocols], serial0 + np.arange(len(protocols)))
    for i, (proto, ident) in enumerate(zip(protocols, idents, strict=True)):
        k = seen.get(proto, 0)
        seen[proto] = k + 1
        transport, options = scenario.variants[proto][k % len(scenario.variants[proto])]
        specs.append(VehicleSpec(i, ident, proto, transport, dict(options)))
    return specs


def _join(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Phases ``old`` then ``new``: each vehicle's still in time order."""
    return {k: np.concatenate([old[k], new[k]]) for k in new} if old else new


def concat_columns(parts: list[Columns]) -> Columns:
    """All records of ``parts`` in order (``parts`` must not be empty)."""
    return Columns(
        vehicle=np.concatenate([p.vehicle for p in parts]),
        t=np.concatenate([p.t for p in parts]),
        values={k: np.concatenate([p.values[k] for p in parts]) for k in parts[0].values},
        present={k: np.concatenate([p.present[k] for p in parts]) for k in parts[0].present},
    )


class _SimpyPhases:
    """The vehicles as SimPy processes logging phases (``advance`` as ``PhaseEngine``'s)."""

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
        self.env = simpy.Environment()
        self.log = PhaseLog()
        self.phases = 0
        for index in vehicles.tolist():
            car = Vehicle(index, Draws(seed, index), shift, planner, self.log,
                          horizon=horizon, day_offset=day_offset)  # fmt: skip
            self.env.process(car.run(self.env))

    def advance(self, t_sim: int) -> dict[str, Any]:
        self.env.run(until=t_sim + 1)
        ph = phase_arrays(self.log.take(), self.phases)
        self.phases += ph["t0"].size
        return ph


class Fleet:
    """Simulated vehicles and their trackers (see the module docstring).

    ``engine`` chooses how the vehicles are simulated; both give the same phases and
    records (only the phase numbering differs): ``"lockstep"`` is many times faster.
    ``planner``: the ``planner`` of a fleet of the same scenario, seed and network (e.g.
    another shard), to share its routes instead of routing them again.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int = 0,
        network: RoadNetwork | None = None,
        keep_truth: bool = True,
        shard: tuple[int, int] = (0, 1),
        engine: Engine = "simpy",
        planner: RoutePlanner | None = None,
    ) -> None:
        self.scenario = scenario
        self.shard = shard  # (k, n): simulate only vehicles with index % n == k
        self.seed = int(np.random.SeedSequence([scenario.seed, seed]).generate_state(1)[0])
        self.network = network if network is not None else load_network(scenario.osm)
        rnd = random.Random(self.seed)
        self.vehicles: list[VehicleSpec] = _specs(scenario, rnd)
        self.start_time: float = scenario.start_time
        self.duration = scenario.duration
        depots = -(-scenario.devices // _VEHICLES_PER_DEPOT)
        if planner is not None and (planner.seed, planner.net, planner.rules) != (
            self.seed, self.network, scenario.report
        ):  # fmt: skip
            raise SimulationError("planner: not the planner of this scenario, seed and network")
        self.planner = planner or RoutePlanner(
            self.network, scenario.report, seed=self.seed, depots=depots,
            long_haul=scenario.shift.long_haul,
        )  # fmt: skip
        depot_nodes = self.planner.stops[self.planner.depots]
        self.holes = CoverageHoles.random(
            self.network.lon, self.network.lat, self.seed,
            avoid=(self.network.lon[depot_nodes], self.network.lat[depot_nodes]),
        )  # fmt: skip
        self._proto = np.array([SIM_PROTOCOLS.index(v.protocol) for v in self.vehicles])
        self._idents = [v.ident for v in self.vehicles]
        self._templates = Templates()
        self._now = -1  # last sim second fully advanced
        midnight = scenario.start.astimezone(UTC)
        day_offset = midnight.hour * 3600 + midnight.minute * 60 + midnight.second
        mine = np.arange(len(self.vehicles), dtype=np.int64)[shard[0] :: shard[1]]
        kind: type[_SimpyPhases | PhaseEngine] = (
            PhaseEngine if engine == "lockstep" else _SimpyPhases
        )
        self._phases = kind(mine, self.seed, scenario.shift, self.planner,
                            horizon=self.duration, day_offset=day_offset)  # fmt: skip
        # Before its first fix a tracker reports the place it starts from: its depot.
        home = self.planner.stops[np.asarray(self.planner.depots)[mine % len(self.planner.depots)]]
        self._last_fix = np.zeros((len(self.vehicles), 2))
        self._last_fix[mine] = np.column_stack((self.network.lon[home], self.network.lat[home]))
        self._open: dict[str, Any] = {}  # phases that may still make records
        self.keep_truth = keep_truth
        self.truth_phases: list[dict[str, npt.NDArray[np.generic]]] = []
        self.truth_records: list[tuple[RecordBatch, Columns]] = []

    @property
    def now(self) -> float:
        """UNIX time up to which the fleet has been advanced."""
        return self.start_time + max(self._now, 0)

    def advance_columns(self, until: float) -> Columns | None:
        """Like :meth:`advance` but columnar (records sorted by time, then vehicle).

        ``None`` when ``until`` is not past the last call's.
        """
        made = self.advance_records(until)
        return None if made is None else self.observe_records(*made)

    def advance_records(self, until: float) -> tuple[RecordBatch, IntArray] | None:
        """The first half of :meth:`advance_columns`: the records' true state, by time.

        Returns the batch and where its records are in (vehicle, time) order; pass both
        to :meth:`observe_records`, in the order they were made.
        """
        t_sim = min(int(np.floor(until - self.start_time)), self.duration)
        if t_sim <= self._now:
            return None
        ph = self._phases.advance(t_sim)
        if self.keep_truth:
            self.truth_phases.append(ph)
        ph = _join(self._open, ph)
        made = materialise(
            ph, self.planner, self._templates, period=self.scenario.report.parked_period_s,
            window=(self._now, t_sim), vehicles=len(self.vehicles),
        )  # fmt: skip
        going = ph["t1"] > t_sim  # a trip records its arrival at t1, a standing phase before
        self._open = {k: v[going] for k, v in ph.items()}
        self._now = t_sim
        return made

    def observe_records(self, batch: RecordBatch, by_vehicle: IntArray) -> Columns:
        """The second half of :meth:`advance_columns`: what the trackers send of ``batch``."""
        cols = observe(batch, self._proto, self.seed, self.holes, self._last_fix, by_vehicle)
        if self.keep_truth:
            self.truth_records.append((batch, cols))
        return cols

    def advance(self, until: float) -> list[tuple[int, Message]]:
        """Records made up to ``until`` (UNIX s) since the last call, in time order."""
        cols = self.advance_columns(until)
        if cols is None or cols.t.size == 0:
            return []
        return to_messages(cols, self._idents, self.start_time)

    def ground_truth(self, geofences: Path | None = None) -> dict[str, pl.DataFrame]:
        """True trips, parkings, stops, emitted records (+ visits of a GeoJSON geofence file).

        See :mod:`simulators.truth`; covers what has been advanced so far.
        """
        from simulators.truth import ground_truth, load_geofences  # truth imports fleet

        fences = load_geofences(geofences) if geofences is not None else None
        return ground_truth(self, fences)


def to_messages(cols: Columns, idents: list[str], start_time: float) -> list[tuple[int, Message]]:
    """Columnar records to ``(vehicle index, message)`` pairs with flespi names.

    Records are grouped by which parameters they carry (a handful of layouts: one or two
    per protocol), and each group's dicts are built with ``dict(zip(...))`` in C.
    """
    names = [n for n in COLUMNS if n in cols.values]
    layout = np.zeros(cols.t.size, dtype=np.int64)
    for bit, name in enumerate(names):
        layout |= cols.present[name].astype(np.int64) << bit
    stamps = cols.t.astype(np.float64) + start_time
    vehicles: list[int] = cols.vehicle.tolist()
    out: list[tuple[int, Message]] = [(0, {})] * cols.t.size
    for code in np.unique(layout).tolist():
        idx = np.flatnonzero(layout == code)
        carried = [name for bit, name in enumerate(names) if code >> bit & 1]
        keys = ["ident", "timestamp", *carried]
        columns = [
            [idents[v] for v in cols.vehicle[idx].tolist()],
            stamps[idx].tolist(),
            *(cols.values[name][idx].tolist() for name in carried),
        ]
        for pos, row in zip(idx.tolist(), zip(*columns, strict=True), strict=True):
            out[pos] = (vehicles[pos], dict(zip(keys, row, strict=True)))
    return out
