"""How simulated trackers behave on the network: batching, timeouts, faults.

The defaults follow real Teltonika/Concox/Wialon firmware closely enough for load tests:
one packet in flight, a heartbeat when idle, a reconnect with back-off after any trouble.

Examples
--------
>>> NetOptions().limits("teltonika", "tcp")
PacketLimits(records=25, size=1280)
>>> NetOptions(bad_crc=1.5)
Traceback (most recent call last):
...
telebench.errors.ConfigError: bad_crc: expected a probability 0..1, got 1.5
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Final

from telebench.errors import ConfigError

__all__ = ["PACKET_LIMITS", "NetOptions", "PacketLimits"]


@dataclasses.dataclass(frozen=True)
class PacketLimits:
    """Most records and bytes a tracker puts in one packet."""

    records: int
    size: int


#: Per (protocol, transport): Teltonika caps a packet at 1280 bytes; Wialon IPS devices send
#: black-box ``#B#`` batches; GT06 sends one location per frame.
PACKET_LIMITS: Final[dict[tuple[str, str], PacketLimits]] = {
    ("teltonika", "tcp"): PacketLimits(25, 1280),
    ("teltonika", "udp"): PacketLimits(25, 1280),
    ("wialon_ips", "tcp"): PacketLimits(20, 8192),
    ("wialon_ips", "udp"): PacketLimits(8, 1400),
    ("gt06", "tcp"): PacketLimits(1, 256),
}

_PROBABILITIES: Final = ("bad_crc", "garbage", "slow")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NetOptions:
    """Network behaviour of every simulated tracker (all times in seconds).

    Parameters
    ----------
    send_period:
        Simulated seconds between packets while records wait (batching); ignored at
        ``speedup="max"``, where a device sends as soon as its previous packet is acked.
    heartbeat_period:
        Simulated seconds of silence after which a device sends a keep-alive.
    ack_timeout:
        Wall seconds to wait for an ack: TCP devices then reconnect, UDP devices resend.
    backoff, backoff_max:
        Wall seconds before the first reconnect; doubles per failed attempt up to the max.
    newest_first:
        Send the newest records of the black box first.
    disconnect_rate:
        Random connection drops per device per simulated hour (right after a packet is
        written, so its ack is lost and the records are resent).
    bad_crc, garbage:
        Probability per packet of corrupting one CRC byte (the hub refuses it, the device
        resends a good copy) or of sending random bytes and reconnecting.
    slow:
        Fraction of devices that write byte by byte, ``slow_delay`` seconds apart.
    stall_timeout:
        At ``speedup="max"`` simulated time waits for acks, so a hub that stops acking
        would stall the run forever: after this many wall seconds without a single ack
        while records wait, the run stops with a ``SimulationError``.
    """

    send_period: float = 60.0
    heartbeat_period: float = 300.0
    ack_timeout: float = 10.0
    backoff: float = 0.5
    backoff_max: float = 30.0
    newest_first: bool = False
    disconnect_rate: float = 0.0
    bad_crc: float = 0.0
    garbage: float = 0.0
    slow: float = 0.0
    slow_delay: float = 0.001
    stall_timeout: float = 120.0
    limits_override: Mapping[tuple[str, str], PacketLimits] = dataclasses.field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        for key in _PROBABILITIES:
            value = getattr(self, key)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ConfigError(f"{key}: expected a probability 0..1, got {value!r}")
        for key in ("ack_timeout", "backoff", "backoff_max", "heartbeat_period", "stall_timeout"):
            value = getattr(self, key)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{key}: expected a number of seconds > 0, got {value!r}")
        for key in ("send_period", "disconnect_rate", "slow_delay"):
            value = getattr(self, key)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{key}: expected a number >= 0, got {value!r}")

    def limits(self, protocol: str, transport: str) -> PacketLimits:
        """The packet limits of a protocol over a transport."""
        key = (protocol, transport)
        found = self.limits_override.get(key) or PACKET_LIMITS.get(key)
        if found is None:
            raise ConfigError(f"the simulator cannot speak {protocol!r} over {transport!r}")
        return found

    @classmethod
    def from_scenario(cls, scenario: object, **changes: object) -> NetOptions:
        """Options from a scenario's ``disconnect_rate`` and ``faults`` (when it has them).

        ``faults`` may be a mapping or an object with ``bad_crc``, ``garbage`` and ``slow``.

        Examples
        --------
        >>> class S:
        ...     disconnect_rate = 0.5
        ...     faults = {"bad_crc": 0.01}
        >>> NetOptions.from_scenario(S()).bad_crc
        0.01
        """
        fields: dict[str, object] = {}
        rate = getattr(scenario, "disconnect_rate", None)
        if rate is not None:
            fields["disconnect_rate"] = float(rate)
        newest = getattr(scenario, "newest_first", None)
        if newest is not None:
            fields["newest_first"] = bool(newest)
        faults = getattr(scenario, "faults", None)
        for key in _PROBABILITIES:
            value = faults.get(key) if isinstance(faults, Mapping) else getattr(faults, key, None)
            if value is not None:
                fields[key] = float(value)
        fields.update(changes)
        return cls(**fields)  # type: ignore[arg-type]
