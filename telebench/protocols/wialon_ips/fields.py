"""Wialon IPS record fields: date/time, coordinates, numbers, inputs, ADC (and params).

Theory of operation: a data record is a ``;``-separated list of text fields (protocols.md
§4.2). :func:`parse_record` fills a message dict from the 10 fields of a short-data (SD)
record or the 16 of an extended-data (D) record;
:func:`~telebench.protocols.wialon_ips.formats.format_record` writes them back.
``NA`` means "not available": the key is left out of the message, and a missing key is
written as ``NA``.

Rules chosen here (each keeps ``parse(format(m)) == m`` exact):

* **Numbers** (speed, course, height, hdop, ADC values) keep the type their text has: an
  integer literal (``59``) becomes an ``int``, anything else (``2.92``, ``-4.000``) a
  ``float``. Encoders write an ``int`` with ``str`` and a ``float`` with ``repr`` (the
  shortest text that reads back to the same float). Satellites and the input/output masks
  are always integers. Non-finite values are refused.
* **Time** is ``DDMMYY;HHMMSS`` UTC (years 2000-2099), optionally ``HHMMSS.fraction``;
  the timestamp is a float of UNIX seconds. A fractional timestamp is written with the
  digits of its ``repr`` and read back by ``float("<seconds>.<digits>")``, so it round
  trips exactly. Day starts are cached per ``DDMMYY`` text, times of day per ``HHMMSS``.
* **Coordinates** ``DDMM.MMMM;N`` / ``DDDMM.MMMM;E``: degrees are all integer digits but
  the last two (devices drop leading zeros), the value is ``degrees + minutes / 60``.
  Encoders write two (latitude) or three (longitude) degree digits and the minutes with
  the fewest decimals, at least 4 (the spec's ``MM.MMMM``), that read back to the same
  float. Between -1° and 1° a few full-precision floats are reachable by no text (the
  division by 60 skips them); there the nearest reachable value is written (1 ulp off).
* **Params** ``NAME:TYPE:VALUE``: see :mod:`telebench.protocols.wialon_ips.paramfield`.

Examples
--------
>>> msg: Message = {}
>>> parse_record("270413;205601;5544.6025;N;03739.6834;E;1;2;3;4".split(";"), msg)
>>> msg["timestamp"], msg["position.latitude"], msg["position.speed"]
(1367096161.0, 55.743375, 1)
"""

from __future__ import annotations

import calendar
from typing import Final

from telebench.model import Message
from telebench.protocols.wialon_ips.common import D_FIELDS, NA, SD_FIELDS, PacketError
from telebench.protocols.wialon_ips.common import FieldValueError as _Bad
from telebench.protocols.wialon_ips.paramfield import parse_params

__all__ = [
    "parse_coordinate",
    "parse_number",
    "parse_record",
    "parse_timestamp",
]

#: Field names and answer codes per field index (protocols.md §4.3, ``#ASD#``/``#AD#``).
_NAMES: Final = (
    "date", "time", "lat1", "lat2", "lon1", "lon2", "speed", "course", "height", "sats",
    "hdop", "inputs", "outputs", "adc", "ibutton", "params",
)  # fmt: skip
_CODES: Final = ("0", "0", "10", "10", "10", "10", "11", "11", "11", "12",
                 "12", "13", "13", "14", "-1", "15")  # fmt: skip


# --- decoding ------------------------------------------------------------------------------

_DAY_START: dict[str, int] = {}
_TIME_OF_DAY: dict[str, int] = {}


def _day_start(date: str) -> int:
    if not (len(date) == 6 and date.isascii() and date.isdigit()):
        raise _Bad("not DDMMYY")
    day, month, year = int(date[:2]), int(date[2:4]), 2000 + int(date[4:])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        raise _Bad("no such date")
    start = calendar.timegm((year, month, day, 0, 0, 0))
    _DAY_START[date] = start
    return start


def _time_of_day(time: str) -> int:
    if not (len(time) == 6 and time.isascii() and time.isdigit()):
        raise _Bad("not HHMMSS", shift=1)
    hours, minutes, seconds = int(time[:2]), int(time[2:4]), int(time[4:])
    if hours > 23 or minutes > 59 or seconds > 59:
        raise _Bad("no such time of day", shift=1)
    secs = hours * 3600 + minutes * 60 + seconds
    _TIME_OF_DAY[time] = secs
    return secs


def parse_timestamp(date: str, time: str) -> float | None:
    """UNIX seconds of ``DDMMYY`` + ``HHMMSS[.fraction]`` (UTC); ``None`` when either is NA.

    Examples
    --------
    >>> parse_timestamp("270413", "205601"), parse_timestamp("270413", "205601.25")
    (1367096161.0, 1367096161.25)
    >>> parse_timestamp("NA", "205601") is None
    True
    """
    if date == NA or time == NA:
        return None
    start = _DAY_START.get(date)
    if start is None:
        start = _day_start(date)
    secs = _TIME_OF_DAY.get(time)
    if secs is not None:
        return float(start + secs)
    whole, dot, fraction = time.partition(".")
    if not dot:
        return float(start + _time_of_day(whole))
    if not (fraction.isascii() and fraction.isdigit()):
        raise _Bad("fraction of a second is not digits", shift=1)
    seconds = _TIME_OF_DAY.get(whole)
    if seconds is None:
        seconds = _time_of_day(whole)
    return float(f"{start + seconds}.{fraction}")


def parse_number(text: str) -> int | float:
    """An ``int`` for integer text, else a finite ``float``.

    Examples
    --------
    >>> parse_number("59"), parse_number("-4.000"), parse_number("2.92")
    (59, -4.0, 2.92)
    """
    if "." not in text:
        try:
            return int(text)
        except ValueError:
            pass
    value = float(text)
    if value - value != 0.0:
        raise _Bad("not a finite number")
    return value


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise _Bad("not an unsigned integer")
    return int(text)


def _coordinate(text: str, hemisphere: str, positive: str, negative: str, limit: float) -> float:
    dot = text.find(".")
    if dot < 0:
        dot = len(text)
    digits = text.replace(".", "", 1)
    if not (digits.isascii() and digits.isdigit()):
        raise _Bad("not DDMM.MMMM")
    cut = dot - 2 if dot > 2 else 0
    minutes = float(text[cut:])
    value = (int(text[:cut]) if cut else 0) + minutes / 60
    if minutes >= 60.0 or value > limit:
        raise _Bad("minutes are 60 or more" if minutes >= 60.0 else "out of range")
    if hemisphere == positive:
        return value
    if hemisphere == negative:
        return -value
    raise _Bad(f"hemisphere is not {positive} or {negative}", shift=1)


def parse_coordinate(text: str, hemisphere: str, *, longitude: bool) -> float:
    """Degrees of ``DDMM.MMMM`` + ``N``/``S`` (or ``DDDMM.MMMM`` + ``E``/``W``).

    Examples
    --------
    >>> parse_coordinate("5544.6025", "N", longitude=False)
    55.743375
    >>> round(parse_coordinate("3644.670410", "W", longitude=True), 6)
    -36.744507
    """
    if longitude:
        return _coordinate(text, hemisphere, "E", "W", 180.0)
    return _coordinate(text, hemisphere, "N", "S", 90.0)


_AIN: Final = tuple(f"ain.{n}" for n in range(17))


def _adc(text: str, msg: Message) -> None:
    if not text:
        return
    for n, item in enumerate(text.split(","), 1):
        if item != NA:
            msg[_AIN[n] if n < len(_AIN) else f"ain.{n}"] = parse_number(item)


class _Located(Exception):
    """A field helper failed at field ``index``."""

    def __init__(self, index: int, cause: ValueError) -> None:
        super().__init__(index)
        self.index = index
        self.cause = cause


# Hand-unrolled field code with the number parsing inlined: this is the hub's hot path.
# ``v - v`` is 0.0 for finite floats and NaN (true) for inf and NaN.
def _position(fields: list[str], msg: Message) -> None:
    """Fields 1-6 (time and coordinates), common to SD and D records."""
    i = 0
    try:
        stamp = parse_timestamp(fields[0], fields[1])
        if stamp is not None:
            msg["timestamp"] = stamp
        i = 2
        lat = fields[2]
        if lat != NA:
            msg["position.latitude"] = _coordinate(lat, fields[3], "N", "S", 90.0)
        i = 4
        if fields[4] != NA:
            msg["position.longitude"] = _coordinate(fields[4], fields[5], "E", "W", 180.0)
            if lat != NA:
                msg["position.valid"] = True
    except ValueError as exc:
        raise _Located(i, exc) from exc


def _motion(fields: list[str], msg: Message) -> None:
    """Fields 7-10 (speed, course, height, sats), common to SD and D records."""
    i = 6
    try:
        for i, key in _MOTION:
            text = fields[i]
            if text != NA:
                if "." in text:
                    value = float(text)
                    if value - value:
                        raise _Bad("not a finite number")
                    msg[key] = value
                else:
                    msg[key] = parse_number(text)
        i = 9
        text = fields[9]
        if text != NA:
            if not (text.isascii() and text.isdigit()):
                raise _Bad("not an unsigned integer")
            msg["position.satellites"] = int(text)
    except ValueError as exc:
        raise _Located(i, exc) from exc


_MOTION: Final = ((6, "position.speed"), (7, "position.direction"), (8, "position.altitude"))


def _extended(fields: list[str], msg: Message) -> None:
    """Fields 11-16 of a D record."""
    i = 10
    try:
        if fields[10] != NA:
            msg["position.hdop"] = parse_number(fields[10])
        i = 11
        if fields[11] != NA:
            msg["din"] = _count(fields[11])
        i = 12
        if fields[12] != NA:
            msg["dout"] = _count(fields[12])
        i = 13
        if fields[13] != NA:
            _adc(fields[13], msg)
        if fields[14] != NA:
            msg["ibutton.code"] = fields[14]
        i = 15
        if fields[15] != NA:
            parse_params(fields[15], msg)
    except ValueError as exc:
        raise _Located(i, exc) from exc


def parse_record(fields: list[str], msg: Message, *, base: int = 0) -> None:
    """Fill ``msg`` from the 10 fields of an SD record or the 16 of a D record.

    ``base`` is the character index of the first field in the packet text; a bad field
    raises :class:`PacketError` with its answer code and index.

    Examples
    --------
    >>> msg: Message = {}
    >>> parse_record("NA;NA;NA;NA;NA;NA;0.5;NA;NA;7".split(";"), msg)
    >>> msg
    {'position.speed': 0.5, 'position.satellites': 7}
    >>> parse_record("NA;NA;NA;NA;NA;NA;0.5;NA;NA;x".split(";"), msg, base=4)
    Traceback (most recent call last):
    ...
    telebench.protocols.wialon_ips.common.PacketError: wialon_ips: SD field 10 (sats) 'x': \
not an unsigned integer at byte 32
    """
    try:
        _position(fields, msg)
        _motion(fields, msg)
        if len(fields) == D_FIELDS:
            _extended(fields, msg)
    except _Located as exc:
        index = exc.index + (exc.cause.shift if isinstance(exc.cause, _Bad) else 0)
        raise _field_error(fields, index, base, exc.cause) from exc.cause


def _field_error(fields: list[str], i: int, base: int, exc: ValueError) -> PacketError:
    kind = "SD" if len(fields) == SD_FIELDS else "D"
    why = str(exc) if isinstance(exc, _Bad) else "not a valid value"
    index = base + sum(len(f) + 1 for f in fields[:i])
    return PacketError(_CODES[i], f"{kind} field {i + 1} ({_NAMES[i]}) {fields[i]!r}: {why}", index)
