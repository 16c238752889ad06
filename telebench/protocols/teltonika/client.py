"""The client role of the Teltonika session: what a device sends and how it reads answers.

:class:`~telebench.protocols.teltonika.session.TeltonikaSession` inherits it; the
simulator's trackers play this role (rule 3 of the session module).

Examples
--------
>>> from telebench.protocols._session import Role
>>> from telebench.protocols.events import Login
>>> from telebench.protocols.teltonika.session import TeltonikaSession
>>> device = TeltonikaSession(Role.CLIENT)
>>> device.send(Login(ident="356307042441013")).hex()
'000f333536333037303432343431303133'
>>> device.receive_data(b"\\x01")
>>> [e.accepted for e in device.events()], device.state.name
([True], 'IDENTIFIED')
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

from telebench.errors import LocalProtocolError, MalformedPacketError
from telebench.protocols._session import Session, State
from telebench.protocols.events import (
    Event,
    Login,
    LoginAnswer,
    RecordsAck,
    Rejected,
    SendCommandResponse,
    SendHeartbeat,
    SendRecords,
)
from telebench.protocols.teltonika.commands import (
    CODEC_14,
    COMMAND_CODECS,
    TYPE_NACK,
    TYPE_RESPONSE,
    Command,
    build_codec12,
    build_codec14,
)
from telebench.protocols.teltonika.framing import PROTOCOL, FrameKind
from telebench.protocols.teltonika.packets import (
    build_avl_packet,
    build_imei_message,
    build_udp_datagram,
    parse_login_answer,
    parse_records_ack,
    parse_udp_ack,
)

__all__ = ["TeltonikaClientRole"]

_PREAMBLE: Final = bytes(4)
_MIN_COMMAND_DATA: Final = 8  # codec, quantity, type, size (4), quantity


class TeltonikaClientRole(Session):
    """The device's side of a Teltonika session (TCP or UDP); see the module doc.

    It reads and writes the session's state; framing and packet parsing (``_cut``,
    ``_packet``) are the session's, shared by both roles.
    """

    codec: int
    _udp: bool
    _packet_id: int
    _avl_packet_id: int
    _udp_sent: deque[int]  # UDP: AVL packet ids awaiting acks
    _commands: deque[Command]  # commands awaiting a response

    if TYPE_CHECKING:  # framing and parsing, shared by both roles: TeltonikaSession's

        def _cut(self, *, server: bool) -> tuple[FrameKind, bytes, int] | None: ...

        def _packet(self, frame: bytes, start: int) -> Event: ...

    def _client_tcp(self) -> Event | None:
        awaited = self._pending[0] if self._pending else None
        if isinstance(awaited, Login):
            if not self._buffer:
                return None
            start = self._buffer.offset
            accepted = parse_login_answer(self._buffer.take(1)[0], offset=start)
            self._pending.popleft()
            self.state = State.IDENTIFIED if accepted else State.CLOSED
            return LoginAnswer(accepted=accepted, code="01" if accepted else "00")
        if isinstance(awaited, SendRecords):
            ahead = self._command_ahead_of_ack()
            if ahead is None:
                return None
            if not ahead:
                self._pending.popleft()
                return RecordsAck(count=parse_records_ack(self._buffer.take(4)))
        cut = self._cut(server=False)
        if cut is None:
            return None
        _kind, frame, start = cut
        return self._packet(frame, start)

    def _command_ahead_of_ack(self) -> bool | None:
        """Whether a command frame came before the awaited ack (``None``: more bytes needed).

        A server may send a command just as the device sends a packet, so the bytes awaited
        as a 4-byte ack can start with a Codec 12/14 frame instead. Both may begin
        ``00000000`` (a zero ack refuses the packet); a frame follows its preamble with a
        data size of at least 8 and a command codec id, which a refusal never does.
        """
        buf = self._buffer.view()
        if len(buf) < 4:
            return None
        if bytes(buf[:4]) != _PREAMBLE or len(buf) == 4:
            return False
        if len(buf) < 9:
            return None
        size = int.from_bytes(buf[4:8], "big")
        return size >= _MIN_COMMAND_DATA and buf[8] in COMMAND_CODECS

    def _client_datagram(self, datagram: bytes, start: int) -> Event:
        try:
            if not self._udp_sent:
                raise _malformed("datagram while no ack is awaited", start, datagram, start)
            _packet_id, avl_id, count = parse_udp_ack(datagram, offset=start)
            if avl_id != self._udp_sent[0]:
                why = f"ack for AVL packet {avl_id}, awaiting {self._udp_sent[0]}"
                raise _malformed(why, start + 5, datagram, start)
        except MalformedPacketError as err:
            return Rejected(error=err, raw=datagram)
        self._udp_sent.popleft()
        self._pending.popleft()
        return RecordsAck(count=count)

    def _send_login(self, event: Login) -> bytes:
        if self._udp:
            raise LocalProtocolError(PROTOCOL, "UDP has no login: give ident= to the session")
        out = build_imei_message(event.ident)
        self.ident = event.ident
        self.state = State.AWAITING_LOGIN
        self._pending.append(event)
        return out

    def _send_records(self, event: SendRecords) -> bytes:
        if self._udp:
            assert self.ident is not None  # checked by the constructor
            out = build_udp_datagram(
                self.codec,
                event.messages,
                imei=self.ident,
                packet_id=self._packet_id,
                avl_packet_id=self._avl_packet_id,
            )
            self._udp_sent.append(self._avl_packet_id)
            self._packet_id = (self._packet_id + 1) & 0xFFFF
            self._avl_packet_id = (self._avl_packet_id + 1) & 0xFF
        else:
            out = build_avl_packet(self.codec, event.messages)
        self._pending.append(event)
        return out

    def _send_heartbeat(self, event: SendHeartbeat) -> bytes:
        if self._udp:
            raise LocalProtocolError(PROTOCOL, "the 0xFF ping is a TCP keep-alive")
        return b"\xff"

    def _send_command_response(self, event: SendCommandResponse) -> bytes:
        """Answer the oldest command: Codec 12, or Codec 14 ACK / nACK by IMEI match."""
        if self._udp:
            raise LocalProtocolError(PROTOCOL, "command responses are sent over TCP")
        cmd = self._commands.popleft() if self._commands else None
        if cmd is None or cmd.codec != CODEC_14:
            return build_codec12(event.text, TYPE_RESPONSE)
        own = self.ident or cmd.imei
        assert own is not None  # a Codec 14 command carries an IMEI
        if cmd.imei != own:
            return build_codec14("", own, TYPE_NACK)
        return build_codec14(event.text, own, TYPE_RESPONSE)


def _malformed(why: str, offset: int, data: bytes, start: int) -> MalformedPacketError:
    return MalformedPacketError(PROTOCOL, why, offset=offset, data=data, data_start=start)
