"""asyncio transports for trackers: one TCP connection or UDP endpoint per device.

A link only moves bytes; the :class:`~simulators.net.tracker.Tracker` decides what to
write. A slow device's link writes one byte at a time, ``delay`` seconds apart.
"""

from __future__ import annotations

import asyncio
from typing import cast

from simulators.net.tracker import Tracker

__all__ = ["TcpLink", "UdpLink"]


class TcpLink(asyncio.Protocol):
    """One tracker's TCP connection."""

    def __init__(self, tracker: Tracker, *, delay: float = 0.0) -> None:
        self.tracker = tracker
        self.delay = delay if tracker.slow else 0.0
        self.transport: asyncio.Transport | None = None
        self._pending = bytearray()  # slow device: bytes not yet dripped out
        self._dripping = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.tracker.attach(self)

    def data_received(self, data: bytes) -> None:
        if self.tracker.link is self:
            self.tracker.receive(data)

    def eof_received(self) -> bool | None:
        if self.tracker.link is self:
            self.tracker.receive(b"")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.tracker.link is self:
            self.tracker.lost()

    def write(self, data: bytes) -> None:
        """Write now, or byte by byte for a slow device."""
        if self.transport is None or self.transport.is_closing():
            return
        if not self.delay:
            self.transport.write(data)
            return
        self._pending += data
        if not self._dripping:
            self._dripping = True
            self._drip()

    def _drip(self) -> None:
        if self.transport is None or self.transport.is_closing() or not self._pending:
            self._dripping = False
            return
        self.transport.write(bytes(self._pending[:1]))
        del self._pending[:1]
        asyncio.get_running_loop().call_later(self.delay, self._drip)

    def close(self) -> None:
        """Close (what was written is still delivered)."""
        if self.transport is not None:
            self.transport.close()


class UdpLink(asyncio.DatagramProtocol):
    """One tracker's UDP endpoint, connected to the hub's address."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.tracker.attach(self)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.tracker.link is self and data:
            self.tracker.receive(data)

    def error_received(self, exc: Exception) -> None:
        self.tracker.host.counters.error("udp")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.tracker.link is self:
            self.tracker.lost()

    def write(self, data: bytes) -> None:
        """Send one datagram."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data)

    def close(self) -> None:
        """Close the endpoint."""
        if self.transport is not None:
            self.transport.close()
