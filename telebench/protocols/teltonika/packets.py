"""Teltonika packets: pure ``parse_*`` / ``build_*`` functions, one per packet type.

===========================  ===============================  ============================
packet                       builder                          parser
===========================  ===============================  ============================
IMEI message (device)        :func:`build_imei_message`       :func:`parse_imei_message`
login answer (server)        :func:`build_login_answer`       :func:`parse_login_answer`
TCP AVL packet (device)      :func:`build_avl_packet`         :func:`parse_data` (dispatch)
TCP records ack (server)     :func:`build_records_ack`        :func:`parse_records_ack`
UDP datagram (device)        :func:`build_udp_datagram`       :func:`parse_udp_datagram`
UDP ack (server)             :func:`build_udp_ack`            :func:`parse_udp_ack`
Codec 12/13/14               :mod:`.commands` builders        :func:`parse_data` (dispatch)
===========================  ===============================  ============================

:data:`PARSERS` dispatches a data field (codec id .. number of data 2) by its codec id.

Examples
--------
>>> build_imei_message("356307042441013").hex().upper()
'000F333536333037303432343431303133'
>>> build_records_ack(2).hex(), build_udp_ack(0xCAFE, 5, 1).hex().upper()
('00000002', '0005CAFE010501')
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from telebench.errors import LocalProtocolError, MalformedPacketError
from telebench.model import Message
from telebench.protocols.teltonika.avl import (
    CODEC_8,
    CODEC_8E,
    CODEC_16,
    build_avl_data,
    parse_avl_data,
)
from telebench.protocols.teltonika.commands import (
    CODEC_12,
    CODEC_13,
    CODEC_14,
    Command,
    build_codec12,
    build_codec13,
    build_codec14,
    parse_command,
)
from telebench.protocols.teltonika.framing import build_tcp_frame

__all__ = [
    "PARSERS",
    "UDP_ACK_SIZE",
    "UDP_PACKET_TYPE",
    "UdpHeader",
    "build_avl_packet",
    "build_codec12",
    "build_codec13",
    "build_codec14",
    "build_imei_message",
    "build_login_answer",
    "build_records_ack",
    "build_tcp_frame",
    "build_udp_ack",
    "build_udp_datagram",
    "parse_data",
    "parse_imei_message",
    "parse_login_answer",
    "parse_records_ack",
    "parse_udp_ack",
    "parse_udp_datagram",
    "parse_udp_header",
]

PROTOCOL: Final = "teltonika"
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_UDP_HEAD: Final = struct.Struct(">HHBBH")  # length, packet id, type, AVL packet id, IMEI len
_UDP_ACK: Final = struct.Struct(">HHBBB")  # 5, packet id, 0x01, AVL packet id, count
UDP_ACK_SIZE: Final = _UDP_ACK.size
#: UDP packet type "no channel-level ack needed" (§3.5); also the ack's type byte.
UDP_PACKET_TYPE: Final = 0x01


def _malformed(why: str, pos: int, data: bytes, offset: int) -> MalformedPacketError:
    return MalformedPacketError(PROTOCOL, why, offset=offset + pos, data=data, data_start=offset)


def _check_imei(imei: str) -> bytes:
    if not (imei.isdigit() and imei.isascii() and 0 < len(imei) <= 0xFFFF):
        raise LocalProtocolError(PROTOCOL, f"an IMEI is ASCII digits, not {imei!r}")
    return imei.encode("ascii")


# --- login ------------------------------------------------------------------------------


def build_imei_message(imei: str) -> bytes:
    """The device's first TCP message: u16 length + ASCII IMEI (§3.1).

    Examples
    --------
    >>> build_imei_message("1")
    b'\\x00\\x011'
    """
    raw = _check_imei(imei)
    return _U16.pack(len(raw)) + raw


def parse_imei_message(frame: bytes, *, offset: int = 0) -> str:
    """The IMEI of a whole IMEI message (the u16 length must match).

    Examples
    --------
    >>> parse_imei_message(bytes.fromhex("000F333536333037303432343431303133"))
    '356307042441013'
    """
    if len(frame) < 2 or _U16.unpack_from(frame)[0] != len(frame) - 2:
        raise _malformed("IMEI length does not match the message", 0, frame, offset)
    digits = frame[2:]
    if not digits.isdigit():
        bad = next((i for i, b in enumerate(digits) if not 0x30 <= b <= 0x39), 0)
        raise _malformed("IMEI is not ASCII digits", 2 + bad, frame, offset)
    return digits.decode("ascii")


def build_login_answer(accepted: bool) -> bytes:
    """The server's one-byte answer to the IMEI message: ``01`` accept, ``00`` refuse.

    Examples
    --------
    >>> build_login_answer(True), build_login_answer(False)
    (b'\\x01', b'\\x00')
    """
    return b"\x01" if accepted else b"\x00"


def parse_login_answer(byte: int, *, offset: int = 0) -> bool:
    """Whether the server's one-byte login answer accepts the device.

    Examples
    --------
    >>> parse_login_answer(1), parse_login_answer(0)
    (True, False)
    """
    if byte not in (0, 1):
        why = f"login answer 0x{byte:02X} is neither 01 nor 00"
        raise _malformed(why, 0, bytes((byte,)), offset)
    return byte == 1


# --- TCP AVL packets ----------------------------------------------------------------------


def build_avl_packet(codec: int, messages: Sequence[Message]) -> bytes:
    """A whole TCP AVL packet (Codec 8, 8E or 16) carrying ``messages`` in order.

    Examples
    --------
    >>> build_avl_packet(0x8E, [{"timestamp": 0.0}]).hex()[:24]
    '00000000000000298e010000'
    """
    return build_tcp_frame(build_avl_data(codec, messages))


def build_records_ack(count: int) -> bytes:
    """The server's TCP ack: the number of accepted records as u32 (§3.1).

    Examples
    --------
    >>> build_records_ack(0)
    b'\\x00\\x00\\x00\\x00'
    """
    if not 0 <= count <= 0xFFFFFFFF:
        raise LocalProtocolError(PROTOCOL, f"record count {count} is not u32")
    return _U32.pack(count)


def parse_records_ack(ack: bytes) -> int:
    """The count of a 4-byte TCP ack.

    Examples
    --------
    >>> parse_records_ack(b"\\x00\\x00\\x00\\x02")
    2
    """
    if len(ack) != _U32.size:
        raise _malformed(f"a records ack is 4 bytes, not {len(ack)}", 0, ack, 0)
    count: int = _U32.unpack(ack)[0]
    return count


# --- UDP ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpHeader:
    """The UDP channel and AVL packet header of a datagram (§3.5)."""

    packet_id: int
    packet_type: int
    avl_packet_id: int
    imei: str


def build_udp_datagram(
    codec: int,
    messages: Sequence[Message],
    *,
    imei: str,
    packet_id: int,
    avl_packet_id: int,
    packet_type: int = UDP_PACKET_TYPE,
) -> bytes:
    """A UDP datagram: header, IMEI, then the AVL data (no preamble, no CRC).

    Examples
    --------
    >>> dgram = build_udp_datagram(0x08, [{"timestamp": 0.0}], imei="1",
    ...                            packet_id=0xCAFE, avl_packet_id=5)
    >>> dgram[:9].hex().upper()
    '0028CAFE0105000131'
    """
    if not (0 <= packet_id <= 0xFFFF and 0 <= avl_packet_id <= 0xFF and 0 <= packet_type <= 0xFF):
        raise LocalProtocolError(PROTOCOL, "UDP packet id is u16, AVL packet id and type u8")
    raw_imei = _check_imei(imei)
    data = build_avl_data(codec, messages)
    length = _UDP_HEAD.size - 2 + len(raw_imei) + len(data)
    if length > 0xFFFF:
        raise LocalProtocolError(PROTOCOL, f"datagram of {length} bytes exceeds u16")
    head = _UDP_HEAD.pack(length, packet_id, packet_type, avl_packet_id, len(raw_imei))
    return head + raw_imei + data


def parse_udp_header(datagram: bytes, *, offset: int = 0) -> tuple[UdpHeader, int]:
    """The header of a datagram and the index where its AVL data starts.

    Examples
    --------
    >>> parse_udp_header(bytes.fromhex("000ACAFE0105000131080000"))
    (UdpHeader(packet_id=51966, packet_type=1, avl_packet_id=5, imei='1'), 9)
    """
    try:
        length, packet_id, packet_type, avl_id, imei_len = _UDP_HEAD.unpack_from(datagram)
    except struct.error:
        why = f"datagram of {len(datagram)} bytes is shorter than the UDP header"
        raise _malformed(why, len(datagram), datagram, offset) from None
    if length != len(datagram) - 2:
        why = f"datagram length field {length} does not match {len(datagram) - 2} bytes"
        raise _malformed(why, 0, datagram, offset)
    start = _UDP_HEAD.size + imei_len
    if start > len(datagram):
        why = f"IMEI length {imei_len} runs past the datagram"
        raise _malformed(why, _UDP_HEAD.size - 2, datagram, offset)
    imei = parse_imei_message(datagram[6:start], offset=offset + 6)
    header = UdpHeader(
        packet_id=packet_id, packet_type=packet_type, avl_packet_id=avl_id, imei=imei
    )
    return header, start


def parse_udp_datagram(datagram: bytes, *, offset: int = 0) -> tuple[UdpHeader, list[Message]]:
    """The header and messages of one UDP datagram (Codec 8, 8E or 16).

    Examples
    --------
    >>> dgram = build_udp_datagram(0x10, [{"timestamp": 1.5}], imei="7",
    ...                            packet_id=1, avl_packet_id=2)
    >>> header, [msg] = parse_udp_datagram(dgram)
    >>> header.imei, msg["ident"], msg["timestamp"], msg["event.generation.enum"]
    ('7', '7', 1.5, 7)
    """
    header, start = parse_udp_header(datagram, offset=offset)
    messages = parse_avl_data(datagram[start:], ident=header.imei, offset=offset + start)
    return header, messages


def build_udp_ack(packet_id: int, avl_packet_id: int, count: int) -> bytes:
    """The server's 7-byte UDP ack: ``0005`` + packet id + ``01`` + AVL packet id + count.

    Examples
    --------
    >>> build_udp_ack(0xCAFE, 0x1B, 1).hex().upper()
    '0005CAFE011B01'
    """
    if not 0 <= count <= 0xFF:
        raise LocalProtocolError(PROTOCOL, f"a UDP ack counts 0..255 records, not {count}")
    return _UDP_ACK.pack(5, packet_id, UDP_PACKET_TYPE, avl_packet_id, count)


def parse_udp_ack(datagram: bytes, *, offset: int = 0) -> tuple[int, int, int]:
    """``(packet id, AVL packet id, count)`` of a 7-byte UDP ack.

    Examples
    --------
    >>> parse_udp_ack(bytes.fromhex("0005CAFE010701"))
    (51966, 7, 1)
    """
    if len(datagram) != UDP_ACK_SIZE:
        why = f"a UDP ack is 7 bytes, not {len(datagram)}"
        raise _malformed(why, min(len(datagram), UDP_ACK_SIZE), datagram, offset)
    length, packet_id, _type, avl_packet_id, count = _UDP_ACK.unpack(datagram)
    if length != UDP_ACK_SIZE - 2:
        raise _malformed(f"UDP ack length field {length} is not 5", 0, datagram, offset)
    return packet_id, avl_packet_id, count


# --- dispatch by codec id ----------------------------------------------------------------


def _parse_avl(
    data: bytes, ident: str | None, offset: int, flag_bad_crc: bool
) -> list[Message] | Command:
    return parse_avl_data(data, ident=ident, offset=offset, flag_bad_crc=flag_bad_crc)


def _parse_command(
    data: bytes, ident: str | None, offset: int, flag_bad_crc: bool
) -> list[Message] | Command:
    return parse_command(data, offset=offset)


Parser = Callable[[bytes, str | None, int, bool], list[Message] | Command]

#: Codec id -> parser of the data field (codec id .. number of data 2).
PARSERS: Final[dict[int, Parser]] = {
    CODEC_8: _parse_avl,
    CODEC_8E: _parse_avl,
    CODEC_16: _parse_avl,
    CODEC_12: _parse_command,
    CODEC_13: _parse_command,
    CODEC_14: _parse_command,
}


def parse_data(
    data: bytes, *, ident: str | None = None, offset: int = 0, flag_bad_crc: bool = False
) -> list[Message] | Command:
    """Parse a TCP data field by its codec id: AVL messages or a command.

    Examples
    --------
    >>> parse_data(bytes.fromhex("0C010500000005676574696F01"))
    Command(codec=12, type=5, text='getio', imei=None, timestamp=None)
    >>> parse_data(b"\\x99\\x00\\x00")
    Traceback (most recent call last):
    ...
    telebench.errors.MalformedPacketError: teltonika: unknown codec id 0x99 at byte 0: [99] 00 00
    """
    parser = PARSERS.get(data[0]) if data else None
    if parser is None:
        why = f"unknown codec id 0x{data[0]:02X}" if data else "empty data field"
        raise _malformed(why, 0, data, offset)
    return parser(data, ident, offset, flag_bad_crc)
