"""GT06 date-time, GPS, LBS and status blocks <-> message parameters (protocols.md §5.4-5.5).

Theory of operation. Location (0x12, 0x22) and alarm (0x16, 0x26) contents share an
18-byte GPS block and an 8-byte LBS (cell) block; alarms put a length byte (0x09, counting
itself) before the LBS block and a status block after it, the same status block that a
heartbeat (0x13) carries alone. The packet parsers in :mod:`~telebench.protocols.gt06.packets`
unpack a whole content with one precompiled ``struct.Struct`` and hand the field tuple to
:func:`gps_lbs_message`, which builds the message dict in one go.

Decoding rules (the encoders write exactly what the decoders read):

- Date-time ``YY MM DD hh mm ss`` is read as UTC (GT06N-class devices; some firmwares send
  local time, protocols.md §9) into ``timestamp``. **GT06 time has 1 s resolution**: the
  encoder truncates ``timestamp`` to whole seconds, so round trips are exact only for
  whole-second timestamps. An all-zero date-time means "no device time" both ways (no
  ``timestamp`` key); any other impossible date is a malformed field.
- Latitude/longitude are u32 / 1 800 000 (the registry divisor); course/status bit 10 = 1
  means North (else the latitude is negated), bit 11 = 1 means West. Round trips are exact
  for multiples of 1/1 800 000 degree.
- Course/status bits 13-15 have no registry name: bit 13 (differential GPS) becomes
  ``custom.gps.differential.status`` and, when bit 14 ("ACC state valid" on some models,
  traccar) is set, bit 15 becomes ``custom.course.acc.status``. Both keys are present only
  when bit 13 / bit 14 is set; bit 15 without bit 14 is not kept.
- The GPS info byte's high nibble (GPS block length, always 12) and the alarm's LBS length
  byte are not checked (traccar ignores them too); encoders write 12 and 9.

Examples
--------
>>> epoch_seconds(11, 8, 29, 17, 46, 16)
1314639976.0
>>> datetime_fields(1314639976.9)
(11, 8, 29, 17, 46, 16)
>>> status_params({}, 0x44, 1, 4)["battery.charging.status"]
True
"""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Sequence
from typing import Final

from telebench.errors import LocalProtocolError, MalformedPacketError
from telebench.model import Message, Value
from telebench.params import PARAMS, custom_name
from telebench.protocols.gt06.framing import PROTOCOL

__all__ = [
    "COURSE_ACC",
    "DIFFERENTIAL",
    "GPS_TRACKING",
    "LAT_DIVISOR",
    "LON_DIVISOR",
    "MILEAGE_DIVISOR",
    "datetime_fields",
    "epoch_seconds",
    "gps_lbs_fields",
    "gps_lbs_message",
    "raw_field",
    "status_fields",
    "status_params",
]


def _divisor(name: str) -> int:
    source = PARAMS[name].source(PROTOCOL)
    assert source is not None, name  # the registry names every GT06 source used here
    return source.divisor


LAT_DIVISOR: Final = _divisor("position.latitude")  # 1 800 000: minutes x 30000
LON_DIVISOR: Final = _divisor("position.longitude")
MILEAGE_DIVISOR: Final = _divisor("vehicle.mileage")  # metres on the wire, km in the registry

#: Terminal info bit 6 ("GPS tracking on") has no registry name.
GPS_TRACKING: Final = custom_name("gps.tracking.status")
#: Course/status bit 13 (differential positioning).
DIFFERENTIAL: Final = custom_name("gps.differential.status")
#: Course/status bit 15 (ACC) when bit 14 says it is valid (traccar, some models).
COURSE_ACC: Final = custom_name("course.acc.status")

# Course/status word bits (protocols.md §5.4).
_COURSE: Final = 0x03FF
_NORTH: Final = 0x0400
_WEST: Final = 0x0800
_POSITIONED: Final = 0x1000
_DIFFERENTIAL: Final = 0x2000
_ACC_VALID: Final = 0x4000
_ACC: Final = 0x8000
_HIGH_BITS: Final = _DIFFERENTIAL | _ACC_VALID | _ACC
_GPS_INFO_LENGTH: Final = 0xC0  # GPS block length 12 in the high nibble

_NO_TIME: Final = (0, 0, 0, 0, 0, 0)
_MIN_TIMESTAMP: Final = calendar.timegm((2000, 1, 1, 0, 0, 0))
_END_TIMESTAMP: Final = calendar.timegm((2256, 1, 1, 0, 0, 0))  # YY is one byte
_CACHE_LIMIT: Final = 4096
_day_cache: dict[int, int] = {}  # (YY << 16 | MM << 8 | DD) -> UNIX seconds at midnight
_date_cache: dict[int, tuple[int, int, int]] = {}  # UNIX day -> (YY, MM, DD)


# --- date-time ---------------------------------------------------------------------------


def epoch_seconds(
    yy: int, month: int, day: int, hour: int, minute: int, second: int
) -> float | None:
    """UNIX seconds of a GT06 date-time (UTC); ``None`` for the all-zero "no time" value.

    Raises :class:`MalformedPacketError` with the offset of the bad field counted from the
    start of the date-time.

    Examples
    --------
    >>> epoch_seconds(15, 12, 29, 2, 51, 5)
    1451357465.0
    >>> epoch_seconds(0, 0, 0, 0, 0, 0) is None
    True
    >>> epoch_seconds(15, 2, 30, 0, 0, 0)
    Traceback (most recent call last):
    ...
    telebench.errors.MalformedPacketError: gt06: date-time day 30 is not a day of 2015-02 at byte 2
    """
    midnight = _day_cache.get((yy << 16) | (month << 8) | day)
    if midnight is None:
        if not (yy | month | day | hour | minute | second):
            return None
        midnight = _midnight(yy, month, day)
    if hour > 23 or minute > 59 or second > 59:
        index = 3 if hour > 23 else 4 if minute > 59 else 5
        raise MalformedPacketError(
            PROTOCOL, f"date-time {hour:02d}:{minute:02d}:{second:02d} is not a time", offset=index
        )
    return float(midnight + hour * 3600 + minute * 60 + second)


def _midnight(yy: int, month: int, day: int) -> int:
    year = 2000 + yy
    if not 1 <= month <= 12:
        raise MalformedPacketError(PROTOCOL, f"date-time month {month} is not a month", offset=1)
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise MalformedPacketError(
            PROTOCOL, f"date-time day {day} is not a day of {year}-{month:02d}", offset=2
        )
    if len(_day_cache) >= _CACHE_LIMIT:
        _day_cache.clear()
    midnight = calendar.timegm((year, month, day, 0, 0, 0))
    _day_cache[(yy << 16) | (month << 8) | day] = midnight
    return midnight


def datetime_fields(timestamp: Value) -> tuple[int, int, int, int, int, int]:
    """``(YY, MM, DD, hh, mm, ss)`` of a UNIX time, truncated to the second (UTC).

    ``None`` gives the all-zero "no time" value; times outside 2000..2255 cannot be sent.

    Examples
    --------
    >>> datetime_fields(1451357465.0)
    (15, 12, 29, 2, 51, 5)
    >>> datetime_fields(None)
    (0, 0, 0, 0, 0, 0)
    """
    if timestamp is None:
        return _NO_TIME
    if isinstance(timestamp, str) or not _MIN_TIMESTAMP <= timestamp < _END_TIMESTAMP:
        raise LocalProtocolError(
            PROTOCOL, f"timestamp {timestamp!r} is not a time GT06 can send (2000..2255 UTC)"
        )
    days, rest = divmod(int(timestamp), 86400)
    date = _date_cache.get(days)
    if date is None:
        tm = time.gmtime(days * 86400)
        date = (tm.tm_year - 2000, tm.tm_mon, tm.tm_mday)
        if len(_date_cache) >= _CACHE_LIMIT:
            _date_cache.clear()
        _date_cache[days] = date
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return date[0], date[1], date[2], hour, minute, second


# --- GPS + LBS blocks --------------------------------------------------------------------


def gps_lbs_message(fields: Sequence[int], lbs: int, ident: str | None) -> Message:
    """The message of an unpacked GPS block (``fields[0:11]``) and LBS block (from ``lbs``).

    ``fields`` are: YY MM DD hh mm ss, GPS info, latitude, longitude, speed, course/status,
    then at ``lbs``: MCC, MNC, LAC, cell id high byte, cell id low 16 bits.

    Examples
    --------
    >>> msg = gps_lbs_message((11, 8, 29, 17, 46, 16, 0xCF, 41601003, 205936713, 0, 0x148F,
    ...                        460, 0, 10365, 0, 8120), 11, "123456789012345")
    >>> msg["position.latitude"], msg["position.direction"], msg["gsm.cellid"]
    (23.111668333333334, 143, 8120)
    """
    flags = fields[10]
    lat = fields[7] / LAT_DIVISOR
    lon = fields[8] / LON_DIVISOR
    msg: Message = {
        "ident": ident,
        "timestamp": epoch_seconds(
            fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]
        ),
        "position.latitude": lat if flags & _NORTH else -lat,
        "position.longitude": -lon if flags & _WEST else lon,
        "position.speed": fields[9],
        "position.direction": flags & _COURSE,
        "position.satellites": fields[6] & 0x0F,
        "position.valid": (flags & _POSITIONED) != 0,
        "gsm.mcc": fields[lbs],
        "gsm.mnc": fields[lbs + 1],
        "gsm.lac": fields[lbs + 2],
        "gsm.cellid": (fields[lbs + 3] << 16) | fields[lbs + 4],
    }
    if ident is None:
        del msg["ident"]
    if msg["timestamp"] is None:
        del msg["timestamp"]
    if flags & _HIGH_BITS:
        if flags & _DIFFERENTIAL:
            msg[DIFFERENTIAL] = True
        if flags & _ACC_VALID:
            msg[COURSE_ACC] = (flags & _ACC) != 0
    return msg


def gps_lbs_fields(msg: Message) -> list[int]:
    """The 16 raw fields :func:`gps_lbs_message` reads, from a message (missing = 0/False).

    Examples
    --------
    >>> gps_lbs_fields({"timestamp": 1314639976.0, "position.latitude": 23.111668333333334,
    ...                 "position.longitude": 114.40928500000001, "position.satellites": 15,
    ...                 "position.direction": 143, "position.valid": True, "gsm.mcc": 460,
    ...                 "gsm.lac": 10365, "gsm.cellid": 8120})
    [11, 8, 29, 17, 46, 16, 207, 41601003, 205936713, 0, 5263, 460, 0, 10365, 0, 8120]
    """
    lat, south = _coordinate(msg, "position.latitude", LAT_DIVISOR)
    lon, west = _coordinate(msg, "position.longitude", LON_DIVISOR)
    flags = raw_field(msg, "position.direction", _COURSE)
    if not south:
        flags |= _NORTH
    if west:
        flags |= _WEST
    if msg.get("position.valid"):
        flags |= _POSITIONED
    if msg.get(DIFFERENTIAL):
        flags |= _DIFFERENTIAL
    acc = msg.get(COURSE_ACC)
    if acc is not None:
        flags |= _ACC_VALID | (_ACC if acc else 0)
    cell = raw_field(msg, "gsm.cellid", 0xFFFFFF)
    return [
        *datetime_fields(msg.get("timestamp")),
        _GPS_INFO_LENGTH | raw_field(msg, "position.satellites", 0x0F),
        lat,
        lon,
        raw_field(msg, "position.speed", 0xFF),
        flags,
        raw_field(msg, "gsm.mcc", 0xFFFF),
        raw_field(msg, "gsm.mnc", 0xFF),
        raw_field(msg, "gsm.lac", 0xFFFF),
        cell >> 16,
        cell & 0xFFFF,
    ]


def _coordinate(msg: Message, key: str, divisor: int) -> tuple[int, bool]:
    value = msg.get(key, 0.0)
    if isinstance(value, str) or value is None or not math.isfinite(value):
        raise LocalProtocolError(PROTOCOL, f"{key}={value!r} is not a coordinate")
    if abs(value) * divisor > 0xFFFFFFFF:  # checked before round(): 1e301 * divisor is inf
        raise LocalProtocolError(PROTOCOL, f"{key}={value!r} does not fit 32 bits")
    raw = round(abs(value) * divisor)
    return raw, math.copysign(1.0, value) < 0


def raw_field(msg: Message, key: str, high: int, divisor: int = 1) -> int:
    """``round(msg[key] * divisor)`` checked against ``0..high`` (missing means 0).

    Examples
    --------
    >>> raw_field({"vehicle.mileage": 12.345}, "vehicle.mileage", 0xFFFFFFFF, 1000)
    12345
    >>> raw_field({"position.speed": 300}, "position.speed", 0xFF)
    Traceback (most recent call last):
    ...
    telebench.errors.LocalProtocolError: gt06: position.speed=300 does not fit the field (0..255)
    """
    value = msg.get(key, 0)
    if isinstance(value, str) or value is None or not math.isfinite(value):
        raise LocalProtocolError(PROTOCOL, f"{key}={value!r} is not a number")
    scaled = value * divisor
    raw = round(scaled) if math.isfinite(scaled) else -1  # 1e308 * 10 overflows to inf
    if not 0 <= raw <= high:
        raise LocalProtocolError(
            PROTOCOL, f"{key}={value!r} does not fit the field (0..{high / divisor:g})"
        )
    return raw


# --- status block --------------------------------------------------------------------------


def status_params(msg: Message, info: int, voltage: int, gsm: int) -> Message:
    """Add the status block's parameters (terminal info, voltage and GSM levels) to ``msg``.

    Examples
    --------
    >>> p = status_params({}, 0x65, 6, 4)
    >>> p["device.status.enum"], p["armed.status"], p["custom.gps.tracking.status"]
    (4, True, True)
    """
    msg["engine.blocked.status"] = (info & 0x80) != 0
    msg[GPS_TRACKING] = (info & 0x40) != 0
    msg["device.status.enum"] = (info >> 3) & 0x07
    msg["battery.charging.status"] = (info & 0x04) != 0
    msg["engine.ignition.status"] = (info & 0x02) != 0
    msg["armed.status"] = (info & 0x01) != 0
    msg["battery.level.enum"] = voltage
    msg["gsm.signal.level"] = gsm
    return msg


def status_fields(msg: Message) -> tuple[int, int, int]:
    """Terminal info byte, voltage level and GSM level from a message (missing = 0).

    Examples
    --------
    >>> status_fields({"custom.gps.tracking.status": True, "battery.charging.status": True,
    ...                "battery.level.enum": 1, "gsm.signal.level": 4})
    (68, 1, 4)
    """
    info = raw_field(msg, "device.status.enum", 0x07) << 3
    if msg.get("engine.blocked.status"):
        info |= 0x80
    if msg.get(GPS_TRACKING):
        info |= 0x40
    if msg.get("battery.charging.status"):
        info |= 0x04
    if msg.get("engine.ignition.status"):
        info |= 0x02
    if msg.get("armed.status"):
        info |= 0x01
    return (
        info,
        raw_field(msg, "battery.level.enum", 0xFF),
        raw_field(msg, "gsm.signal.level", 0xFF),
    )
