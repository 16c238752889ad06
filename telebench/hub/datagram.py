"""A UDP channel (Teltonika, Wialon IPS): every datagram is a packet of its own.

Each datagram gets a fresh server session (the ident rides in every datagram), its records
go through the same group commit as TCP records, and the ack datagram is sent back to the
sender's address once they are durable.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, cast

from telebench.errors import ProtocolError
from telebench.hub.pipeline import prepare
from telebench.protocols import Role, Session, new_session
from telebench.protocols.events import Accept, Heartbeat, Records, Refuse, Rejected

if TYPE_CHECKING:
    from telebench.hub.core import ChannelRuntime, HubCore

__all__ = ["DatagramChannel"]


class DatagramChannel(asyncio.DatagramProtocol):
    """``asyncio.DatagramProtocol`` of one UDP channel."""

    def __init__(self, core: HubCore, channel: ChannelRuntime) -> None:
        self.core = core
        self.channel = channel
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        config = self.channel.config
        session = new_session(
            config.protocol,
            Role.SERVER,
            transport="udp",
            options={
                "max_frame_size": config.max_frame_size,
                "on_bad_checksum": config.on_bad_checksum,
            },
        )
        try:
            session.receive_data(data)
            session.receive_data(b"")  # a datagram is whole: a cut frame is an error
            for event in session.events():
                if isinstance(event, Records | Heartbeat):
                    self._on_records(session, event, peer, addr)
                elif isinstance(event, Rejected):
                    self.core.log_rejected_datagram(self.channel, peer, event)
                    self._reply(session.send(Refuse()), addr)
        except ProtocolError as exc:
            self.core.log_datagram_error(self.channel, peer, exc)
        self.core.commit.settle()  # acks of finished rounds go out between reads

    def _on_records(
        self,
        session: Session,
        event: Records | Heartbeat,
        peer: str,
        addr: tuple[str | object, ...],
    ) -> None:
        if isinstance(event, Records):
            messages, answer = event.messages, Accept(count=len(event.messages))
        else:
            messages, answer = ((event.message,) if event.message else ()), Accept()
        first = messages[0].get("ident") if messages else None
        ident = session.ident or (str(first) if first is not None else None)
        if ident is None or not messages:
            self._reply(session.send(answer), addr)
            return
        decision = self.core.identify(self.channel, ident, None, peer)
        if decision.refused:
            self.core.log_refused_datagram(self.channel, peer, ident, decision.reason)
            self._reply(session.send(Refuse()), addr)
            return
        origin = decision.origin(self.channel, peer)
        payload, _ = prepare(messages, origin, time.time(), self.core.recent)
        reply = session.send(answer)
        # An empty payload (a resend) waits for a round too: the original may not be durable yet.
        future = self.core.commit.submit(payload)
        future.add_done_callback(lambda f: self._reply(reply, addr) if not f.exception() else None)

    def _reply(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)
