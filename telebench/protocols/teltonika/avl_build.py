"""AVL data (Codec 8, 8 Extended, 16) built from messages: the encoding side of :mod:`.avl`.

One ``pack`` per record with a struct cached per shape (header, then each group's count
and id/value pairs; Codec 8E's NX elements appended after). The IO elements come from
:func:`~telebench.protocols.teltonika.io_elements.split_io`; errors name the message index
and the parameter or header field that cannot be carried.

Examples
--------
>>> build_avl_data(0x10, [{"timestamp": 1.5, "position.speed": 40}]).hex()  # generation 7
'100100000000000005dc00000000000000000000000000000028000007000000000001'
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final, cast

from telebench.errors import LocalProtocolError
from telebench.model import Message
from telebench.protocols.teltonika.io_elements import split_io
from telebench.protocols.teltonika.plans import (
    AVL_CODECS,
    CODEC_8,
    CODEC_8E,
    CODEC_16,
    COUNT_FORMAT,
    GPS_FORMAT,
    ID_FORMAT,
    LAT_LON,
    PLAN_CACHE_MAX,
    VALUE_FORMAT,
    WIDTHS,
)

__all__ = ["build_avl_data"]

PROTOCOL: Final = "teltonika"

_ENC_HEAD_FORMAT: Final = {  # through N total; each group's count opens the group
    CODEC_8: ">" + GPS_FORMAT + "BB",
    CODEC_8E: ">" + GPS_FORMAT + "HH",
    CODEC_16: ">" + GPS_FORMAT + "HBB",
}
_NX_ITEM: Final = struct.Struct(">HH")
_U16: Final = struct.Struct(">H")
#: Codec 16 generation type sent when a message has none: 7, "periodical" (§3.4).
_PERIODICAL: Final = 7


def build_avl_data(codec: int, messages: Sequence[Message]) -> bytes:
    """The AVL data field (codec id .. number of data 2) carrying ``messages`` in order.

    Raises
    ------
    telebench.errors.LocalProtocolError
        No messages or more than 255, a message without ``timestamp``, or a parameter
        the codec cannot carry (Codec 8: AVL id > 255; NX values need Codec 8E) or whose
        value does not fit; the error names the message index and the parameter.

    Examples
    --------
    >>> build_avl_data(0x08, [{"timestamp": 1560161136.0}]).hex()
    '08010000016b40d9ad800000000000000000000000000000000000000000000001'
    """
    if codec not in AVL_CODECS:
        raise LocalProtocolError(PROTOCOL, f"codec 0x{codec:02X} does not carry AVL records")
    if not 1 <= len(messages) <= 255:
        raise LocalProtocolError(PROTOCOL, f"a packet carries 1..255 records, not {len(messages)}")
    parts = [bytes((codec, len(messages)))]
    parts.extend(_build_record(codec, msg, i) for i, msg in enumerate(messages))
    parts.append(bytes((len(messages),)))
    return b"".join(parts)


def _build_record(codec: int, msg: Message, index: int) -> bytes:
    max_id = 0xFF if codec == CODEC_8 else 0xFFFF
    g1, g2, g4, g8, nx = split_io(msg, max_id=max_id, variable=codec == CODEC_8E, index=index)
    n1, n2, n4, n8 = len(g1) >> 1, len(g2) >> 1, len(g4) >> 1, len(g8) >> 1
    total = n1 + n2 + n4 + n8 + len(nx)
    limit = 0xFFFF if codec == CODEC_8E else 0xFF
    if total > limit:
        raise LocalProtocolError(
            PROTOCOL, f"message {index}: {total} IO elements, more than this codec's {limit}"
        )
    args = _header(codec, msg, index)
    args.append(total)
    args.append(n1)
    args += g1
    args.append(n2)
    args += g2
    args.append(n4)
    args += g4
    args.append(n8)
    args += g8
    try:
        record = _layout(codec, n1, n2, n4, n8).pack(*args)
    except struct.error as exc:
        raise _header_error(codec, msg, index) from exc
    if codec != CODEC_8E:
        return record
    parts = [record, _U16.pack(len(nx))]
    for avl_id, blob in nx:
        parts.append(_NX_ITEM.pack(avl_id, len(blob)))
        parts.append(blob)
    return b"".join(parts)


_layouts: dict[tuple[int, ...], struct.Struct] = {}


def _layout(codec: int, *counts: int) -> struct.Struct:
    """Struct of a whole record without NX: header, then each group's count and pairs."""
    key = (codec, *counts)
    found = _layouts.get(key)
    if found is None:
        groups = (
            COUNT_FORMAT[codec] + (ID_FORMAT[codec] + VALUE_FORMAT[width]) * n
            for width, n in zip(WIDTHS, counts, strict=True)
        )
        found = struct.Struct(_ENC_HEAD_FORMAT[codec] + "".join(groups))
        if len(_layouts) >= PLAN_CACHE_MAX:
            _layouts.clear()
        _layouts[key] = found
    return found


_HEADER_FIELDS: Final = (
    ("event.priority.enum", 1, 0, 0xFF),
    ("position.longitude", LAT_LON, -(1 << 31), (1 << 31) - 1),
    ("position.latitude", LAT_LON, -(1 << 31), (1 << 31) - 1),
    ("position.altitude", 1, -(1 << 15), (1 << 15) - 1),
    ("position.direction", 1, 0, 0xFFFF),
    ("position.satellites", 1, 0, 0xFF),
    ("position.speed", 1, 0, 0xFFFF),
)


def _header(codec: int, msg: Message, index: int) -> list[int]:
    """The record header's raw values, timestamp .. event id (.. generation type)."""
    get = cast("dict[str, Any]", msg).get
    ts = get("timestamp")
    if ts is None:
        raise LocalProtocolError(PROTOCOL, f"message {index}: timestamp is required")
    try:
        raw = [
            round(ts * 1000),
            round(get("event.priority.enum", 0)),
            round(get("position.longitude", 0) * LAT_LON),
            round(get("position.latitude", 0) * LAT_LON),
            round(get("position.altitude", 0)),
            round(get("position.direction", 0)),
            round(get("position.satellites", 0)),
            round(get("position.speed", 0)),
            round(get("event.enum", 0)),
        ]
        if codec == CODEC_16:
            raw.append(round(get("event.generation.enum", _PERIODICAL)))
    except (TypeError, ValueError, OverflowError) as exc:
        raise _header_error(codec, msg, index) from exc
    return raw


def _header_error(codec: int, msg: Message, index: int) -> LocalProtocolError:
    """Name the header field that cannot be encoded (slow path, errors only)."""
    event_max = 0xFF if codec == CODEC_8 else 0xFFFF
    checks = (
        ("timestamp", 1000, 0, (1 << 64) - 1),
        *_HEADER_FIELDS,
        ("event.enum", 1, 0, event_max),
        ("event.generation.enum", 1, 0, 0xFF),
    )
    get = cast("dict[str, Any]", msg).get
    for name, div, lo, hi in checks:
        value = get(name, _PERIODICAL if name == "event.generation.enum" else 0)
        try:
            raw = round(value * div)
        except (TypeError, ValueError, OverflowError):
            return LocalProtocolError(
                PROTOCOL, f"message {index}: {name} {value!r} is not a number"
            )
        if not lo <= raw <= hi:
            return LocalProtocolError(
                PROTOCOL, f"message {index}: {name} {value!r} does not fit the record header"
            )
    # Unreachable: every value packed into the header is checked above.
    return LocalProtocolError(  # pragma: no cover
        PROTOCOL, f"message {index}: record header cannot be encoded"
    )
