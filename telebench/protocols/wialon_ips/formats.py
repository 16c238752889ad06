"""Wialon IPS field encoders: the inverse of :mod:`telebench.protocols.wialon_ips.fields`.

Every function here writes text that :func:`~telebench.protocols.wialon_ips.fields.parse_record`
reads back to the same values (the rules are in that module's docstring). A value the
protocol cannot carry (a timestamp outside 2000-2099, text containing a separator, a
message key with no Wialon IPS field) raises :class:`~telebench.errors.LocalProtocolError`
naming it, rather than being dropped or altered.

Examples
--------
>>> format_record({"timestamp": 1367096161.0, "position.latitude": 55.743375,
...                "position.longitude": 37.66139, "position.speed": 1,
...                "position.direction": 2, "position.altitude": 3,
...                "position.satellites": 4}, short=True)
'270413;205601;5544.6025;N;03739.6834;E;1;2;3;4'
"""

from __future__ import annotations

import math
from decimal import Decimal
from time import gmtime
from typing import Final

from telebench.errors import LocalProtocolError
from telebench.model import Message, Value
from telebench.params import ParamType
from telebench.protocols.wialon_ips.common import NA, PROTOCOL
from telebench.protocols.wialon_ips.paramfield import KEY_PARAMS, WIRE_PARAMS, suits

__all__ = [
    "check_text",
    "format_coordinate",
    "format_number",
    "format_record",
    "format_timestamp",
]

_TS_MIN: Final = 946_684_800  # 2000-01-01T00:00:00Z, the first DDMMYY date
_TS_END: Final = 4_102_444_800  # 2100-01-01T00:00:00Z
_MAX_ADC: Final = 64

#: Keys an SD record carries; a D record adds _D_ONLY, ``ain.N``, params and ``custom.*``.
_SD_KEYS: Final = frozenset(
    {
        "ident",
        "timestamp",
        "position.latitude",
        "position.longitude",
        "position.valid",
        "position.speed",
        "position.direction",
        "position.altitude",
        "position.satellites",
        "checksum.valid",
    }
)
_D_KEYS: Final = _SD_KEYS | {"position.hdop", "din", "dout", "ibutton.code"}

#: Characters that would end a field, a param, a record or the line.
_SEPARATORS: Final = (";", ",", "|", "\r", "\n")


def _refuse(reason: str) -> LocalProtocolError:
    return LocalProtocolError(PROTOCOL, reason)


def check_text(text: str, what: str, *, extra: str = "") -> str:
    """Return ``text`` if it can be sent as a field, else raise ``LocalProtocolError``.

    Examples
    --------
    >>> check_text("V4.5", "param hw")
    'V4.5'
    >>> check_text("a;b", "ibutton")
    Traceback (most recent call last):
    ...
    telebench.errors.LocalProtocolError: wialon_ips: ibutton 'a;b' contains ';'
    """
    for sep in (*_SEPARATORS, *extra):
        if sep in text:
            raise _refuse(f"{what} {text!r} contains {sep!r}")
    if text == NA:
        raise _refuse(f"{what} cannot be the text 'NA' (it means not available)")
    return text


_DATE_TEXT: dict[int, str] = {}


def format_timestamp(ts: Value) -> str:
    """``DDMMYY;HHMMSS[.fraction]`` of UNIX seconds; ``NA;NA`` for ``None``.

    Examples
    --------
    >>> format_timestamp(1367096161.0), format_timestamp(1367096161.25)
    ('270413;205601', '270413;205601.25')
    """
    if ts is None:
        return "NA;NA"
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not _TS_MIN <= ts < _TS_END:
        raise _refuse(f"timestamp {ts!r} is not a time in 2000-2099 (DDMMYY)")
    secs = int(ts)
    day, rest = divmod(secs, 86_400)
    date = _DATE_TEXT.get(day)
    if date is None:
        tm = gmtime(day * 86_400)
        date = _DATE_TEXT[day] = f"{tm.tm_mday:02d}{tm.tm_mon:02d}{tm.tm_year % 100:02d}"
    hours, rest = divmod(rest, 3600)
    text = f"{date};{hours:02d}{rest // 60:02d}{rest % 60:02d}"
    if ts != secs:
        text += "." + repr(float(ts)).partition(".")[2]
    return text


def format_number(value: Value, what: str) -> str:
    """``str`` of an ``int``, ``repr`` of a finite ``float``; ``NA`` for ``None``.

    Examples
    --------
    >>> format_number(59, "height"), format_number(-4.0, "height"), format_number(None, "x")
    ('59', '-4.0', 'NA')
    """
    if isinstance(value, float):
        if value - value:  # NaN (true) for inf and NaN
            raise _refuse(f"{what} {value!r} is not finite")
        return repr(value)
    if isinstance(value, bool) or not isinstance(value, int):
        if value is None:
            return NA
        raise _refuse(f"{what} {value!r} is not a number")
    return str(value)


def _format_count(value: Value, what: str) -> str:
    if value is None:
        return NA
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _refuse(f"{what} {value!r} is not an unsigned integer")
    return str(value)


def _fixed(value: float) -> str:
    text = repr(value)
    return format(Decimal(text), "f") if "e" in text else text


def _minutes_text(a: float, deg: int) -> str:
    x0 = (a - deg) * 60.0
    for places in range(4, 17):
        text = f"{x0:.{places}f}"
        minutes = float(text)
        if minutes < 60.0 and deg + minutes / 60 == a:
            return text
    # No short text reads back to ``a``: search the floats next to x0, keep the closest
    # (between -1° and 1° the division by 60 skips some floats, module docstring).
    best, best_err = x0, math.inf
    up = down = x0
    for _ in range(64):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        for x in (up, down):
            if 0.0 <= x < 60.0:
                err = abs(deg + x / 60 - a)
                if err == 0.0:
                    return _fixed(x)
                if err < best_err:
                    best, best_err = x, err
    return _fixed(best)


def format_coordinate(value: Value, *, longitude: bool) -> str:
    """``DDMM.MMMM;N`` (``DDDMM.MMMM;E``) text of degrees; ``NA;NA`` for ``None``.

    Examples
    --------
    >>> format_coordinate(55.743375, longitude=False)
    '5544.6025;N'
    >>> format_coordinate(-(7 + 56.093 / 60), longitude=True)
    '00756.0930;W'
    """
    if value is None:
        return "NA;NA"
    limit = 180.0 if longitude else 90.0
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not -limit <= value <= limit
    ):
        raise _refuse(f"{'longitude' if longitude else 'latitude'} {value!r} is out of range")
    a = abs(float(value))
    deg = int(a)
    minutes = _minutes_text(a, deg)
    dot = minutes.find(".")
    if (dot if dot >= 0 else len(minutes)) < 2:
        minutes = "0" + minutes
    hemisphere = ("W" if value < 0 else "E") if longitude else ("S" if value < 0 else "N")
    return f"{deg:0{3 if longitude else 2}d}{minutes};{hemisphere}"


def _format_param(name: str, value: Value, divisor: int = 1) -> str:
    """``NAME:TYPE:VALUE`` of one param (``divisor``: the registry's, for numbers)."""
    if isinstance(value, float):
        if divisor != 1:
            if not math.isfinite(value * divisor):  # inf/NaN, or 1e308 * 10 overflowing
                raise _refuse(f"{name} {value!r} is not a finite number")
            return f"{name}:1:{round(value * divisor)}"
        return f"{name}:2:{format_number(value, name)}"
    if isinstance(value, bool):
        return f"{name}:1:{1 if value else 0}"
    if isinstance(value, int):
        return f"{name}:1:{value * divisor}"
    if isinstance(value, str):
        return f"{name}:3:{check_text(value, name)}"
    raise _refuse(f"param {name} value {value!r} is not a bool, int, float or str")


#: Python types a registry parameter type accepts (bool is not a number here).
_REGISTRY_TYPES: Final[dict[ParamType, tuple[type, ...]]] = {
    "boolean": (bool,),
    "number": (int, float),
    "integer": (int,),
    "string": (str,),
}


def _registry_param(key: str, value: Value) -> str:
    name, ptype, divisor = KEY_PARAMS[key]
    if type(value) not in _REGISTRY_TYPES[ptype]:
        raise _refuse(f"{key} {value!r} is not of the registry type {ptype}")
    return _format_param(name, value, divisor)


# custom.<NAME> key -> NAME, checked once (names repeat in every message).
_CUSTOM_NAMES: dict[str, str] = {}
_MAX_CUSTOM_NAMES: Final = 4096


def _custom_param(key: str, value: Value) -> str:
    name = _CUSTOM_NAMES.get(key)
    if name is None:
        name = check_text(key[7:], f"parameter name of {key}", extra=":")
        if not name:
            raise _refuse(f"{key} has an empty parameter name")
        if len(_CUSTOM_NAMES) < _MAX_CUSTOM_NAMES:
            _CUSTOM_NAMES[key] = name
    text = _format_param(name, value)
    entry = WIRE_PARAMS.get(name)
    if entry is not None:
        wire_type = text[len(name) + 1]
        decoded: Value = int(value) if isinstance(value, bool) else value
        if suits(entry[1], wire_type, decoded):
            raise _refuse(f"{key} would read back as {entry[0]}; send it under that name")
    return text


def _adc_index(key: str) -> int:
    digits = key[4:]
    if not (digits.isascii() and digits.isdigit()) or f"ain.{int(digits)}" != key:
        raise _refuse(f"{key} is not ain.<n>")
    n = int(digits)
    if not 1 <= n <= _MAX_ADC:
        raise _refuse(f"{key}: Wialon IPS adc inputs are numbered 1..{_MAX_ADC} here")
    return n


def _extended_fields(msg: Message) -> tuple[str, str]:
    """The ``adc`` and ``params`` fields of a D record."""
    adc: dict[int, str] = {}
    params: list[str] = []
    for key, value in msg.items():
        if key in _D_KEYS or value is None:
            continue
        if key in KEY_PARAMS:
            params.append(_registry_param(key, value))
        elif key.startswith("custom."):
            params.append(_custom_param(key, value))
        elif key.startswith("ain."):
            adc[_adc_index(key)] = format_number(value, key)
        else:
            raise _refuse(f"{key} has no Wialon IPS field")
    adc_text = ",".join(adc.get(n, NA) for n in range(1, max(adc) + 1)) if adc else NA
    return adc_text, ",".join(params) if params else NA


def format_record(msg: Message, *, short: bool = False) -> str:
    """The ``;``-separated body of an SD (``short``) or D record, without a CRC.

    Examples
    --------
    >>> format_record({"din": 1, "custom.hw": "V4.5", "engine.ignition.status": True})
    'NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;1;NA;NA;NA;hw:3:V4.5,ign:1:1'
    """
    get = msg.get
    fields = [
        format_timestamp(get("timestamp")),
        format_coordinate(get("position.latitude"), longitude=False),
        format_coordinate(get("position.longitude"), longitude=True),
        format_number(get("position.speed"), "position.speed"),
        format_number(get("position.direction"), "position.direction"),
        format_number(get("position.altitude"), "position.altitude"),
        _format_count(get("position.satellites"), "position.satellites"),
    ]
    if short:
        extra = [key for key in msg if key not in _SD_KEYS]
        if extra:
            raise _refuse(f"an SD record cannot carry {', '.join(extra)}; send a D record")
        return ";".join(fields)
    ibutton = get("ibutton.code")
    if ibutton is not None and not isinstance(ibutton, str):
        raise _refuse(f"ibutton.code {ibutton!r} is not text")
    adc, params = _extended_fields(msg)
    fields += (
        format_number(get("position.hdop"), "position.hdop"),
        _format_count(get("din"), "din"),
        _format_count(get("dout"), "dout"),
        adc,
        NA if ibutton is None else check_text(ibutton, "ibutton.code"),
        params,
    )
    return ";".join(fields)
