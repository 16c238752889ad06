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


def record_keys(seed: int, vehicle: IntArray, t: IntArray) -> U64:
    """One 64-bit key per record from (seed, vehicle, second)."""
    base = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    v = _mix(vehicle.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    return _mix(base ^ v ^ (t.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)))


def uniform(keys: U64, channel: int) -> FloatArray:
    """Uniform [0, 1) draws, one per key, independent across channels."""
    x = _mix(keys ^ np.uint64((channel * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF))
    out: FloatArray = (x >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return out


def normals(keys: U64, channel: int) -> tuple[FloatArray, FloatArray]:
    """Two independent standard normal draws per key (Box-Muller on one 64-bit hash)."""
    x = _mix(keys ^ np.uint64((channel * 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF))
    u1 = ((x >> np.uint64(40)).astype(np.float64) + 1.0) * 2.0**-24  # (0, 1]
    u2 = (x & np.uint64(0xFFFFFF)).astype(np.float64) * (2.0 * np.pi * 2.0**-24)
    r = np.sqrt(-2.0 * np.log(u1))
    return r * np.cos(u2), r * np.sin(u2)


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
    b: RecordBatch, valid: BoolArray, lon: FloatArray, lat: FloatArray, last: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Invalid fixes keep the vehicle's last valid position (``last``: per vehicle, updated).

    ``b`` is sorted by (vehicle, time).
    """
    n = b.t.size
    if n == 0:
        return lon, lat
    idx = np.where(valid, np.arange(n), -1)
    np.maximum.accumulate(idx, out=idx)
    own = (idx >= 0) & (b.vehicle[np.maximum(idx, 0)] == b.vehicle)
    src = np.maximum(idx, 0)
    out_lon = np.where(valid, lon, np.where(own, lon[src], last[b.vehicle, 0]))
    out_lat = np.where(valid, lat, np.where(own, lat[src], last[b.vehicle, 1]))
    ends = np.flatnonzero(np.append(b.vehicle[1:] != b.vehicle[:-1], True))
    last[b.vehicle[ends], 0] = out_lon[ends]
    last[b.vehicle[ends], 1] = out_lat[ends]
    return out_lon, out_lat


def _gps(
    b: RecordBatch, keys: U64, holes: CoverageHoles, last: FloatArray
) -> dict[str, FloatArray]:
    valid = ~holes.contains(b.lon, b.lat) & (uniform(keys, 1) >= _RANDOM_FIX_LOSS)
    hdop = np.round(0.6 + 1.6 * uniform(keys, 2) ** 2, 1)
    n_lat, n_lon = normals(keys, 5)
    n_sats, n_speed = normals(keys, 3)
    sats = np.clip(np.round(15.0 - 3.0 * hdop + 1.5 * n_sats), 4, 15)
    sigma = 2.0 * hdop
    lat = b.lat + n_lat * sigma / METRES_PER_DEGREE
    scale = METRES_PER_DEGREE * np.cos(np.radians(b.lat))
    lon = b.lon + n_lon * sigma / scale
    lon, lat = _fill_last_valid(b, valid, lon, lat, last)
    kmh = np.where(b.speed > 0, np.maximum(b.speed * 3.6 + 0.7 * n_speed, 0.0), 0.0)
    return {
        "valid": valid.astype(np.float64),
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


def _coordinates(x: FloatArray, proto: IntArray) -> FloatArray:
    """Round to each protocol's resolution (Teltonika 1e-7°, GT06 1/1,800,000°)."""
    return np.select(
        [proto == 0, proto == 1],
        [np.round(x * 1e7) / 1e7, _wialon_degrees(x)],
        np.round(x * 1_800_000.0) / 1_800_000.0,
    )


def observe(
    b: RecordBatch, proto_of_vehicle: IntArray, seed: int, holes: CoverageHoles, last: FloatArray
) -> Columns:
    """Every parameter the trackers send for the records of ``b`` (sorted by vehicle, time)."""
    keys = record_keys(seed, b.vehicle, b.t)
    proto = proto_of_vehicle[b.vehicle]
    gps = _gps(b, keys, holes, last)
    valid = gps["valid"] > 0
    ign = b.ignition
    din = ign.astype(np.int64) | (b.door.astype(np.int64) << 1)
    n_alt, n_volt = normals(keys, 11)
    n_batt, n_gsm = normals(keys, 13)
    values: dict[str, npt.NDArray[np.generic]] = {
        "position.latitude": _coordinates(gps["lat"], proto),
        "position.longitude": _coordinates(gps["lon"], proto),
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
    carried = {
        name: np.array([name in PROTOCOL_PARAMS[p] for p in SIM_PROTOCOLS])[proto]
        for name in COLUMNS
    }
    # Wialon IPS says "no fix" by sending no coordinates (NA).
    no_coords = (proto == 1) & ~valid
    for name in ("position.latitude", "position.longitude"):
        carried[name] = carried[name] & ~no_coords
    return Columns(vehicle=b.vehicle, t=b.t, values=values, present=carried)
