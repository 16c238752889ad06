"""GT06 packets: one pure ``parse_*`` / ``build_*`` pair per packet type (protocols.md §5).

Parsers take a frame's content (the bytes between the protocol number and the serial) and
raise :class:`~telebench.errors.MalformedPacketError` with offsets counted from the start
of the content; the session moves them to stream offsets. Builders take a message (or the
packet's fields) and a serial number and return the whole frame; they raise
:class:`~telebench.errors.LocalProtocolError` for values the packet cannot carry. Every
frame is canonical (short form, fixed layouts), so ``build_*(parse_*(content))`` rebuilds
the received bytes.

=========  ============================  ====================================================
protocol   content (bytes)               parser / builder
=========  ============================  ====================================================
0x01       terminal ID (8) [+ type (2)   :func:`parse_login` / :func:`build_login`
           + time zone/language (2)]
0x12       GPS (18) + LBS (8)            :func:`parse_location_12` /
                                         :func:`build_location_12`
0x22       GPS + LBS + ACC, upload mode, :func:`parse_location_22` /
           re-upload (3) [+ mileage (4)] :func:`build_location_22`
0x16/0x26  GPS + LBS length (1) + LBS    :func:`parse_alarm` / :func:`build_alarm`
           + status (5)
0x13       terminal info, voltage, GSM   :func:`parse_status` / :func:`build_status`
           [+ alarm] [+ language]
0x80       length, flag (4), text        :func:`parse_command` / :func:`build_command`
0x15       length, flag (4), text,       :func:`parse_command` /
           language (2)                  :func:`build_command_reply` (both in ``commands``)
any        empty (server's ack)          :func:`build_reply`
=========  ============================  ====================================================

Examples
--------
>>> parse_login(bytes.fromhex("0123456789012345")).ident
'123456789012345'
>>> build_command("Relay,1#", 0, 0).hex().upper()
'787812800C0000000052656C61792C312300009DEE0D0A'
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from telebench.errors import LocalProtocolError, MalformedPacketError
from telebench.model import Message
from telebench.protocols.gt06.commands import (
    COMMAND,
    COMMAND_REPLY,
    LANGUAGE_ENGLISH,
    CommandText,
    build_command,
    build_command_reply,
    parse_command,
)
from telebench.protocols.gt06.framing import PROTOCOL, build_frame, build_reply, u16_bytes
from telebench.protocols.gt06.location import (
    MILEAGE_DIVISOR,
    gps_lbs_fields,
    gps_lbs_message,
    raw_field,
    status_fields,
    status_params,
)

__all__ = [
    "ALARM",
    "ALARM_GT06N",
    "COMMAND",
    "COMMAND_REPLY",
    "LANGUAGE_ENGLISH",
    "LOCATION",
    "LOCATION_GT06N",
    "LOGIN",
    "MESSAGE_BUILDERS",
    "MESSAGE_PARSERS",
    "STATUS",
    "CommandText",
    "LoginInfo",
    "build_alarm",
    "build_command",
    "build_command_reply",
    "build_location_12",
    "build_location_22",
    "build_login",
    "build_reply",
    "build_status",
    "parse_alarm",
    "parse_command",
    "parse_location_12",
    "parse_location_22",
    "parse_login",
    "parse_status",
]

# Protocol numbers (protocols.md §5.2).
LOGIN: Final = 0x01
LOCATION: Final = 0x12
STATUS: Final = 0x13
ALARM: Final = 0x16
LOCATION_GT06N: Final = 0x22
ALARM_GT06N: Final = 0x26
# COMMAND (0x80) and COMMAND_REPLY (0x15) live in commands.py with their codec; re-exported.

_GPS: Final = "6BB2IBH"  # date-time, GPS info, latitude, longitude, speed, course/status
_LBS: Final = "HBHBH"  # MCC, MNC, LAC, cell id (high byte + low 16 bits)
_LOCATION_12: Final = struct.Struct(">" + _GPS + _LBS)
_LOCATION_22: Final = struct.Struct(">" + _GPS + _LBS + "BBB")
_LOCATION_22_MILEAGE: Final = struct.Struct(">" + _GPS + _LBS + "BBBI")
_ALARM: Final = struct.Struct(">" + _GPS + "B" + _LBS + "BBBBB")
_LBS_LENGTH: Final = 9  # the alarm's LBS length byte counts itself
_LOGIN_SIZES: Final = (8, 10, 12)
_STATUS_SIZES: Final = (3, 4, 5)


# --- login (0x01) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginInfo:
    """A login's content: the ident and, on GT06N-era devices, type id and zone word."""

    ident: str
    type_id: int | None = None
    zone_language: int | None = None


def parse_login(content: bytes) -> LoginInfo:
    """Read a login: 8-byte BCD terminal ID ``"0" + IMEI`` [+ type id, time zone/language].

    The leading zero is stripped (a 16-digit ID without it is kept whole).

    Examples
    --------
    >>> parse_login(bytes.fromhex("035341353215036236060320"))
    LoginInfo(ident='353413532150362', type_id=13830, zone_language=800)
    >>> parse_login(bytes.fromhex("01234567890123A5"))
    Traceback (most recent call last):
    ...
    telebench.errors.MalformedPacketError: gt06: terminal ID byte 0xa5 is not BCD at byte 7: ...
    """
    if len(content) not in _LOGIN_SIZES:
        raise _size_error("login", content, _LOGIN_SIZES)
    digits = content[:8].hex()
    if not digits.isdigit():
        bad = next(i for i in range(8) if not content[i : i + 1].hex().isdigit())
        raise MalformedPacketError(
            PROTOCOL,
            f"terminal ID byte 0x{content[bad]:02x} is not BCD",
            offset=bad,
            data=content,
        )
    ident = digits[1:] if digits[0] == "0" else digits
    type_id = int.from_bytes(content[8:10]) if len(content) >= 10 else None
    zone = int.from_bytes(content[10:12]) if len(content) >= 12 else None
    return LoginInfo(ident, type_id, zone)


def build_login(
    ident: str, serial: int, *, type_id: int | None = None, zone_language: int | None = None
) -> bytes:
    """A login frame for a 15-digit IMEI (or a 16-digit ID not starting with 0).

    Examples
    --------
    >>> build_login("123456789012345", 1).hex().upper()
    '78780D01012345678901234500018CDD0D0A'
    """
    # 15 digits get the leading zero; 16 digits must not start with one (it would be
    # stripped on the way back).
    digits = "0" + ident if len(ident) == 15 else ident
    bcd = len(digits) == 16 and digits.isascii() and digits.isdigit()
    if not bcd or (len(ident) == 16 and ident[0] == "0"):
        raise LocalProtocolError(
            PROTOCOL, f"ident {ident!r} is not a 15-digit IMEI (or a 16-digit terminal ID)"
        )
    content = bytes.fromhex(digits)
    if type_id is not None:
        content += u16_bytes(type_id, "type id")
        if zone_language is not None:
            content += u16_bytes(zone_language, "time zone/language word")
    elif zone_language is not None:
        raise LocalProtocolError(PROTOCOL, "a login carries the zone word only after a type id")
    return build_frame(LOGIN, content, serial)


# --- locations (0x12, 0x22) ----------------------------------------------------------------


def parse_location_12(content: bytes, ident: str | None = None) -> Message:
    """Read a GPS+LBS location (0x12): GPS block and LBS block.

    Examples
    --------
    >>> msg = parse_location_12(bytes.fromhex(
    ...     "0B081D112E10CF027AC7EB0C46584900148F01CC00287D001FB8"))
    >>> msg["timestamp"], msg["position.satellites"], msg["gsm.lac"]
    (1314639976.0, 15, 10365)
    """
    if len(content) != _LOCATION_12.size:
        raise _size_error("0x12 location", content, (_LOCATION_12.size,))
    return gps_lbs_message(_LOCATION_12.unpack(content), 11, ident)


def build_location_12(msg: Message, serial: int) -> bytes:
    """A 0x12 location frame (only GPS and LBS parameters are sent).

    Examples
    --------
    >>> frame = build_location_12(parse_location_12(bytes.fromhex(
    ...     "0B081D112E10CF027AC7EB0C46584900148F01CC00287D001FB8")), 3)
    >>> frame.hex().upper()
    '78781F120B081D112E10CF027AC7EB0C46584900148F01CC00287D001FB8000380810D0A'
    """
    return build_frame(LOCATION, _LOCATION_12.pack(*gps_lbs_fields(msg)), serial)


def parse_location_22(content: bytes, ident: str | None = None) -> Message:
    """Read a GT06N location (0x22): GPS, LBS, ACC, upload mode, re-upload [, mileage].

    Examples
    --------
    >>> msg = parse_location_22(bytes.fromhex(
    ...     "0F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001"))
    >>> msg["engine.ignition.status"], msg["report.mode.enum"], msg["message.buffered.status"]
    (False, 0, True)
    """
    size = len(content)
    if size == _LOCATION_22.size:
        fields = _LOCATION_22.unpack(content)
    elif size == _LOCATION_22_MILEAGE.size:
        fields = _LOCATION_22_MILEAGE.unpack(content)
    else:
        raise _size_error("0x22 location", content, (29, 33))
    msg = gps_lbs_message(fields, 11, ident)
    msg["engine.ignition.status"] = fields[16] != 0
    msg["report.mode.enum"] = fields[17]
    msg["message.buffered.status"] = fields[18] != 0
    if size != _LOCATION_22.size:
        msg["vehicle.mileage"] = fields[19] / MILEAGE_DIVISOR
    return msg


def build_location_22(msg: Message, serial: int) -> bytes:
    """A 0x22 location frame; ``vehicle.mileage`` adds the optional mileage field.

    Examples
    --------
    >>> content = bytes.fromhex("0F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001")
    >>> build_location_22(parse_location_22(content), 8).hex().upper()
    '787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A'
    """
    fields = gps_lbs_fields(msg)
    fields += (
        1 if msg.get("engine.ignition.status") else 0,
        raw_field(msg, "report.mode.enum", 0xFF),
        1 if msg.get("message.buffered.status") else 0,
    )
    if "vehicle.mileage" in msg:
        fields.append(raw_field(msg, "vehicle.mileage", 0xFFFFFFFF, MILEAGE_DIVISOR))
        return build_frame(LOCATION_GT06N, _LOCATION_22_MILEAGE.pack(*fields), serial)
    return build_frame(LOCATION_GT06N, _LOCATION_22.pack(*fields), serial)


# --- alarms (0x16, 0x26) -------------------------------------------------------------------


def parse_alarm(content: bytes, ident: str | None = None) -> Message:
    """Read an alarm (0x16 or 0x26): GPS, LBS length + LBS, status block with alarm byte.

    The language byte is not a parameter and is dropped.

    Examples
    --------
    >>> msg = parse_alarm(bytes.fromhex("0B0B0F0E241DCF027AC8870C4657E6001402"
    ...                                 "0901CC00287D001F726506040101"))
    >>> msg["alarm.type"], msg["alarm.event"], msg["battery.level.enum"], msg["gsm.cellid"]
    (1, True, 6, 8050)
    """
    if len(content) != _ALARM.size:
        raise _size_error("alarm", content, (_ALARM.size,))
    fields = _ALARM.unpack(content)
    msg = status_params(gps_lbs_message(fields, 12, ident), fields[17], fields[18], fields[19])
    msg["alarm.type"] = fields[20]
    msg["alarm.event"] = fields[20] != 0
    return msg


def build_alarm(
    msg: Message, serial: int, *, protocol: int = ALARM_GT06N, language: int = LANGUAGE_ENGLISH
) -> bytes:
    """An alarm frame (0x26 by default, or 0x16); ``alarm.event`` is derived, not read.

    Examples
    --------
    >>> content = bytes.fromhex("0B0B0F0E241DCF027AC8870C4657E60014020901CC00287D001F726506040101")
    >>> build_alarm(parse_alarm(content), 0x36, protocol=0x16, language=1).hex().upper()
    '787825160B0B0F0E241DCF027AC8870C4657E60014020901CC00287D001F726506040101003656A40D0A'
    """
    if protocol not in (ALARM, ALARM_GT06N):
        raise LocalProtocolError(PROTOCOL, f"0x{protocol:02x} is not an alarm protocol number")
    fields = gps_lbs_fields(msg)
    fields.insert(11, _LBS_LENGTH)
    fields += (*status_fields(msg), raw_field(msg, "alarm.type", 0xFF), _byte(language))
    return build_frame(protocol, _ALARM.pack(*fields), serial)


# --- status / heartbeat (0x13) ---------------------------------------------------------


def parse_status(content: bytes, ident: str | None = None) -> Message:
    """Read a status packet: terminal info, voltage level, GSM level [, alarm [, language]].

    Examples
    --------
    >>> msg = parse_status(bytes.fromhex("4401040001"), "353413532150362")
    >>> msg["battery.level.enum"], msg["gsm.signal.level"], msg["alarm.event"]
    (1, 4, False)
    >>> "alarm.type" in parse_status(bytes.fromhex("4B0403"))
    False
    """
    size = len(content)
    if size not in _STATUS_SIZES:
        raise _size_error("status", content, _STATUS_SIZES)
    msg: Message = {} if ident is None else {"ident": ident}
    status_params(msg, content[0], content[1], content[2])
    if size > 3:
        msg["alarm.type"] = content[3]
        msg["alarm.event"] = content[3] != 0
    return msg


def build_status(msg: Message, serial: int, *, language: int | None = LANGUAGE_ENGLISH) -> bytes:
    """A status frame: 5-byte content with ``language``; without, 4 bytes when the message
    has ``alarm.type`` and 3 bytes otherwise.

    Examples
    --------
    >>> build_status({"custom.gps.tracking.status": True, "battery.charging.status": True,
    ...               "battery.level.enum": 1, "gsm.signal.level": 4}, 5, language=1).hex()
    '78780a134401040001000508450d0a'
    """
    content = bytes(status_fields(msg))
    if language is not None or "alarm.type" in msg:
        content += bytes((raw_field(msg, "alarm.type", 0xFF),))
    if language is not None:
        content += bytes((_byte(language),))
    return build_frame(STATUS, content, serial)


# --- helpers and dispatch tables -----------------------------------------------------------


def _size_error(what: str, content: bytes, sizes: tuple[int, ...]) -> MalformedPacketError:
    allowed = " or ".join(str(s) for s in sizes)
    return MalformedPacketError(
        PROTOCOL,
        f"{what} content has {len(content)} bytes, expected {allowed}",
        offset=min(len(content), max(sizes)),
        data=content,
    )


def _byte(value: int) -> int:
    if not 0 <= value <= 0xFF:
        raise LocalProtocolError(PROTOCOL, f"language {value} does not fit one byte")
    return value


#: Device packets that carry one message, by protocol number (server role).
MESSAGE_PARSERS: Final[dict[int, Callable[[bytes, str | None], Message]]] = {
    LOCATION: parse_location_12,
    LOCATION_GT06N: parse_location_22,
    ALARM: parse_alarm,
    ALARM_GT06N: parse_alarm,
    STATUS: parse_status,
}


def _alarm_16(msg: Message, serial: int) -> bytes:
    return build_alarm(msg, serial, protocol=ALARM)


#: Encoders of message-carrying packets, by protocol number (client role).
MESSAGE_BUILDERS: Final[dict[int, Callable[[Message, int], bytes]]] = {
    LOCATION: build_location_12,
    LOCATION_GT06N: build_location_22,
    ALARM: _alarm_16,
    ALARM_GT06N: build_alarm,
    STATUS: build_status,
}
