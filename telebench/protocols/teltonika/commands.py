"""Codec 12, 13 and 14: GPRS commands and responses (protocols.md §3.7, §3.8).

The data field (inside the TCP envelope of :mod:`~telebench.protocols.teltonika.framing`)
is: codec id, quantity 1, type, u32 size, payload, quantity 2. The payload is the text
(Codec 12), a u32 timestamp in seconds then the text (Codec 13), or the 8-byte IMEI
(hex digits of ``"0" + IMEI``) then the text (Codec 14). Types: ``0x05`` command (server
to device; Codec 13 examples also use it device to server), ``0x06`` response, ``0x11``
Codec 14 nACK (the IMEI did not match; payload = IMEI only). Text is one byte per
character (Latin-1), so every payload round-trips exactly.

Examples
--------
>>> build_codec12("getinfo").hex().upper()
'000000000000000F0C010500000007676574696E666F0100004312'
>>> parse_command(build_codec14("getver", "352093081452251")[8:-4])
Command(codec=14, type=5, text='getver', imei='352093081452251', timestamp=None)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from telebench.errors import LocalProtocolError, MalformedPacketError
from telebench.protocols.teltonika.framing import build_tcp_frame

__all__ = [
    "CODEC_12",
    "CODEC_13",
    "CODEC_14",
    "COMMAND_CODECS",
    "TYPE_COMMAND",
    "TYPE_NACK",
    "TYPE_RESPONSE",
    "Command",
    "build_codec12",
    "build_codec13",
    "build_codec14",
    "build_command_data",
    "parse_command",
]

PROTOCOL: Final = "teltonika"
CODEC_12: Final = 0x0C
CODEC_13: Final = 0x0D
CODEC_14: Final = 0x0E
COMMAND_CODECS: Final = frozenset({CODEC_12, CODEC_13, CODEC_14})
TYPE_COMMAND: Final = 0x05
TYPE_RESPONSE: Final = 0x06
TYPE_NACK: Final = 0x11

_HEAD: Final = struct.Struct(">BBBI")  # codec, quantity 1, type, size
_U32: Final = struct.Struct(">I")
_IMEI_BYTES: Final = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One Codec 12/13/14 command or response.

    ``imei`` is set for Codec 14 (the IMEI without the leading ``0`` pad digit),
    ``timestamp`` (UNIX seconds) for Codec 13.
    """

    codec: int
    type: int
    text: str
    imei: str | None = None
    timestamp: int | None = None


def _malformed(why: str, pos: int, data: bytes, offset: int) -> MalformedPacketError:
    return MalformedPacketError(PROTOCOL, why, offset=offset + pos, data=data, data_start=offset)


def parse_command(data: bytes, *, offset: int = 0) -> Command:
    """Parse a Codec 12/13/14 data field (codec id .. quantity 2).

    ``offset`` is the stream offset of ``data[0]``, for error positions.

    Examples
    --------
    >>> parse_command(bytes.fromhex("0D01050000000B0A81C320676574696E666F01"))
    Command(codec=13, type=5, text='getinfo', imei=None, timestamp=176276256)
    """
    try:
        codec, quantity, type_, size = _HEAD.unpack_from(data, 0)
    except struct.error:
        why = f"command of {len(data)} bytes is too short"
        raise _malformed(why, len(data), data, offset) from None
    if codec not in COMMAND_CODECS:
        raise _malformed(f"codec 0x{codec:02X} is not a command codec", 0, data, offset)
    if len(data) != _HEAD.size + size + 1:
        why = f"command size {size} does not match the data length {len(data)}"
        raise _malformed(why, 3, data, offset)
    if data[-1] != quantity:
        why = f"quantity 2 ({data[-1]}) differs from quantity 1 ({quantity})"
        raise _malformed(why, len(data) - 1, data, offset)
    payload = data[_HEAD.size : -1]
    imei, timestamp = None, None
    if codec == CODEC_13:
        if size < 4:
            raise _malformed(f"Codec 13 size {size} leaves no timestamp", 3, data, offset)
        timestamp = _U32.unpack_from(payload)[0]
        payload = payload[4:]
    elif codec == CODEC_14:
        imei = _imei(payload, data, offset)
        payload = payload[_IMEI_BYTES:]
    return Command(
        codec=codec, type=type_, text=payload.decode("latin-1"), imei=imei, timestamp=timestamp
    )


def _imei(payload: bytes, data: bytes, offset: int) -> str:
    digits = payload[:_IMEI_BYTES].hex()
    if len(digits) != 2 * _IMEI_BYTES or not digits.isdigit():
        why = f"Codec 14 IMEI {digits.upper()!r} is not 16 decimal digits"
        raise _malformed(why, _HEAD.size, data, offset)
    return digits[1:] if digits.startswith("0") else digits


def build_command_data(
    codec: int, type_: int, text: str, *, imei: str | None = None, timestamp: int = 0
) -> bytes:
    """The data field (codec id .. quantity 2) of a command or response.

    Raises
    ------
    telebench.errors.LocalProtocolError
        Text outside Latin-1, a Codec 14 IMEI that is not up to 16 digits, or a
        timestamp outside u32.

    Examples
    --------
    >>> build_command_data(0x0C, 0x05, "getio").hex()
    '0c010500000005676574696f01'
    """
    try:
        body = text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(PROTOCOL, f"command text {text!r} is not Latin-1") from exc
    if codec == CODEC_13:
        if not 0 <= timestamp <= 0xFFFFFFFF:
            raise LocalProtocolError(PROTOCOL, f"Codec 13 timestamp {timestamp} is not u32")
        body = _U32.pack(timestamp) + body
    elif codec == CODEC_14:
        body = _imei_bytes(imei) + body
    elif codec != CODEC_12:
        raise LocalProtocolError(PROTOCOL, f"codec 0x{codec:02X} is not a command codec")
    return _HEAD.pack(codec, 1, type_, len(body)) + body + b"\x01"


def _imei_bytes(imei: str | None) -> bytes:
    if imei is None or not imei.isdigit() or not imei.isascii() or len(imei) > 2 * _IMEI_BYTES:
        raise LocalProtocolError(PROTOCOL, f"Codec 14 needs an IMEI of up to 16 digits: {imei!r}")
    return bytes.fromhex(imei.rjust(2 * _IMEI_BYTES, "0"))


def build_codec12(text: str, type_: int = TYPE_COMMAND) -> bytes:
    """A Codec 12 frame: a server command (type 5) or a device response (type 6).

    Examples
    --------
    >>> build_codec12("getio").hex().upper()
    '000000000000000D0C010500000005676574696F01000000CB'
    """
    return build_tcp_frame(build_command_data(CODEC_12, type_, text))


def build_codec13(text: str, timestamp: int, type_: int = TYPE_COMMAND) -> bytes:
    """A Codec 13 frame (device to server): ``timestamp`` in UNIX seconds, then the text.

    Examples
    --------
    >>> build_codec13("getinfo", 176276256).hex().upper()
    '00000000000000130D01050000000B0A81C320676574696E666F010000ED9B'
    """
    return build_tcp_frame(build_command_data(CODEC_13, type_, text, timestamp=timestamp))


def build_codec14(text: str, imei: str, type_: int = TYPE_COMMAND) -> bytes:
    """A Codec 14 frame: command (5), response (6) or nACK (0x11, give ``text=""``).

    Examples
    --------
    >>> build_codec14("", "352093081452251", 0x11).hex().upper()
    '00000000000000100E011100000008035209308145225101000032AC'
    """
    return build_tcp_frame(build_command_data(CODEC_14, type_, text, imei=imei))
