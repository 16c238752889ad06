"""The session contract every protocol implements (sans-IO, in the style of h11/wsproto).

Rules:

1. ``receive_data(data)`` buffers bytes; ``receive_data(b"")`` means the peer closed.
   Nothing is parsed until ``events()`` is iterated.
2. ``events()`` yields every event the buffered bytes complete, then stops; it never
   yields a partial frame. A broken stream (unknown framing, oversize frame, EOF inside a
   frame) raises a :class:`~telebench.errors.RemoteProtocolError` and the session enters
   ``ERROR``; a cleanly cut but unacceptable packet becomes a ``Rejected`` event.
3. ``send(event)`` returns the bytes to write. The session never writes by itself: in the
   server role every ``Identified``/``Records``/``Heartbeat``/``Rejected`` waits for the
   caller's ``Accept`` or ``Refuse``, answered oldest first (the hub acks after the
   durable write).
4. No clock, no sockets, no storage: a message without a device time has no
   ``timestamp``; the hub stamps ``server.timestamp``.

State table (both roles)::

    state           event                              next state
    AWAITING_LOGIN  Identified emitted / Login sent    AWAITING_LOGIN (until answered)
    AWAITING_LOGIN  Accept(Identified) / LoginAnswer ok IDENTIFIED
    AWAITING_LOGIN  Refuse(Identified) / LoginAnswer no CLOSED
    any             ConnectionClosed                   CLOSED
    any             RemoteProtocolError raised         ERROR

Protocols without a login (OsmAnd, UDP datagrams) start in ``IDENTIFIED``.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from typing import ClassVar, Literal

from telebench.errors import (
    ChecksumError,
    FrameTooLargeError,
    FramingError,
    LocalProtocolError,
    RemoteProtocolError,
)
from telebench.model import Message
from telebench.protocols._buffer import ReceiveBuffer
from telebench.protocols.events import (
    Accept,
    ConnectionClosed,
    Event,
    Heartbeat,
    Identified,
    Login,
    RawRecords,
    Records,
    Refuse,
    Rejected,
    SendCommand,
    SendCommandResponse,
    SendHeartbeat,
    SendRecords,
)

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "ChecksumPolicy",
    "Role",
    "Session",
    "State",
    "decode_stream",
]

#: Default largest frame a session buffers (bytes); Teltonika packets are <= 1280.
DEFAULT_MAX_FRAME_SIZE = 65_536

#: What a session does with a frame whose CRC does not match: emit ``Rejected`` (the hub
#: refuses it and the device resends), accept it with ``checksum.valid = False``, or raise.
ChecksumPolicy = Literal["reject", "flag", "raise"]


class Role(enum.Enum):
    """Which end of the connection the session plays."""

    SERVER = "server"
    CLIENT = "client"


class State(enum.Enum):
    """Connection state shared by all protocols."""

    AWAITING_LOGIN = "awaiting_login"
    IDENTIFIED = "identified"
    CLOSED = "closed"
    ERROR = "error"


_ANSWERABLE = (Identified, Records, RawRecords, Heartbeat, Rejected)


class Session:
    """Base class of protocol sessions; subclasses implement the frame hooks.

    Subclasses set ``protocol`` and implement ``_next_event`` (cut one frame from
    ``self._buffer`` and turn it into an event, or return ``None`` when more bytes are
    needed) and the ``_answer``/``_build_*`` hooks for the events they support.
    """

    protocol: ClassVar[str] = "?"
    #: Protocols without a login handshake start identified.
    needs_login: ClassVar[bool] = True

    def __init__(
        self,
        role: Role = Role.SERVER,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        on_bad_checksum: ChecksumPolicy = "reject",
        ident: str | None = None,
    ) -> None:
        self.role = role
        self.max_frame_size = max_frame_size
        self.on_bad_checksum: ChecksumPolicy = on_bad_checksum
        self.ident = ident
        self.state = (
            State.AWAITING_LOGIN if self.needs_login and ident is None else (State.IDENTIFIED)
        )
        self._buffer = ReceiveBuffer()
        self._eof = False
        self._closed_emitted = False
        # Server role: events awaiting Accept/Refuse. Client role: what awaits the server.
        self._pending: deque[Event] = deque()

    # --- public API -----------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the peer; ``b""`` means the peer closed the stream."""
        if self.state is State.ERROR:
            raise LocalProtocolError(self.protocol, "session is in ERROR after a protocol error")
        if self._eof:
            if data:
                raise LocalProtocolError(self.protocol, "data received after end of stream")
            return
        if not data:
            self._eof = True
            return
        self._buffer.feed(data)

    def events(self) -> Iterator[Event]:
        """Yield every event the buffered bytes complete (see the module rules)."""
        while True:
            if self.state is State.ERROR:
                return
            try:
                event = self._next_event()
            except RemoteProtocolError:
                self.state = State.ERROR
                raise
            if event is None:
                break
            if self.role is Role.SERVER and isinstance(event, _ANSWERABLE):
                self._pending.append(event)
            self._on_event(event)
            yield event
        if self._eof and not self._closed_emitted:
            if self._buffer:
                self.state = State.ERROR
                raise FramingError(
                    self.protocol,
                    f"stream ended inside a frame ({len(self._buffer)} bytes left over)",
                    offset=self._buffer.offset,
                    data=self._buffer.peek(64),
                    data_start=self._buffer.offset,
                )
            self._closed_emitted = True
            self.state = State.CLOSED
            yield ConnectionClosed()

    def send(self, event: Event) -> bytes:
        """Turn an event into the bytes to write to the peer."""
        handler = self._SEND.get(type(event))
        if handler is None:
            raise LocalProtocolError(self.protocol, f"{type(event).__name__} cannot be sent")
        role, method = handler
        if role is not self.role:
            raise LocalProtocolError(
                self.protocol,
                f"{type(event).__name__} is sent by the {role.value} role, "
                f"this session plays the {self.role.value}",
            )
        if self.state in (State.CLOSED, State.ERROR) and not isinstance(event, Accept | Refuse):
            raise LocalProtocolError(self.protocol, f"cannot send in state {self.state.name}")
        out: bytes = getattr(self, method)(event)
        return out

    @property
    def pending(self) -> int:
        """How many received events still wait for an answer (server role)."""
        return len(self._pending)

    # --- answers (server role) --------------------------------------------------------------

    def _send_accept(self, event: Accept) -> bytes:
        pending = self._pop_pending("Accept")
        if isinstance(pending, Rejected):
            raise LocalProtocolError(self.protocol, "a Rejected packet can only be refused")
        if isinstance(pending, Identified):
            self.ident = pending.ident
            self.state = State.IDENTIFIED
        return self._answer(pending, accept=True, count=event.count, code=None)

    def _send_refuse(self, event: Refuse) -> bytes:
        pending = self._pop_pending("Refuse")
        if isinstance(pending, Identified):
            self.state = State.CLOSED
        return self._answer(pending, accept=False, count=0, code=event.code)

    def _pop_pending(self, what: str) -> Event:
        if not self._pending:
            raise LocalProtocolError(self.protocol, f"{what}: no received event awaits an answer")
        return self._pending.popleft()

    # --- helpers for subclasses -----------------------------------------------------------------

    def _check_frame_size(self, announced: int, data: bytes = b"") -> None:
        """Refuse a frame longer than ``max_frame_size`` before buffering it whole."""
        if announced > self.max_frame_size:
            self.state = State.ERROR
            raise FrameTooLargeError(
                self.protocol,
                f"frame of {announced} bytes exceeds the maximum of {self.max_frame_size}",
                offset=self._buffer.offset,
                data=data or self._buffer.peek(32),
                data_start=self._buffer.offset,
            )

    def _bad_checksum(self, error: ChecksumError, raw: bytes) -> Rejected | None:
        """Apply the checksum policy: ``Rejected`` event, ``None`` (flag) or raise."""
        if self.on_bad_checksum == "raise":
            raise error
        if self.on_bad_checksum == "reject":
            return Rejected(error=error, raw=raw)
        return None

    def _on_event(self, event: Event) -> None:
        """Hook: update state after an event is emitted (subclasses may extend)."""

    # --- hooks for subclasses ---------------------------------------------------------------

    def _next_event(self) -> Event | None:
        raise LocalProtocolError(self.protocol, "session does not implement receiving")

    def _answer(
        self, pending: Event, *, accept: bool, count: int | None, code: str | None
    ) -> bytes:
        raise LocalProtocolError(self.protocol, f"cannot answer {type(pending).__name__}")

    def _send_command(self, event: SendCommand) -> bytes:
        raise LocalProtocolError(self.protocol, "this protocol has no server commands")

    def _send_login(self, event: Login) -> bytes:
        raise LocalProtocolError(self.protocol, "this protocol has no login")

    def _send_records(self, event: SendRecords) -> bytes:
        raise LocalProtocolError(self.protocol, "sending records is not supported")

    def _send_heartbeat(self, event: SendHeartbeat) -> bytes:
        raise LocalProtocolError(self.protocol, "this protocol has no heartbeat")

    def _send_command_response(self, event: SendCommandResponse) -> bytes:
        raise LocalProtocolError(self.protocol, "this protocol has no command responses")

    _SEND: ClassVar[dict[type[Event], tuple[Role, str]]] = {
        Accept: (Role.SERVER, "_send_accept"),
        Refuse: (Role.SERVER, "_send_refuse"),
        SendCommand: (Role.SERVER, "_send_command"),
        Login: (Role.CLIENT, "_send_login"),
        SendRecords: (Role.CLIENT, "_send_records"),
        SendHeartbeat: (Role.CLIENT, "_send_heartbeat"),
        SendCommandResponse: (Role.CLIENT, "_send_command_response"),
    }


def decode_stream(session: Session, payload: bytes) -> list[Message]:
    """Run ``payload`` through a server-role ``session`` and collect its messages.

    Logins, records and status heartbeats are accepted; a ``Rejected`` packet raises its
    error, so stateless decoding is strict. Used by every protocol's ``decode_payload``.
    """
    session.receive_data(payload)
    session.receive_data(b"")
    messages: list[Message] = []
    for event in session.events():
        if isinstance(event, Rejected):
            raise event.error
        if isinstance(event, Records):
            messages.extend(event.messages)
        elif isinstance(event, Heartbeat) and event.message is not None:
            messages.append(event.message)
        if isinstance(event, _ANSWERABLE):
            session.send(Accept())
    return messages
