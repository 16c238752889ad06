"""One TCP (or HTTP) connection of a channel: bytes in, session events, acks out.

Answers leave in the order the session emitted the events it answers (the sans-IO
contract), but records are acked only once the WAL has fsync'd them. So every answer waits
in a queue behind a ticket: ``None`` (answer at once) or the group-commit ticket of its
records, which calls the connection back when its round is fsync'd. A heartbeat that
follows a packet still being written waits for it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from telebench.errors import (
    FrameTooLargeError,
    ProtocolError,
    RemoteProtocolError,
    TelebenchError,
)
from telebench.hub.durable import Ticket
from telebench.hub.offload import decode_here
from telebench.hub.pipeline import Origin, prepare
from telebench.protocols import Role, Session, decode_records, new_session
from telebench.protocols.events import (
    Accept,
    CommandResponse,
    ConnectionClosed,
    Event,
    Heartbeat,
    Identified,
    RawRecords,
    Records,
    Refuse,
    Rejected,
    SendCommand,
)

if TYPE_CHECKING:
    from telebench.hub.core import ChannelRuntime, HubCore

__all__ = ["StreamConnection"]

_Answer = tuple["Ticket | None", Event]


class StreamConnection(asyncio.Protocol):
    """``asyncio.Protocol`` for one device connection (see the module doc)."""

    def __init__(self, core: HubCore, channel: ChannelRuntime) -> None:
        self.core = core
        self.channel = channel
        self.session: Session | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.ident: str | None = None
        self.origin: Origin | None = None
        self.last_activity = time.monotonic()
        self.close_reason: str | None = None
        self.commands_sent = 0
        self._answers: deque[_Answer] = deque()
        self._commands: deque[str] = deque()  # waiting for the answers ahead of them
        self._close_after_answers = False
        self._capture = False
        self._last_in = b""

    # --- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport).
        self.transport = cast("asyncio.Transport", transport)
        host, port, *_ = transport.get_extra_info("peername") or ("?", 0)
        self.peer = f"{host}:{port}"
        config = self.channel.config
        if len(self.channel.connections) >= config.max_connections:
            self.close_reason = "connection limit"
            self.core.log("connection.closed", self, reason="connection limit")
            self.transport.abort()
            return
        self.channel.connections.add(self)
        options: dict[str, object] = {
            "max_frame_size": config.max_frame_size,
            "on_bad_checksum": config.on_bad_checksum,
        }
        if config.protocol == "teltonika":
            # Decoded by a decoder process, or here straight from bytes to JSON (C).
            options["defer_records"] = True
        self.session = new_session(
            config.protocol, Role.SERVER, transport=config.codec_transport, options=options
        )
        self.core.log("connection.opened", self)

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        if self.session is None or self._close_after_answers:
            return
        if self._capture:
            self.core.capture(self, "in", data)
        self._last_in = data
        self.session.receive_data(data)
        self._process()
        self.core.commit.settle()  # acks of finished rounds go out between reads

    def eof_received(self) -> bool | None:
        if self.session is not None and not self._close_after_answers:
            self.session.receive_data(b"")
            self._process()
        return True  # keep the write side open until the pending acks are out

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.channel.connections:
            self.channel.connections.discard(self)
            reason = self.close_reason or ("peer closed" if exc is None else f"error: {exc}")
            self.core.log("connection.closed", self, reason=reason)
            self.core.connection_closed(self)

    # --- events -----------------------------------------------------------------------------

    def _process(self) -> None:
        assert self.session is not None
        try:
            for event in self.session.events():
                self._on_event(event)
        except ProtocolError as exc:
            reason = "frame too large" if isinstance(exc, FrameTooLargeError) else "protocol error"
            self.core.log_error(self, exc)
            self.close(reason)
        except TelebenchError as exc:  # e.g. the registry failed: logged on close
            self.close(f"hub error: {exc}")

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RawRecords):
            self._on_raw_records(event)
        elif isinstance(event, Records):
            self._on_records(event.messages, Accept(count=len(event.messages)))
        elif isinstance(event, Identified):
            self._on_identified(event)
        elif isinstance(event, Heartbeat):
            messages = (event.message,) if event.message is not None else ()
            self._on_records(messages, Accept())
        elif isinstance(event, Rejected):
            self.core.log_rejected(self, event)
            self._answer(None, Refuse())
        elif isinstance(event, CommandResponse):
            self.core.command_response(self, event)
        elif isinstance(event, ConnectionClosed):
            self._close_after_answers = True
            self._flush_answers()

    def _on_identified(self, event: Identified) -> None:
        decision = self.core.identify(self.channel, event.ident, event.password, self.peer)
        self.ident = event.ident  # the ident it claims, for the logs, even when refused
        if decision.refused:
            self.core.log("device.refused", self, reason=decision.reason)
            self.close_reason = f"refused: {decision.reason}"
            self._answer(None, Refuse(code=decision.code))
            self._close_after_answers = True
            self._flush_answers()
            return
        self.origin = decision.origin(self.channel, self.peer)
        if not self._capture and self.core.wants_capture(event.ident):
            self._capture = True
            self.core.capture(self, "in", self._last_in)  # the chunk that carried the login
        self.core.log("device.identified", self)
        self._answer(None, Accept())
        self.core.connection_identified(self)

    def _on_records(self, messages: tuple[Any, ...], answer: Accept) -> None:
        origin = self.origin
        if origin is None:  # no login in this protocol (OsmAnd): the ident rides in each record
            ident = (self.session.ident if self.session else None) or (
                str(messages[0].get("ident")) if messages and messages[0].get("ident") else None
            )
            if ident is None:
                self._answer(None, answer)
                return
            decision = self.core.identify(self.channel, ident, None, self.peer)
            if decision.refused:
                self.core.log("device.refused", self, ident=ident, reason=decision.reason)
                self._answer(None, Refuse())
                return
            origin = decision.origin(self.channel, self.peer)
        if not messages:
            self._answer(None, answer)
            return
        payload, _ = prepare(messages, origin, time.time(), self.core.recent)
        # Nothing fresh (a resend) still waits for a round: the original may not be durable yet.
        self._answer(self.core.commit.add(payload, self._on_durable), answer)

    def _on_raw_records(self, event: RawRecords) -> None:
        offload, origin = self.core.offload, self.origin
        if origin is None:  # no login yet: decode here, the ident may ride in the records
            try:
                messages = tuple(decode_records(event))
            except RemoteProtocolError as exc:
                self.core.log_rejected(self, Rejected(error=exc, raw=event.data))
                self._answer(None, Refuse())
                return
            self._on_records(messages, Accept(count=event.count))
            return
        now = time.time()
        if offload is not None:
            ticket = offload.submit(event, origin, now, self._on_durable)
        else:  # settled at once if the records do not decode
            ticket = Ticket()
            decode_here(
                self.core.commit, self.core.recent, (ticket, self._on_durable, event, origin, now)
            )
        self._answer(ticket, Accept(count=event.count))

    # --- answers ----------------------------------------------------------------------------

    def _answer(self, ticket: Ticket | None, answer: Event) -> None:
        self._answers.append((ticket, answer))
        if ticket is None or ticket.done:
            self._flush_answers()

    def _on_durable(self, ticket: Ticket) -> None:
        if self._answers and self._answers[0][0] is ticket:  # else it waits for older ones
            self._flush_answers()

    def _flush_answers(self) -> None:
        while self._answers:
            ticket, answer = self._answers[0]
            if ticket is not None and not ticket.done:
                return
            self._answers.popleft()
            if ticket is not None and isinstance(ticket.error, RemoteProtocolError):
                # Records a decoder process could not decode: refused, like Rejected.
                self.core.log_rejected(self, Rejected(error=ticket.error, raw=b""))
                answer = Refuse()
            elif ticket is not None and ticket.error is not None:
                # Not durable: no ack. The device keeps its records and resends them.
                self.close(f"store failure: {ticket.error}")
                return
            self.write(self._send(answer))
        while self._commands and not self._close_after_answers:
            self._write_command(self._commands.popleft())
        if self._close_after_answers:
            self.close(self.close_reason or "peer closed")

    def _send(self, answer: Event) -> bytes:
        assert self.session is not None
        try:
            return self.session.send(answer)
        except ProtocolError:
            return b""  # the session is already closed or broken: nothing left to answer

    def write(self, data: bytes) -> None:
        """Write to the device (and to the raw capture)."""
        if data and self.transport is not None and not self.transport.is_closing():
            if self._capture:
                self.core.capture(self, "out", data)
            self.transport.write(data)

    def send_command(self, text: str) -> bool:
        """Send a command; ``False`` if this connection cannot carry it.

        A command never overtakes a pending ack: a Teltonika device reading ``00000000``
        right after sending records would take a Codec 12 frame for "0 records accepted".
        """
        if self.session is None or self.transport is None or self.transport.is_closing():
            return False
        if self._answers:
            self._commands.append(text)
            return True
        return self._write_command(text)

    def _write_command(self, text: str) -> bool:
        assert self.session is not None
        try:
            data = self.session.send(SendCommand(text=text, ident=self.ident))
        except ProtocolError:
            return False
        self.write(data)
        return True

    def close(self, reason: str) -> None:
        """Close the connection, remembering why (logged when it is gone)."""
        if self.close_reason is None:
            self.close_reason = reason
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
