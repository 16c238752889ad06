"""GT06 framing: cut frames from the byte stream, verify them, build them (protocols.md §5.1).

Theory of operation. A frame is::

    78 78 | len u8  | protocol | content (N) | serial u16 | CRC u16 | 0D 0A     short form
    79 79 | len u16 | protocol | content (N) | serial u16 | CRC u16 | 0D 0A     long form

with ``len = 1 + N + 2 + 2`` (protocol, content, serial, CRC) and the CRC-16/X-25 taken
over the length field .. serial, written big-endian. :func:`frame_size` reads the header
as soon as it is buffered, so the session can refuse an oversize frame before buffering it
whole; :func:`verify_frame` checks the stop bytes and the CRC of a frame cut whole.

The framer never skips garbage: a wrong start byte is a :class:`FramingError` at that
byte, and the hub closes the connection (a resynchronising framer would silently drop a
real device's data together with the noise). A bad CRC is not a framing error: the frame
was cut cleanly, and the session applies its checksum policy (the Concox document says such
a frame is discarded silently).

Examples
--------
>>> frame = build_reply(0x01, 1)
>>> frame.hex().upper()
'787805010001D9DC0D0A'
>>> frame_size(frame, 0), verify_frame(frame, 0) is None
(10, True)
"""

from __future__ import annotations

import struct
from typing import Final

from telebench.errors import ChecksumError, FramingError, LocalProtocolError
from telebench.protocols._crc import crc16_x25

__all__ = [
    "MIN_LENGTH",
    "PROTOCOL",
    "build_frame",
    "build_reply",
    "frame_size",
    "u16_bytes",
    "verify_frame",
]

PROTOCOL: Final = "gt06"
SHORT_START: Final = 0x78
LONG_START: Final = 0x79
#: Smallest packet length: protocol (1) + serial (2) + CRC (2), empty content.
MIN_LENGTH: Final = 5
#: Longest content the short form carries: 255 - MIN_LENGTH.
MAX_SHORT_CONTENT: Final = 0xFF - MIN_LENGTH
MAX_LONG_CONTENT: Final = 0xFFFF - MIN_LENGTH

_REPLY: Final = struct.Struct(">HBBHHH")  # start, length 5, protocol, serial, CRC, stop
_REPLY_LONG: Final = struct.Struct(">HHBHHH")
_TAIL: Final = struct.Struct(">HH")  # CRC, stop


def frame_size(data: bytes | bytearray, stream_offset: int) -> int | None:
    """Total bytes of the frame at the start of ``data``; ``None`` until its header is in.

    Raises :class:`FramingError` at the offending byte for a wrong start byte or a length
    too small to hold protocol, serial and CRC. ``stream_offset`` is the stream position
    of ``data[0]``, used in error messages.

    Examples
    --------
    >>> frame_size(bytes.fromhex("7878"), 0) is None
    True
    >>> frame_size(bytes.fromhex("78780D01"), 0)
    18
    >>> frame_size(bytes.fromhex("7979002001"), 0)
    38
    >>> frame_size(b"GET /", 100)
    Traceback (most recent call last):
    ...
    telebench.errors.FramingError: gt06: bad start byte 0x47 (expected 78 78 or 79 79) ...
    """
    n = len(data)
    if not n:
        return None
    first = data[0]
    if first != SHORT_START and first != LONG_START:
        raise _framing_error(
            f"bad start byte 0x{first:02x} (expected 78 78 or 79 79)", data, 0, stream_offset
        )
    if n < 2:
        return None
    if data[1] != first:
        raise _framing_error(
            f"bad start byte 0x{data[1]:02x} after 0x{first:02x}", data, 1, stream_offset
        )
    if first == SHORT_START:
        if n < 3:
            return None
        length, header = data[2], 3
    else:
        if n < 4:
            return None
        length, header = (data[2] << 8) | data[3], 4
    if length < MIN_LENGTH:
        raise _framing_error(
            f"packet length {length} is too small (protocol + serial + CRC need {MIN_LENGTH})",
            data,
            2,
            stream_offset,
        )
    return header + length + 2


def verify_frame(frame: bytes, stream_offset: int) -> ChecksumError | None:
    """Check a whole frame's stop bytes (raising) and CRC (returning the error, if any).

    The CRC error is returned rather than raised because the caller decides what a bad
    CRC means (its checksum policy); bad stop bytes always break the stream.

    Examples
    --------
    >>> good = bytes.fromhex("78780A134401040001000508450D0A")
    >>> verify_frame(good, 0) is None
    True
    >>> verify_frame(good[:-4] + b"\\x00\\x00\\r\\n", 0).reason
    'CRC 0x0000 does not match 0x0845 computed over length..serial'
    >>> verify_frame(good[:-2] + b"\\xff\\xff", 0)
    Traceback (most recent call last):
    ...
    telebench.errors.FramingError: gt06: bad stop bytes ff ff (expected 0d 0a) at byte 13: ...
    """
    total = len(frame)
    if frame[total - 2] != 0x0D or frame[total - 1] != 0x0A:
        raise _framing_error(
            f"bad stop bytes {frame[total - 2 :].hex(' ')} (expected 0d 0a)",
            frame,
            total - 2,
            stream_offset,
        )
    received = (frame[total - 4] << 8) | frame[total - 3]
    computed = crc16_x25(frame[2 : total - 4])
    if received == computed:
        return None
    return ChecksumError(
        PROTOCOL,
        f"CRC 0x{received:04x} does not match 0x{computed:04x} computed over length..serial",
        expected=computed,
        received=received,
        offset=stream_offset + total - 4,
        data=frame,
        data_start=stream_offset,
    )


def build_frame(protocol: int, content: bytes, serial: int, *, long: bool | None = None) -> bytes:
    """One frame around ``content``; the long ``79 79`` form when it does not fit a byte.

    ``long`` forces the form (a reply mirrors the form of the packet it answers, as traccar
    does); by default the short form is used whenever the length fits in one byte, which
    makes every frame this codec builds canonical.

    Examples
    --------
    >>> build_frame(0x13, bytes.fromhex("4401040001"), 5).hex().upper()
    '78780A134401040001000508450D0A'
    >>> build_frame(0x01, b"", 1, long=True).hex().upper()
    '79790005010001EA750D0A'
    """
    n = len(content)
    if long is None:
        long = n > MAX_SHORT_CONTENT
    if n > (MAX_LONG_CONTENT if long else MAX_SHORT_CONTENT):
        raise LocalProtocolError(PROTOCOL, f"content of {n} bytes does not fit one frame")
    if not 0 <= serial <= 0xFFFF:
        raise LocalProtocolError(PROTOCOL, f"serial number {serial} does not fit 16 bits")
    length = n + MIN_LENGTH
    if long:
        body = length.to_bytes(2, "big") + bytes((protocol,)) + content + serial.to_bytes(2, "big")
        start = b"\x79\x79"
    else:
        body = bytes((length, protocol)) + content + serial.to_bytes(2, "big")
        start = b"\x78\x78"
    return start + body + _TAIL.pack(crc16_x25(body), 0x0D0A)


def build_reply(protocol: int, serial: int, *, long: bool = False) -> bytes:
    """The server's acknowledgement: same protocol number, empty content, echoed serial.

    Examples
    --------
    >>> build_reply(0x16, 0x36).hex().upper()
    '78780516003695700D0A'
    >>> build_reply(0x13, 5).hex().upper()
    '787805130005AFD50D0A'
    """
    if not 0 <= serial <= 0xFFFF:
        raise LocalProtocolError(PROTOCOL, f"serial number {serial} does not fit 16 bits")
    if long:
        crc = crc16_x25(_REPLY_LONG.pack(0, 5, protocol, serial, 0, 0)[2:7])
        return _REPLY_LONG.pack(0x7979, 5, protocol, serial, crc, 0x0D0A)
    crc = crc16_x25(bytes((5, protocol, serial >> 8, serial & 0xFF)))
    return _REPLY.pack(0x7878, 5, protocol, serial, crc, 0x0D0A)


def _framing_error(reason: str, data: bytes | bytearray, index: int, start: int) -> FramingError:
    return FramingError(
        PROTOCOL, reason, offset=start + index, data=bytes(data[:64]), data_start=start
    )


def u16_bytes(value: int, what: str) -> bytes:
    """``value`` as a big-endian u16, or a :class:`LocalProtocolError` naming ``what``.

    Examples
    --------
    >>> u16_bytes(800, "time zone/language word").hex()
    '0320'
    """
    if not 0 <= value <= 0xFFFF:
        raise LocalProtocolError(PROTOCOL, f"{what} {value} does not fit 16 bits")
    return value.to_bytes(2, "big")
