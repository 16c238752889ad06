"""Counters every simulated tracker of a run updates (one event loop: no locks).

Examples
--------
>>> counters = Counters()
>>> counters.error("ack timeout")
>>> counters.errors
Counter({'ack timeout': 1})
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Counters"]


@dataclass
class Counters:
    """Running totals of a simulation (records unless named otherwise)."""

    connected: int = 0  # devices online now (logged in, or UDP endpoints open)
    connected_peak: int = 0
    queued: int = 0  # records in device memories (waiting or in flight)
    sent: int = 0  # distinct records sent at least once
    resent: int = 0  # records sent again (after a refusal, a lost ack or a reconnect)
    packets: int = 0
    acked: int = 0
    refused: int = 0  # packets the hub answered with an ack of 0
    reconnects: int = 0
    heartbeats: int = 0
    commands: int = 0  # commands answered
    bytes_out: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # ack latency (s) since last sample
    all_latencies: list[float] = field(default_factory=list)

    def error(self, kind: str) -> None:
        """Count one error of ``kind`` (``ack timeout``, ``protocol``, ``connect`` ...)."""
        self.errors[kind] += 1

    def online(self, delta: int) -> None:
        """A device came online (+1) or went offline (-1)."""
        self.connected += delta
        self.connected_peak = max(self.connected_peak, self.connected)

    def latency(self, seconds: float) -> None:
        """Record the ack latency of one packet."""
        self.latencies.append(seconds)
        self.all_latencies.append(seconds)
