"""Realistic sample messages per protocol, for the demo, benchmarks and examples.

Deterministic (no randomness, no clock): a vehicle driving north-east out of Vilnius with
a fix every 10 s. Values sit on each protocol's wire resolution, so they survive an
encode/decode round trip exactly.

Examples
--------
>>> msgs = sample_messages("teltonika", 2)
>>> msgs[1]["timestamp"] - msgs[0]["timestamp"]
10.0
"""

from __future__ import annotations

from telebench.model import Message

__all__ = ["sample_messages"]

_START = 1_767_225_600  # 2026-01-01T00:00:00Z


def _teltonika(i: int) -> Message:
    return {
        "timestamp": float(_START + 10 * i),
        "event.priority.enum": 0,
        "position.longitude": (252_797_000 + 1_000 * i) / 10_000_000,
        "position.latitude": (546_872_000 + 1_000 * i) / 10_000_000,
        "position.altitude": 120,
        "position.direction": 45,
        "position.satellites": 11,
        "position.speed": 40 + i % 20,
        "event.enum": 0,
        "event.generation.enum": 7,
        "engine.ignition.status": True,
        "movement.status": True,
        "gsm.signal.level": 4,
        "gnss.state.enum": 1,
        "din.1": True,
        "position.pdop": 1.2,
        "position.hdop": 0.8,
        "external.powersource.voltage": 13.812,
        "battery.voltage": 4.096,
        "vehicle.mileage": (12_345_678 + 100 * i) / 1000,
    }


def _wialon_ips(i: int) -> Message:
    return {
        "timestamp": float(_START + 10 * i),
        "position.latitude": (546_872_000 + 1_000 * i) / 10_000_000,
        "position.longitude": (252_797_000 + 1_000 * i) / 10_000_000,
        "position.speed": 40.0 + i % 20,
        "position.direction": 45.0,
        "position.altitude": 120.0,
        "position.satellites": 11,
        "position.hdop": 0.8,
        "din": 1,
        "dout": 0,
        "ain.1": (1250 + i % 37) / 100,
        "external.powersource.voltage": (1380 + i % 41) / 100,
        "battery.voltage": 4.1,
        "engine.ignition.status": True,
        "custom.fuel": (45_500 - i % 9_000) / 1000,
        "custom.rpm": 1800 + i,
        "custom.hw": "V4.5",
    }


def _gt06(i: int) -> Message:
    return {
        "timestamp": float(_START + 10 * i),
        "position.satellites": 9,
        "position.latitude": (54 * 1_800_000 + 1_236_960 + 180 * i) / 1_800_000,
        "position.longitude": (25 * 1_800_000 + 503_460 + 180 * i) / 1_800_000,
        "position.speed": 40 + i % 20,
        "position.direction": 45,
        "position.valid": True,
        "gsm.mcc": 246,
        "gsm.mnc": 2,
        "gsm.lac": 10365,
        "gsm.cellid": 8120,
        "engine.ignition.status": True,
        "report.mode.enum": 0,
        "message.buffered.status": False,
    }


_BUILDERS = {"teltonika": _teltonika, "wialon_ips": _wialon_ips, "gt06": _gt06}


def sample_messages(protocol: str, count: int) -> list[Message]:
    """``count`` consecutive sample messages in the form ``protocol``'s encoder accepts."""
    build = _BUILDERS[protocol]
    return [build(i) for i in range(count)]
