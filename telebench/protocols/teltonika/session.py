"""The Teltonika session: TCP or UDP, server role (the hub) or client role (a device).

Rules (on top of :mod:`telebench.protocols._session`):

1. Server, TCP: frames are cut by :func:`~telebench.protocols.teltonika.framing.tcp_frame_length`.
   The IMEI message becomes ``Identified`` (``Accept`` -> ``01``, ``Refuse`` -> ``00``);
   a ``0xFF`` byte becomes ``Heartbeat`` (answered with nothing: Teltonika has no ping
   reply); an AVL packet becomes ``Records`` (``Accept(count)`` -> u32 count, default all;
   ``Refuse`` -> ``00000000``, so the device resends). A packet with a bad CRC follows
   ``on_bad_checksum``; a cleanly framed packet with a bad field becomes ``Rejected``
   (refused like the frame it is: ``00`` for a login, ``00000000`` for a packet, nothing
   for a command frame). Codec 12/13/14 responses become ``CommandResponse`` and need no
   answer. Records before a login are decoded (the ident comes from ``ident=``, if any).
2. Server, UDP: each ``receive_data`` call is one datagram; it becomes ``Records`` (ident
   from the datagram, which also sets ``session.ident``) answered with the 7-byte ack,
   count 0 on ``Refuse``; a malformed datagram is ``Rejected`` (the next one is still read).
3. Client: ``send(Login)`` -> IMEI message, then the 1-byte answer -> ``LoginAnswer``;
   ``send(SendRecords)`` -> one AVL packet (TCP, in the session's ``codec``) or datagram
   (UDP), then the 4-byte / 7-byte ack -> ``RecordsAck``. While an answer is awaited the
   next bytes are that answer (this tells an ack ``00000000`` from a Codec 12 preamble).
   A Codec 12/14 command from the server -> ``CommandRequest``; ``send(SendCommandResponse)``
   answers the oldest one (Codec 14: ACK with the device's IMEI, or nACK when the command
   named another IMEI).
4. Server, TCP, ``defer_records=True``: an AVL packet whose CRC, codec and two record
   counts check out becomes ``RawRecords`` instead of ``Records``, its AVL data undecoded
   (for :func:`telebench.protocols.decode_records`, e.g. in another process); answered
   like ``Records``. The hub uses it to decode off its event-loop thread.

State table (adds to the base table)::

    role    state           event                          next state
    server  any             Records / Heartbeat / Command  unchanged
    server  AWAITING_LOGIN  Refuse(Rejected login)         CLOSED
    client  any             send(Login)                    AWAITING_LOGIN
    client  AWAITING_LOGIN  LoginAnswer(accepted)          IDENTIFIED (else CLOSED)
    client  AWAITING_LOGIN  send(SendRecords)              allowed: answers come in order
    (UDP sessions start IDENTIFIED; a UDP client needs ``ident=``.)

Examples
--------
>>> from telebench.protocols.events import Accept
>>> server = TeltonikaSession()
>>> server.receive_data(bytes.fromhex("000F333536333037303432343431303133"))
>>> [e.ident for e in server.events()], server.send(Accept())
(['356307042441013'], b'\\x01')
"""

from __future__ import annotations

from collections import deque
from typing import Final

from telebench.errors import (
    ConfigError,
    FramingError,
    LocalProtocolError,
    MalformedPacketError,
)
from telebench.protocols._session import (
    DEFAULT_MAX_FRAME_SIZE,
    ChecksumPolicy,
    Role,
    State,
)
from telebench.protocols.events import (
    CommandRequest,
    CommandResponse,
    Event,
    Heartbeat,
    Identified,
    RawRecords,
    Records,
    Rejected,
    SendCommand,
)
from telebench.protocols.teltonika.avl import AVL_CODECS, CODEC_8E, parse_avl_data
from telebench.protocols.teltonika.client import TeltonikaClientRole
from telebench.protocols.teltonika.commands import (
    CODEC_13,
    CODEC_14,
    COMMAND_CODECS,
    TYPE_COMMAND,
    TYPE_NACK,
    TYPE_RESPONSE,
    Command,
    build_codec12,
    build_codec14,
)
from telebench.protocols.teltonika.framing import (
    MAX_IMEI_LENGTH,
    FrameKind,
    check_tcp_crc,
    tcp_frame_length,
)
from telebench.protocols.teltonika.packets import (
    build_login_answer,
    build_records_ack,
    build_udp_ack,
    parse_data,
    parse_imei_message,
    parse_udp_header,
)

__all__ = ["TeltonikaSession"]

PROTOCOL: Final = "teltonika"

# How the server answers a pending event (kept beside it, popped with it).
_SILENT: Final = 0  # ping, rejected command frame or unreadable datagram: no reply
_LOGIN: Final = 1  # 01 / 00
_TCP: Final = 2  # u32 count / 00000000
_UDP: Final = 3  # 7-byte ack, count 0 on refuse

_Ack = tuple[int, int, int]  # kind, UDP packet id, UDP AVL packet id


class TeltonikaSession(TeltonikaClientRole):
    """Teltonika session (protocols.md §3), both roles, TCP or UDP.

    Parameters
    ----------
    codec:
        Client role: the AVL codec of sent packets, ``0x8E`` (default), ``0x08`` or ``0x10``.
    defer_records:
        Server role, TCP: AVL packets become ``RawRecords`` (rule 4), decoded by the caller.
    packet_id, avl_packet_id:
        UDP client: the first datagram's packet id (u16) and AVL packet id (u8); both
        count up per datagram.
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
        codec: int = CODEC_8E,
        packet_id: int = 0,
        avl_packet_id: int = 0,
        defer_records: bool = False,
    ) -> None:
        _check_options(role, transport, codec, ident, packet_id, avl_packet_id)
        super().__init__(
            role, max_frame_size=max_frame_size, on_bad_checksum=on_bad_checksum, ident=ident
        )
        self.transport = transport
        self.codec = codec
        self._udp = transport == "udp"
        if self._udp:
            self.state = State.IDENTIFIED
        self._msg_ident = ident  # the ident stamped on decoded messages
        self._datagrams: deque[int] = deque()  # UDP: sizes of datagrams not yet read
        self._acks: deque[_Ack] = deque()  # server: how to answer each pending event
        self._ack: _Ack = (_SILENT, 0, 0)
        self._packet_id = packet_id
        self._avl_packet_id = avl_packet_id
        self._defer = defer_records and role is Role.SERVER and not self._udp
        self._udp_sent: deque[int] = deque()  # UDP client: AVL packet ids awaiting acks
        self._commands: deque[Command] = deque()  # client: commands awaiting a response

    # --- receiving --------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed received bytes (UDP: exactly one datagram per call); ``b""`` is EOF."""
        super().receive_data(data)
        if self._udp and data:
            self._datagrams.append(len(data))

    def _next_event(self) -> Event | None:
        if self._udp:
            if not self._datagrams:
                return None
            size = self._datagrams.popleft()
            self._check_frame_size(size)
            start = self._buffer.offset
            datagram = self._buffer.take(size)
            if self.role is Role.SERVER:
                return self._server_datagram(datagram, start)
            return self._client_datagram(datagram, start)
        if self.role is Role.SERVER:
            return self._server_tcp()
        return self._client_tcp()

    def _cut(self, *, server: bool) -> tuple[FrameKind, bytes, int] | None:
        """Cut the next TCP frame: ``(kind, bytes, stream offset)``, or ``None`` for more."""
        buf, start = self._buffer.view(), self._buffer.offset
        found = tcp_frame_length(buf, offset=start)
        if found is None:
            return None
        kind, total = found
        if kind is not FrameKind.PACKET and not server:
            why = f"a server sends packets with a 00000000 preamble, not {kind.name}"
            raise FramingError(PROTOCOL, why, offset=start, data=bytes(buf[:16]), data_start=start)
        self._check_frame_size(total)
        if kind is FrameKind.IMEI and total - 2 > MAX_IMEI_LENGTH:
            why = f"IMEI length {total - 2} is more than {MAX_IMEI_LENGTH}: not a Teltonika stream"
            raise FramingError(PROTOCOL, why, offset=start, data=bytes(buf[:16]), data_start=start)
        if len(buf) < total:
            return None
        return kind, self._buffer.take(total), start

    def _answerable(self, event: Event, kind: int, packet_id: int = 0, avl_id: int = 0) -> Event:
        if self.role is Role.SERVER:
            self._acks.append((kind, packet_id, avl_id))
        return event

    # --- server role ----------------------------------------------------------------------

    def _server_tcp(self) -> Event | None:
        cut = self._cut(server=True)
        if cut is None:
            return None
        kind, frame, start = cut
        if kind is FrameKind.PING:
            return self._answerable(Heartbeat(), _SILENT)
        if kind is FrameKind.IMEI:
            try:
                imei = parse_imei_message(frame, offset=start)
            except MalformedPacketError as err:
                return self._answerable(Rejected(error=err, raw=frame), _LOGIN)
            self._msg_ident = imei
            return self._answerable(Identified(ident=imei), _LOGIN)
        return self._packet(frame, start)

    def _packet(self, frame: bytes, start: int) -> Event:
        """A whole TCP packet, either role: check the CRC, then dispatch by codec id."""
        refuse = _SILENT if len(frame) > 8 and frame[8] in COMMAND_CODECS else _TCP
        flag = False
        bad = check_tcp_crc(frame, offset=start)
        if bad is not None:
            rejected = self._bad_checksum(bad, frame)
            if rejected is not None:
                return self._answerable(rejected, refuse)
            flag = True
        elif self._defer and _deferrable(frame):
            return self._answerable(
                RawRecords(
                    protocol=PROTOCOL,
                    data=frame[8:-4],
                    offset=start + 8,
                    ident=self._msg_ident,
                    count=frame[9],
                ),
                _TCP,
            )
        try:
            parsed = parse_data(
                frame[8:-4], ident=self._msg_ident, offset=start + 8, flag_bad_crc=flag
            )
            if isinstance(parsed, Command):
                return self._command_event(parsed, frame, start)
        except MalformedPacketError as err:
            return self._answerable(Rejected(error=err, raw=frame), refuse)
        if self.role is Role.CLIENT:
            error = _malformed("a server does not send AVL data", start + 8, frame, start)
            return Rejected(error=error, raw=frame)
        return self._answerable(Records(messages=tuple(parsed)), _TCP)

    def _command_event(self, cmd: Command, frame: bytes, start: int) -> Event:
        """``CommandResponse`` (server role) or ``CommandRequest`` (client role)."""
        if self.role is Role.SERVER:
            if cmd.codec == CODEC_13:
                return CommandResponse(text=cmd.text, timestamp=float(cmd.timestamp or 0))
            if cmd.type == TYPE_RESPONSE or (cmd.codec == CODEC_14 and cmd.type == TYPE_NACK):
                accepted = cmd.type == TYPE_RESPONSE
                return CommandResponse(text=cmd.text, ident=cmd.imei, accepted=accepted)
            why = f"Codec {cmd.codec} type 0x{cmd.type:02X} is not a device response"
        elif cmd.codec != CODEC_13 and cmd.type == TYPE_COMMAND:
            self._commands.append(cmd)
            return CommandRequest(text=cmd.text, ident=cmd.imei)
        else:
            why = f"Codec {cmd.codec} type 0x{cmd.type:02X} is not a server command"
        raise _malformed(why, start + 10, frame, start)

    def _server_datagram(self, datagram: bytes, start: int) -> Event:
        try:
            header, begin = parse_udp_header(datagram, offset=start)
        except MalformedPacketError as err:
            return self._answerable(Rejected(error=err, raw=datagram), _SILENT)
        ack = (_UDP, header.packet_id, header.avl_packet_id)
        try:
            messages = parse_avl_data(datagram[begin:], ident=header.imei, offset=start + begin)
        except MalformedPacketError as err:
            return self._answerable(Rejected(error=err, raw=datagram), *ack)
        self.ident = self._msg_ident = header.imei
        return self._answerable(Records(messages=tuple(messages)), *ack)

    def _pop_pending(self, what: str) -> Event:
        event = super()._pop_pending(what)
        self._ack = self._acks.popleft()
        return event

    def _answer(
        self, pending: Event, *, accept: bool, count: int | None, code: str | None
    ) -> bytes:
        kind, packet_id, avl_id = self._ack
        if kind == _LOGIN:
            if not accept:
                self.state = State.CLOSED
            return build_login_answer(accept)
        if kind == _SILENT:
            return b""
        n = 0
        if accept and isinstance(pending, RawRecords):
            n = pending.count if count is None else count
            if not 0 <= n <= pending.count:
                raise LocalProtocolError(PROTOCOL, f"Accept(count={n}) for {pending.count} records")
        elif accept and isinstance(pending, Records):
            n = len(pending.messages) if count is None else count
            if not 0 <= n <= len(pending.messages):
                raise LocalProtocolError(
                    PROTOCOL, f"Accept(count={n}) for {len(pending.messages)} records"
                )
        if kind == _UDP:
            return build_udp_ack(packet_id, avl_id, n)
        return build_records_ack(n)

    def _send_command(self, event: SendCommand) -> bytes:
        """Codec 12 command, or Codec 14 when ``event.ident`` names the target IMEI."""
        if self._udp:
            raise LocalProtocolError(PROTOCOL, "commands are sent over TCP")
        if event.ident is not None:
            return build_codec14(event.text, event.ident)
        return build_codec12(event.text)


def _malformed(why: str, offset: int, data: bytes, start: int) -> MalformedPacketError:
    return MalformedPacketError(PROTOCOL, why, offset=offset, data=data, data_start=start)


def _check_options(
    role: Role, transport: str, codec: int, ident: str | None, packet_id: int, avl_packet_id: int
) -> None:
    if transport not in ("tcp", "udp"):
        raise ConfigError(f"teltonika runs over tcp or udp, not {transport!r}")
    if codec not in AVL_CODECS:
        raise ConfigError(f"teltonika codec must be 0x08, 0x8E or 0x10, not {codec!r}")
    if not (0 <= packet_id <= 0xFFFF and 0 <= avl_packet_id <= 0xFF):
        raise ConfigError("teltonika packet_id is u16 and avl_packet_id u8")
    if role is Role.CLIENT and transport == "udp" and ident is None:
        raise ConfigError("a teltonika UDP client needs ident= (each datagram carries the IMEI)")


def _deferrable(frame: bytes) -> bool:
    """An AVL packet whose two record counts agree (the decoder checks the rest).

    A mismatch is left to the inline decoder, which rejects it at once with its reason.
    """
    return len(frame) > 14 and frame[8] in AVL_CODECS and frame[9] == frame[-5]
