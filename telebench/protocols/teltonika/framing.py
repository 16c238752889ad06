"""Teltonika TCP framing: where one frame ends, and the packet envelope (preamble + CRC).

Theory of operation (protocols.md §3.1, traccar ``TeltonikaFrameDecoder``): a TCP stream
from a device holds three kinds of frames, told apart by their first bytes:

* ``0xFF`` -- a one-byte keep-alive ping;
* a non-zero u16 -- the IMEI message: that many ASCII digits follow;
* ``00000000`` -- a packet: u32 data length, the data (codec id .. number of data 2) and
  a 4-byte CRC field (``0000`` + CRC-16/ARC of the data).

:func:`tcp_frame_length` looks at the buffered bytes without consuming them and says how
long the frame is, so the session can check the length against its maximum before it
waits for (and buffers) the whole frame.

Examples
--------
>>> tcp_frame_length(b"\\x00\\x0f3563")
(<FrameKind.IMEI: 1>, 17)
>>> tcp_frame_length(b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x0f\\x0c")
(<FrameKind.PACKET: 2>, 27)
>>> tcp_frame_length(b"\\x00\\x00\\x00") is None
True
>>> build_tcp_frame(b"\\x0c\\x01\\x05\\x00\\x00\\x00\\x05getio\\x01").hex()
'000000000000000d0c010500000005676574696f01000000cb'
"""

from __future__ import annotations

import enum
import struct
from typing import Final

from telebench.errors import ChecksumError, FramingError
from telebench.protocols._crc import crc16_arc

__all__ = [
    "MAX_IMEI_LENGTH",
    "PING",
    "PREAMBLE",
    "FrameKind",
    "build_tcp_frame",
    "check_tcp_crc",
    "tcp_frame_length",
]

PROTOCOL: Final = "teltonika"
#: The keep-alive byte some devices send (traccar frame decoder).
PING: Final = 0xFF
#: Four zero bytes that open every TCP packet (§3.2).
PREAMBLE: Final = b"\x00\x00\x00\x00"
#: Longest IMEI message we believe: an IMEI has 15 digits; a longer "length" is garbage.
MAX_IMEI_LENGTH: Final = 32
#: Bytes of a packet that are not data: preamble, data length, CRC field.
ENVELOPE: Final = 12

_LENGTH: Final = struct.Struct(">I")


class FrameKind(enum.IntEnum):
    """What the frame at the start of a device's TCP stream is."""

    PING = 0
    IMEI = 1
    PACKET = 2


def tcp_frame_length(buf: bytes | bytearray, *, offset: int = 0) -> tuple[FrameKind, int] | None:
    """``(kind, total length)`` of the frame opening ``buf``, or ``None`` until that is known.

    ``offset`` is the stream offset of ``buf[0]``, for error positions.

    Raises
    ------
    telebench.errors.FramingError
        A packet whose first four bytes are not the ``00000000`` preamble.

    Examples
    --------
    >>> tcp_frame_length(b"\\xff\\x00")
    (<FrameKind.PING: 0>, 1)
    """
    n = len(buf)
    if not n:
        return None
    if buf[0] == PING:
        return FrameKind.PING, 1
    if n < 2:
        return None
    length = (buf[0] << 8) | buf[1]
    if length:
        return FrameKind.IMEI, length + 2
    if (n >= 3 and buf[2]) or (n >= 4 and buf[3]):
        raise FramingError(
            PROTOCOL,
            "bad preamble: a packet starts with 00000000",
            offset=offset + (2 if buf[2] else 3),
            data=bytes(buf[:16]),
            data_start=offset,
        )
    if n < 8:
        return None
    return FrameKind.PACKET, _LENGTH.unpack_from(buf, 4)[0] + ENVELOPE


def build_tcp_frame(data: bytes) -> bytes:
    """Wrap a data field (codec id .. number of data 2) in preamble, length and CRC.

    Examples
    --------
    >>> build_tcp_frame(b"")
    b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00'
    """
    return b"".join((PREAMBLE, _LENGTH.pack(len(data)), data, _LENGTH.pack(crc16_arc(data))))


def check_tcp_crc(frame: bytes, *, offset: int = 0) -> ChecksumError | None:
    """The :class:`~telebench.errors.ChecksumError` of a whole packet, or ``None`` if valid.

    The error is returned, not raised, so the session can apply its checksum policy.

    Examples
    --------
    >>> frame = build_tcp_frame(b"\\x0c\\x01\\x05\\x00\\x00\\x00\\x05getio\\x01")
    >>> check_tcp_crc(frame) is None
    True
    >>> print(check_tcp_crc(frame[:-1] + b"\\x00"))  # doctest: +ELLIPSIS
    teltonika: CRC field 0x00000000, computed 0x00CB at byte 21: ...
    """
    received = _LENGTH.unpack_from(frame, len(frame) - 4)[0]
    computed = crc16_arc(frame[8:-4])
    if received == computed:
        return None
    return ChecksumError(
        PROTOCOL,
        f"CRC field 0x{received:08X}, computed 0x{computed:04X}",
        expected=computed,
        received=received,
        offset=offset + len(frame) - 4,
        data=frame,
        data_start=offset,
    )
