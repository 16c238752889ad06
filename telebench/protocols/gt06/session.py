"""GT06 session: login, locations, alarms, status and commands, in both roles (protocols.md §5).

Rules:

1. Server role. A login (0x01) becomes ``Identified``; its ident applies at once to every
   message decoded after it (also before the hub answers). ``Accept`` sends the login
   reply (same protocol number, empty content, echoed serial); ``Refuse`` sends ``b""``:
   GT06 has no negative login, the hub closes the connection.
2. Locations (0x12, 0x22) and alarms (0x16, 0x26) become ``Records`` with one message, a
   status packet (0x13) a ``Heartbeat`` with its status message. ``Accept`` echoes protocol
   number and serial (traccar acknowledges locations too); ``Refuse`` and
   ``Accept(count=0)`` send ``b""`` and the device resends. A reply mirrors the form
   (``78 78`` / ``79 79``) of the packet it answers.
3. A command reply (0x15) becomes ``CommandResponse``, which is not answered. Any other
   protocol number becomes ``Rejected`` with code ``unsupported``, a malformed content
   ``Rejected`` with code ``malformed``; a bad CRC follows ``on_bad_checksum`` (the
   document discards such frames silently: ``Refuse`` sends ``b""``). The stream stays in
   sync in all three cases.
4. Wrong start or stop bytes, a length too small for protocol + serial + CRC, a frame
   longer than ``max_frame_size`` and EOF inside a frame raise: no later frame can be found
   reliably, and the hub closes the connection.
5. Server commands (``SendCommand`` -> 0x80) carry a server-side serial counting from 0.
6. Client role (a device). Each packet takes the next serial (1, 2, ... wrapping to 0
   after 0xFFFF). Records are sent one frame per message: the location protocol
   (``location_protocol``, 0x22 or 0x12), or its alarm (0x26 or 0x16) for a message with
   ``alarm.type``. The server's replies become ``LoginAnswer`` (0x01), ``RecordsAck``
   (0x12/0x22/0x16/0x26, one record each), ``HeartbeatAck`` (0x13) and
   ``CommandRequest`` (0x80).

State table (the base table of :mod:`telebench.protocols._session`, plus)::

    role    state           event                         next state
    server  AWAITING_LOGIN  Records/Heartbeat emitted     AWAITING_LOGIN (decoded; no
                                                          ident unless ``ident=`` given)
    server  any             Identified emitted again      unchanged (re-login; new ident)
    client  AWAITING_LOGIN  LoginAnswer(accepted=True)    IDENTIFIED

Examples
--------
>>> from telebench.protocols.events import Accept
>>> hub = Gt06Session()
>>> hub.receive_data(bytes.fromhex("78780D01012345678901234500018CDD0D0A"))
>>> [e.ident for e in hub.events()]
['123456789012345']
>>> hub.send(Accept()).hex().upper()
'787805010001D9DC0D0A'
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import ClassVar, Final

from telebench.errors import ConfigError, LocalProtocolError, MalformedPacketError
from telebench.protocols._session import (
    DEFAULT_MAX_FRAME_SIZE,
    ChecksumPolicy,
    Role,
    Session,
    State,
)
from telebench.protocols.events import (
    CommandRequest,
    CommandResponse,
    Event,
    Heartbeat,
    HeartbeatAck,
    Identified,
    Login,
    LoginAnswer,
    Records,
    RecordsAck,
    Rejected,
    SendCommand,
    SendCommandResponse,
    SendHeartbeat,
    SendRecords,
)
from telebench.protocols.gt06.framing import PROTOCOL, build_reply, frame_size, verify_frame
from telebench.protocols.gt06.packets import (
    ALARM,
    ALARM_GT06N,
    COMMAND,
    COMMAND_REPLY,
    LOCATION,
    LOCATION_GT06N,
    LOGIN,
    MESSAGE_BUILDERS,
    MESSAGE_PARSERS,
    STATUS,
    build_command,
    build_command_reply,
    build_login,
    build_status,
    parse_command,
    parse_login,
)

__all__ = ["Gt06Session"]

#: Transitions this protocol adds to the base table: (role, event type) -> next state.
_TRANSITIONS: Final[dict[tuple[Role, type[Event]], State]] = {
    (Role.CLIENT, LoginAnswer): State.IDENTIFIED,
}

_ALARM_OF: Final = {LOCATION: ALARM, LOCATION_GT06N: ALARM_GT06N}
_CHECKSUM_VALID: Final = "checksum.valid"

# A packet handler turns (session, protocol number, content, CRC was bad) into an event.
_Handler = Callable[["Gt06Session", int, bytes, bool], Event]


class Gt06Session(Session):
    """GT06 / Concox over TCP; ``location_protocol`` (0x22 or 0x12) is the client's format.

    Examples
    --------
    >>> from telebench.protocols.events import Login
    >>> device = Gt06Session(Role.CLIENT)
    >>> device.send(Login(ident="123456789012345")).hex().upper()
    '78780D01012345678901234500018CDD0D0A'
    >>> device.receive_data(bytes.fromhex("787805010001D9DC0D0A"))
    >>> list(device.events()), device.state.name
    ([LoginAnswer(accepted=True, code='01')], 'IDENTIFIED')
    """

    protocol = PROTOCOL

    def __init__(
        self,
        role: Role = Role.SERVER,
        *,
        transport: str = "tcp",
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        on_bad_checksum: ChecksumPolicy = "reject",
        ident: str | None = None,
        location_protocol: int = LOCATION_GT06N,
    ) -> None:
        if transport != "tcp":
            raise ConfigError(f"gt06 runs over tcp, not {transport!r}")
        if location_protocol not in _ALARM_OF:
            raise ConfigError(
                f"gt06 location_protocol must be 0x22 or 0x12, not {location_protocol!r}"
            )
        super().__init__(
            role, max_frame_size=max_frame_size, on_bad_checksum=on_bad_checksum, ident=ident
        )
        self.location_protocol = location_protocol
        self._alarm_protocol = _ALARM_OF[location_protocol]
        self._serial = 1  # client: serial of the next packet
        self._command_serial = 0  # server: serial of the next 0x80 command
        self._login_ident: str | None = None
        # Server: (protocol, serial, long form) of each pending non-Rejected event, in order.
        self._replies: deque[tuple[int, int, bool]] = deque()
        self._handlers = self._SERVER_PACKETS if role is Role.SERVER else self._CLIENT_PACKETS

    # --- receiving ------------------------------------------------------------------------

    def _next_event(self) -> Event | None:
        buf = self._buffer
        start = buf.offset
        total = frame_size(buf.view(), start)
        if total is None:
            return None
        if total > self.max_frame_size:
            self._check_frame_size(total)
        if len(buf) < total:
            return None
        frame = buf.take(total)
        flagged = False
        bad_crc = verify_frame(frame, start)
        if bad_crc is not None:
            rejected = self._bad_checksum(bad_crc, frame)
            if rejected is not None:
                return rejected
            flagged = True
        header = 3 if frame[0] == 0x78 else 4
        protocol = frame[header]
        handler = self._handlers.get(protocol)
        if handler is None:
            return _rejected(
                f"unsupported protocol number 0x{protocol:02x}", frame, start, header, "unsupported"
            )
        try:
            event = handler(self, protocol, frame[header + 1 : total - 6], flagged)
        except MalformedPacketError as err:
            offset = header + 1 + (err.offset or 0)
            return _rejected(err.reason, frame, start, offset, "malformed")
        if self.role is Role.SERVER and not isinstance(event, CommandResponse):
            self._replies.append(
                (protocol, (frame[total - 6] << 8) | frame[total - 5], header == 4)
            )
        return event

    def _login(self, protocol: int, content: bytes, flagged: bool) -> Event:
        self.ident = parse_login(content).ident
        return Identified(ident=self.ident)

    def _records(self, protocol: int, content: bytes, flagged: bool) -> Event:
        msg = MESSAGE_PARSERS[protocol](content, self.ident)
        if flagged:
            msg[_CHECKSUM_VALID] = False
        return Records(messages=(msg,))

    def _heartbeat(self, protocol: int, content: bytes, flagged: bool) -> Event:
        msg = MESSAGE_PARSERS[protocol](content, self.ident)
        if flagged:
            msg[_CHECKSUM_VALID] = False
        return Heartbeat(message=msg)

    def _command_response(self, protocol: int, content: bytes, flagged: bool) -> Event:
        reply = parse_command(content)
        return CommandResponse(text=reply.text, ident=self.ident, server_flag=reply.server_flag)

    def _login_answer(self, protocol: int, content: bytes, flagged: bool) -> Event:
        return LoginAnswer(accepted=True, code=f"{protocol:02x}")

    def _records_ack(self, protocol: int, content: bytes, flagged: bool) -> Event:
        return RecordsAck(count=1)

    def _heartbeat_ack(self, protocol: int, content: bytes, flagged: bool) -> Event:
        return HeartbeatAck()

    def _command_request(self, protocol: int, content: bytes, flagged: bool) -> Event:
        command = parse_command(content)
        extra = {} if command.language is None else {"language": str(command.language)}
        return CommandRequest(
            text=command.text, ident=self.ident, server_flag=command.server_flag, extra=extra
        )

    # Dispatch tables: protocol number -> handler, per role.
    _SERVER_PACKETS: ClassVar[dict[int, _Handler]] = {
        LOGIN: _login,
        LOCATION: _records,
        LOCATION_GT06N: _records,
        ALARM: _records,
        ALARM_GT06N: _records,
        STATUS: _heartbeat,
        COMMAND_REPLY: _command_response,
    }
    _CLIENT_PACKETS: ClassVar[dict[int, _Handler]] = {
        LOGIN: _login_answer,
        LOCATION: _records_ack,
        LOCATION_GT06N: _records_ack,
        ALARM: _records_ack,
        ALARM_GT06N: _records_ack,
        STATUS: _heartbeat_ack,
        COMMAND: _command_request,
    }

    def _on_event(self, event: Event) -> None:
        if self.role is Role.CLIENT:
            state = _TRANSITIONS.get((Role.CLIENT, type(event)))
            if state is not None:
                self.state = state
                self.ident = self._login_ident or self.ident

    # --- answering (server role) ------------------------------------------------------------

    def _answer(
        self, pending: Event, *, accept: bool, count: int | None, code: str | None
    ) -> bytes:
        if isinstance(pending, Rejected):
            return b""
        protocol, serial, long = self._replies.popleft()
        if isinstance(pending, Records) and count is not None:
            if not 0 <= count <= len(pending.messages):
                raise LocalProtocolError(
                    PROTOCOL, f"Accept(count={count}) for a packet of {len(pending.messages)}"
                )
            accept = accept and count > 0
        return build_reply(protocol, serial, long=long) if accept else b""

    def _send_command(self, event: SendCommand) -> bytes:
        out = build_command(event.text, event.server_flag, self._command_serial)
        self._command_serial = (self._command_serial + 1) & 0xFFFF
        return out

    # --- sending (client role) --------------------------------------------------------------

    def _send_login(self, event: Login) -> bytes:
        out = build_login(event.ident, self._serial)
        self._login_ident = event.ident
        self._serial = (self._serial + 1) & 0xFFFF
        return out

    def _send_records(self, event: SendRecords) -> bytes:
        serial, frames = self._serial, []
        for msg in event.messages:
            protocol = self._alarm_protocol if "alarm.type" in msg else self.location_protocol
            frames.append(MESSAGE_BUILDERS[protocol](msg, serial))
            serial = (serial + 1) & 0xFFFF
        self._serial = serial
        return b"".join(frames)

    def _send_heartbeat(self, event: SendHeartbeat) -> bytes:
        out = build_status(event.message or {}, self._serial)
        self._serial = (self._serial + 1) & 0xFFFF
        return out

    def _send_command_response(self, event: SendCommandResponse) -> bytes:
        out = build_command_reply(event.text, event.server_flag, self._serial)
        self._serial = (self._serial + 1) & 0xFFFF
        return out


def _rejected(reason: str, frame: bytes, start: int, index: int, code: str) -> Rejected:
    error = MalformedPacketError(
        PROTOCOL, reason, offset=start + index, data=frame, data_start=start
    )
    return Rejected(error=error, raw=frame, code=code)
