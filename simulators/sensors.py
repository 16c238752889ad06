"""What trackers measure: GPS noise, fix loss, voltages, GSM signal, inputs (vectorised).

Randomness here is counter-based: every draw is a hash of (seed, vehicle, second, channel),
so a record's noise does not depend on how the simulation was chunked into ``advance``
calls, and whole batches are drawn with a few numpy operations.

Values are rounded to what each protocol carries, and parameters a protocol cannot carry
are masked out, so each vehicle's records pass through its protocol's encoder and decoder
unchanged.

Examples
--------
>>> u = uniform(np.array([1, 2], dtype=np.uint64), 7)
>>> bool(((u >= 0) & (u < 1)).all()), bool(u[0] != u[1])
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

import numpy as np
import numpy.typing as npt

from simulators.kinematics import METRES_PER_DEGREE
from simulators.records import RecordBatch
from simulators.reporting import COLUMNS, PROTOCOL_PARAMS

__all__ = ["SIM_PROTOCOLS", "Columns", "CoverageHoles", "normals", "observe", "uniform"]

SIM_PROTOCOLS: Final = ("teltonika", "wialon_ips", "gt06")
_MASK64: Final = np.uint64(0xFFFFFFFFFFFFFFFF)
_RANDOM_FIX_LOSS: Final = 0.003
_NO_FIX_HDOP: Final = 99.9
_CELLS: Final = 4096

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True)
class Columns:
    """Observed parameters: ``values[name]`` with ``present[name]`` (False = not sent)."""

    vehicle: IntArray
    t: IntArray
    values: dict[str, npt.NDArray[np.generic]]
    present: dict[str, BoolArray]


def _mix(x: U64) -> U64:
    """splitmix64 finaliser (uint64 arithmetic wraps, as intended)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    out: U64 = x ^ (x >> np.uint64(31))
    return out


def record_keys(seed: int, vehicle: IntArray, t: IntArray, vehicles: int | None = None) -> U64:
    """One 64-bit key per record from (seed, vehicle, second).

    With ``vehicles`` (more than any index), each vehicle's part is hashed once, not per
    record: the same keys, cheaper.
    """
    base = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    if vehicles is None:
        v = _mix(vehicle.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    else:
        v = _mix(np.arange(vehicles, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15))[vehicle]
    return _mix(base ^ v ^ (t.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)))


def uniform(keys: U64, channel: int) -> FloatArray:
    """Uniform [0, 1) draws, one per key, independent across channels."""
    x = _mix(keys ^ np.uint64((channel * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF))
    out: FloatArray = (x >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return out


def _quantile_table() -> tuple[FloatArray, FloatArray]:
    """Standard normal quantiles at ``k / 4096`` (ends at ``2**-24`` from 0 and 1), slopes."""
    p = np.clip(np.arange(_CELLS + 1) / _CELLS, 2.0**-24, 1.0 - 2.0**-24)
    edges = np.array([NormalDist().inv_cdf(x) for x in p.tolist()])
    return edges[:-1], np.diff(edges)


def _gaussian(bits: U64, width: int) -> FloatArray:
    """Standard normal from ``width`` (16-24) uniform bits: the quantile function, linear
    within 4096 cells (the top 12 bits pick the cell, the rest the point within it).

    A table and a multiply-add cost a fraction of Box-Muller's log, cos and sin; the
    distribution is normal to within the table's resolution (tails end near 5 sigma).
    """
    low = width - 12
    cell = (bits >> np.uint64(low)).astype(np.intp)
    frac = (bits & np.uint64((1 << low) - 1)).astype(np.float64) * 2.0**-low
    out: FloatArray = _QUANTILE[cell] + frac * _SLOPE[cell]
    return out


def normals(keys: U64, channel: int, count: int = 2) -> tuple[FloatArray, ...]:
    """``count`` (2 or 4) independent standard normal draws per key: parts of one 64-bit
    hash (24 bits each for two, 16 for four: finer than any sensor's resolution)."""
    if count not in (2, 4):
        raise ValueError(f"normals draws 2 or 4 values per key, not {count}")
    x = _mix(keys ^ np.uint64((channel * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF))
    if count == 2:
        return _gaussian(x >> np.uint64(40), 24), _gaussian(x & np.uint64(0xFFFFFF), 24)
    part = np.uint64(0xFFFF)
    return tuple(_gaussian((x >> np.uint64(16 * k)) & part, 16) for k in range(4))


_QUANTILE, _SLOPE = _quantile_table()


@dataclass(frozen=True)
class CoverageHoles:
    """Discs (tunnels, urban canyons) where no GPS fix is possible."""

    lon: FloatArray
    lat: FloatArray
    radius_m: FloatArray

    @classmethod
    def random(
        cls,
        lon: FloatArray,
        lat: FloatArray,
        seed: int,
        *,
        count: int = 4,
        avoid: tuple[FloatArray, FloatArray] | None = None,
    ) -> CoverageHoles:
        """``count`` holes of 100-400 m radius on random road vertices, none near ``avoid``."""
        rng = np.random.default_rng([seed, 0x401E])
        candidates = np.arange(lon.size)
        if avoid is not None:
            near = cls(avoid[0], avoid[1], np.full(avoid[0].size, 1000.0)).contains(lon, lat)
            candidates = candidates[~near]
        pick = rng.choice(candidates, size=min(count, candidates.size), replace=False)
        return cls(lon[pick], lat[pick], rng.uniform(100.0, 400.0, size=pick.size))

    def contains(self, lon: FloatArray, lat: FloatArray) -> BoolArray:
        """Whether each point lies in a hole."""
        inside = np.zeros(lon.size, dtype=np.bool_)
        for hlon, hlat, r in zip(self.lon, self.lat, self.radius_m, strict=True):
            dx = (lon - hlon) * np.cos(np.radians(hlat)) * METRES_PER_DEGREE
            dy = (lat - hlat) * METRES_PER_DEGREE
            inside |= dx * dx + dy * dy < r * r
        return inside


def _fill_last_valid(
    b: RecordBatch, by_vehicle: IntArray, valid: BoolArray, fix: list[FloatArray], last: FloatArray
) -> None:
    """Invalid fixes keep the vehicle's last valid position (``last``: per vehicle, updated).

    ``fix`` (lon, lat) is filled in place; ``b.select(by_vehicle)`` is sorted by (vehicle,
    time). Only the few invalid fixes are looked at, in that order.
    """
    n = b.t.size
    if n == 0:
        return
    # in (vehicle, time) order the vehicles are runs: count them rather than gather
    vehicle = np.repeat(np.arange(last.shape[0]), np.bincount(b.vehicle, minlength=last.shape[0]))
    ok = valid[by_vehicle]
    idx = np.where(ok, np.arange(n), -1)
    np.maximum.accumulate(idx, out=idx)
    bad = np.flatnonzero(~ok)
    src = np.maximum(idx[bad], 0)
    own = (idx[bad] >= 0) & (vehicle[src] == vehicle[bad])
    ends = np.flatnonzero(np.append(vehicle[1:] != vehicle[:-1], True))
    for i, x in enumerate(fix):  # the source of a fill is valid: never filled here
        x[by_vehicle[bad]] = np.where(own, x[by_vehicle[src]], last[vehicle[bad], i])
        last[vehicle[ends], i] = x[by_vehicle[ends]]


def _gps(
    b: RecordBatch, by_vehicle: IntArray, keys: U64, holes: CoverageHoles, last: FloatArray
) -> tuple[BoolArray, dict[str, FloatArray]]:
    valid = ~holes.contains(b.lon, b.lat) & (uniform(keys, 1) >= _RANDOM_FIX_LOSS)
    hdop = np.round(0.6 + 1.6 * uniform(keys, 2) ** 2, 1)
    n_lat, n_lon, n_sats, n_speed = normals(keys, 5, count=4)
    sats = np.clip(np.round(15.0 - 3.0 * hdop + 1.5 * n_sats), 4, 15)
    sigma = 2.0 * hdop
    lat = b.lat + n_lat * sigma / METRES_PER_DEGREE
    scale = METRES_PER_DEGREE * np.cos(np.radians(b.lat, dtype=np.float32))  # ample for noise
    lon = b.lon + n_lon * sigma / scale
    _fill_last_valid(b, by_vehicle, valid, [lon, lat], last)
    kmh = np.where(b.speed > 0, np.maximum(b.speed * 3.6 + 0.7 * n_speed, 0.0), 0.0)
    return valid, {
        "lon": lon,
        "lat": lat,
        "hdop": np.where(valid, hdop, _NO_FIX_HDOP),
        "sats": np.where(valid, sats, 0.0),
        "speed": np.where(valid, np.round(kmh), 0.0),
    }


def _wialon_degrees(x: FloatArray) -> FloatArray:
    """Degrees as Wialon IPS carries them: whole degrees + minutes to 5 decimals."""
    a = np.abs(x)
    whole = np.floor(a)
    out: FloatArray = np.sign(x) * (whole + np.round((a - whole) * 60.0, 5) / 60.0)
    return out


def _coordinates(x: FloatArray, wialon: IntArray, gt06: IntArray) -> FloatArray:
    """Round to each protocol's resolution (Teltonika 1e-7°, GT06 1/1,800,000°).

    ``wialon`` and ``gt06`` index the records of those protocols (Teltonika: the rest).
    """
    out: FloatArray = np.round(x * 1e7) / 1e7
    out[wialon] = _wialon_degrees(x[wialon])
    out[gt06] = np.round(x[gt06] * 1_800_000.0) / 1_800_000.0
    return out


def observe(
    b: RecordBatch,
    proto_of_vehicle: IntArray,
    seed: int,
    holes: CoverageHoles,
    last: FloatArray,
    by_vehicle: IntArray,
) -> Columns:
    """Every parameter the trackers send for the records of ``b``.

    ``b.select(by_vehicle)`` must be sorted by (vehicle, time) (and ``last`` hold each
    vehicle's last fix before them): a fix lost keeps the last valid position.
    """
    keys = record_keys(seed, b.vehicle, b.t, proto_of_vehicle.size)
    proto = proto_of_vehicle[b.vehicle]
    valid, gps = _gps(b, by_vehicle, keys, holes, last)
    wialon, gt06 = np.flatnonzero(proto == 1), np.flatnonzero(proto == 2)
    ign = b.ignition
    din = ign.astype(np.int64) | (b.door.astype(np.int64) << 1)
    n_alt, n_volt, n_batt, n_gsm = normals(keys, 11, count=4)
    values: dict[str, npt.NDArray[np.generic]] = {
        "position.latitude": _coordinates(gps["lat"], wialon, gt06),
        "position.longitude": _coordinates(gps["lon"], wialon, gt06),
        "position.altitude": np.round(25.0 + 4.0 * n_alt).astype(np.int64),
        "position.speed": gps["speed"].astype(np.int64),
        "position.direction": np.round(b.heading).astype(np.int64) % 360,
        "position.satellites": gps["sats"].astype(np.int64),
        "position.valid": valid,
        "position.hdop": gps["hdop"],
        "engine.ignition.status": ign,
        "movement.status": b.movement,
        "external.powersource.voltage": np.round(
            np.where(ign, 13.8, 12.6) + np.where(ign, 0.15, 0.04) * n_volt, 3
        ),
        "battery.voltage": np.round(4.05 + 0.03 * n_batt, 3),
        "vehicle.mileage": np.round(b.odometer) / 1000.0,
        "gsm.signal.level": np.where(
            valid, np.clip(np.round(4.0 + n_gsm), 2, 5).astype(np.int64), 1
        ),
        "din": din,
        "din.1": ign,
        "din.2": b.door,
        "din.3": np.zeros(b.t.size, dtype=np.bool_),
    }
    # one mask per set of protocols carrying a parameter (a handful), shared by its names
    masks: dict[tuple[bool, ...], BoolArray] = {}
    carried = {}
    for name in COLUMNS:
        which = tuple(name in PROTOCOL_PARAMS[p] for p in SIM_PROTOCOLS)
        if which not in masks:
            masks[which] = np.array(which)[proto]
        carried[name] = masks[which]
    # Wialon IPS says "no fix" by sending no coordinates (NA).
    coords = carried["position.latitude"] & ~((proto == 1) & ~valid)
    carried["position.latitude"] = carried["position.longitude"] = coords
    return Columns(vehicle=b.vehicle, t=b.t, values=values, present=carried)
