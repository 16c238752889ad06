"""The fleet: vehicles on a road network, advanced in sim time, emitting tracker records.

:class:`Fleet` is the interface the network layer (``simulators.net``) and the dry mode
build on: ``advance(until)`` runs the vehicles' SimPy processes up to ``until`` (UNIX
seconds) and returns the records their trackers made, in time order, as flespi-named
messages. Same scenario and seed: identical output, however ``advance`` is chunked.

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
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import simpy

from simulators.planner import RoutePlanner
from simulators.records import RecordBatch, Templates, materialise, phase_arrays
from simulators.reporting import COLUMNS
from simulators.roads import RoadNetwork, load_network
from simulators.scenario import Scenario
from simulators.sensors import SIM_PROTOCOLS, Columns, CoverageHoles, observe
from simulators.vehicle import PhaseLog, Vehicle
from telebench.model import Message

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

__all__ = ["Fleet", "VehicleSpec", "imei", "take_columns"]

_TAC: Final = {"teltonika": "35630704", "wialon_ips": "86123404", "gt06": "35341353"}
_VEHICLES_PER_DEPOT: Final = 50
IntArray = npt.NDArray[np.int64]


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
    for i, proto in enumerate(protocols):
        k = seen.get(proto, 0)
        seen[proto] = k + 1
        transport, options = scenario.variants[proto][k % len(scenario.variants[proto])]
        ident = imei(_TAC[proto], serial0 + i)
        specs.append(VehicleSpec(i, ident, proto, transport, dict(options)))
    return specs


def take_columns(cols: Columns, index: IntArray) -> Columns:
    """The records of ``cols`` at ``index``."""
    return Columns(
        vehicle=cols.vehicle[index],
        t=cols.t[index],
        values={k: v[index] for k, v in cols.values.items()},
        present={k: v[index] for k, v in cols.present.items()},
    )


def concat_columns(parts: list[Columns]) -> Columns:
    """All records of ``parts`` in order (``parts`` must not be empty)."""
    return Columns(
        vehicle=np.concatenate([p.vehicle for p in parts]),
        t=np.concatenate([p.t for p in parts]),
        values={k: np.concatenate([p.values[k] for p in parts]) for k in parts[0].values},
        present={k: np.concatenate([p.present[k] for p in parts]) for k in parts[0].present},
    )


class Fleet:
    """Simulated vehicles and their trackers (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int = 0,
        network: RoadNetwork | None = None,
        keep_truth: bool = True,
        shard: tuple[int, int] = (0, 1),
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
        self.planner = RoutePlanner(
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
        self._env = simpy.Environment()
        self._log = PhaseLog()
        self._templates = Templates()
        self._phases = 0
        self._now = -1  # last sim second fully advanced
        midnight = scenario.start.astimezone(UTC)
        day_offset = midnight.hour * 3600 + midnight.minute * 60 + midnight.second
        self._last_fix = np.zeros((len(self.vehicles), 2))
        for spec in self.vehicles[shard[0] :: shard[1]]:
            car = Vehicle(
                spec.index, random.Random(self.seed * 1_000_003 + spec.index), scenario.shift,
                self.planner, self._log, horizon=self.duration, day_offset=day_offset,
            )  # fmt: skip
            stop = self.planner.stops[car.stop]
            self._last_fix[spec.index] = (self.network.lon[stop], self.network.lat[stop])
            self._env.process(car.run(self._env))
        self._pending: list[Columns] = []
        self.keep_truth = keep_truth
        self.truth_phases: list[dict[str, npt.NDArray[np.generic]]] = []
        self.truth_records: list[tuple[RecordBatch, Columns]] = []

    @property
    def now(self) -> float:
        """UNIX time up to which the fleet has been advanced."""
        return self.start_time + max(self._now, 0)

    def advance_columns(self, until: float) -> Columns | None:
        """Like :meth:`advance` but columnar (records sorted by time, then vehicle)."""
        t_sim = min(int(np.floor(until - self.start_time)), self.duration)
        if t_sim <= self._now:
            return None
        self._env.run(until=t_sim + 1)
        ph = phase_arrays(self._log.take(), self._phases)
        self._phases += ph["t0"].size
        batch = materialise(
            ph, self.planner, self._templates,
            period=self.scenario.report.parked_period_s, horizon=self.duration,
        )  # fmt: skip
        cols = observe(batch, self._proto, self.seed, self.holes, self._last_fix)
        if self.keep_truth:
            self.truth_phases.append(ph)
            self.truth_records.append((batch, cols))
        pending = concat_columns([*self._pending, cols]) if self._pending else cols
        order = np.lexsort((pending.vehicle, pending.t))
        due = int(np.searchsorted(pending.t[order], t_sim, side="right"))
        rest = order[due:]
        self._pending = [take_columns(pending, rest)] if rest.size else []
        self._now = t_sim
        return take_columns(pending, order[:due])

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
