"""A cheap stand-in fleet: every vehicle reports a sample record every ``period`` seconds.

It follows the ``simulators.fleet.Fleet`` interface (``vehicles``, ``start_time``,
``advance``) without roads or behaviour, so load tests and benchmarks can measure the
network side alone. Records are :func:`telebench.protocols.samples.sample_messages` with
the timestamp (whole seconds, spread over the period by vehicle) and a moving position.

Examples
--------
>>> fleet = SyntheticFleet(3, mix=(("teltonika", "tcp"), ("gt06", "tcp")), period=10.0)
>>> [(v.ident, v.protocol) for v in fleet.vehicles][:2]
[('350000000000000', 'teltonika'), ('350000000000001', 'gt06')]
>>> [(i, m["timestamp"] - fleet.start_time) for i, m in fleet.advance(fleet.start_time + 10)]
[(0, 0.0), (1, 1.0), (2, 2.0), (0, 10.0)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from telebench.errors import ConfigError
from telebench.model import Message
from telebench.protocols.samples import sample_messages

__all__ = ["DEFAULT_MIX", "SyntheticFleet", "SyntheticVehicle"]

#: Every protocol and transport the simulator speaks.
DEFAULT_MIX: tuple[tuple[str, str], ...] = (
    ("teltonika", "tcp"),
    ("wialon_ips", "tcp"),
    ("gt06", "tcp"),
    ("teltonika", "udp"),
    ("wialon_ips", "udp"),
)
_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
_STEP = 1e-4  # degrees a vehicle moves per record
_RICH_ONLY = frozenset(
    {"event.priority.enum", "event.enum", "event.generation.enum", "gnss.state.enum", "din.1",
     "position.pdop", "position.hdop", "custom.hw", "custom.rpm", "custom.fuel", "ain.1",
     "dout", "din", "report.mode.enum", "message.buffered.status"}
)  # fmt: skip


@dataclass(frozen=True)
class SyntheticVehicle:
    """A vehicle of the synthetic fleet (the fields of ``simulators.fleet.VehicleSpec``)."""

    index: int
    ident: str
    protocol: str
    transport: str
    options: dict[str, object] = field(default_factory=dict)


def _template(protocol: str, lean: bool) -> Message:
    record = sample_messages(protocol, 1)[0]
    if lean:  # position, speed, ignition, movement, power: what every tracker sends
        record = {k: v for k, v in record.items() if k not in _RICH_ONLY}
    return record


class SyntheticFleet:
    """``devices`` vehicles, protocols assigned round-robin from ``mix`` (module doc).

    ``lean`` records carry the dozen parameters every tracker sends, not the sample's
    full set (encoding cost grows with the parameter count).
    """

    def __init__(
        self,
        devices: int,
        *,
        mix: Sequence[tuple[str, str]] = DEFAULT_MIX,
        period: float = 10.0,
        start_time: float = _START,
        seed: int = 0,
        lean: bool = False,
    ) -> None:
        if devices < 1:
            raise ConfigError(f"devices: expected at least 1, got {devices}")
        if period < 1 or period != int(period):
            raise ConfigError(f"period: expected whole seconds >= 1, got {period}")
        if not mix:
            raise ConfigError("mix: expected at least one (protocol, transport)")
        self.period = int(period)
        self.start_time = float(start_time)
        self.vehicles = [
            SyntheticVehicle(i, f"35{seed % 1000:03d}{i:010d}", *mix[i % len(mix)])
            for i in range(devices)
        ]
        self._templates = {p: _template(p, lean) for p, _ in mix}
        # Vehicles in order of their phase (second within the period): the g-th record
        # overall is then in time order.
        self._order = sorted(range(devices), key=lambda i: (i % self.period, i))
        self._emitted = 0

    def _time(self, g: int) -> float:
        vehicle = self._order[g % len(self._order)]
        return self.start_time + (g // len(self._order)) * self.period + vehicle % self.period

    def advance(self, until: float) -> list[tuple[int, Message]]:
        """Records with a time <= ``until`` not returned before, in time order."""
        n = len(self._order)
        rounds = math.floor((until - self.start_time) / self.period) + 1
        last = max(0, rounds) * n
        g, out = self._emitted, []
        while g < last and self._time(g) <= until:
            vehicle = self._order[g % n]
            out.append((vehicle, self._record(vehicle, g // n)))
            g += 1
        self._emitted = g
        return out

    def _record(self, vehicle: int, k: int) -> Message:
        spec = self.vehicles[vehicle]
        msg = dict(self._templates[spec.protocol])
        msg["timestamp"] = self.start_time + k * self.period + vehicle % self.period
        lat = msg.get("position.latitude")
        if isinstance(lat, float):
            shift = round(((vehicle * 37 + k) % 5000) * _STEP, 4)
            msg["position.latitude"] = round(lat + shift, 4)
        return msg
