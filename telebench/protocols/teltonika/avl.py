"""AVL data (Codec 8, 8 Extended, 16): the records of one packet, parsed and built.

Theory of operation: the AVL data field (codec id .. number of data 2, protocols.md §3.2)
is the same bytes over TCP and UDP. A record is a fixed header (timestamp, priority,
longitude, latitude, altitude, angle, satellites, speed, event IO id, [generation type],
N total, N1) followed by the IO groups (N1 x 1-byte values, then N2, N4, N8 and, in
Codec 8E, the variable-length NX group), each opened by its count.

Decoding is planned per record *shape* (the four group counts): a plan is one cached
``struct.Struct`` covering the header, every fixed-width group and the counts, plus
``itemgetter`` s that pull the ids and raw values out of the unpacked tuple. This generic
path tries the previous record's plan and keeps it when the counts it unpacked are the
counts it assumes (which proves the layout, count by count); otherwise the counts are read
one by one and the plan looked up; then one dict and one pass of
:func:`~telebench.protocols.teltonika.io_elements.put_io`, and N total is checked.

A device sends the same AVL ids in the same order record after record, so the hot path is
a *compiled* decoder per shape and ids (:mod:`~telebench.protocols.teltonika.compiled`):
a generated function doing one ``unpack_from``, one ``itemgetter`` compare of N total, the
counts and every id with the shape's, then building the whole message as ONE dict display
(header, then each element as its kind's expression). Each record first tries the previous
record's decoder (a packet's first record: the last decoder of the same ident and codec,
so one-record packets take the compiled path too); if the shape or ids differ (-1) it
takes the generic path, which checks everything and then asks the cache for the decoder
of that shape (compiled on its second sighting). Both paths give equal messages, key
order included (``compiled=False`` keeps the generic one callable, as the reference).
Encoding: one ``pack`` per record with a struct cached per shape. Errors name the record
and field.

Examples
--------
>>> data = bytes.fromhex(
...     "08010000016B40D9AD80010000000000000000000000000000000103021503010101425E10000001")
>>> [msg] = parse_avl_data(data, ident="356307042441013")
>>> msg["timestamp"], msg["external.powersource.voltage"], msg["din"]
(1560161136.0, 24.08, 1)
>>> parse_avl_data(build_avl_data(0x08, [msg]), ident="356307042441013") == [msg]
True
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final, cast

from telebench.errors import LocalProtocolError, MalformedPacketError
from telebench.model import Message
from telebench.protocols.teltonika.compiled import (
    CODEC_8,
    CODEC_8E,
    CODEC_16,
    COUNT_FORMAT,
    GPS_FORMAT,
    ID_FORMAT,
    LAT_LON,
    PLAN_CACHE_MAX,
    TOTAL_INDEX,
    TOTAL_OFFSET,
    VALUE_FORMAT,
    WIDTHS,
    Plan,
    RecordDecoder,
    Shape,
    Truncated,
    decoder_for,
    plan_at,
)
from telebench.protocols.teltonika.io_elements import put_io, put_variable, split_io

__all__ = ["AVL_CODECS", "CODEC_8", "CODEC_8E", "CODEC_16", "build_avl_data", "parse_avl_data"]

PROTOCOL: Final = "teltonika"
AVL_CODECS: Final = frozenset({CODEC_8, CODEC_8E, CODEC_16})

_ENC_HEAD_FORMAT: Final = {  # through N total; each group's count opens the group
    CODEC_8: ">" + GPS_FORMAT + "BB",
    CODEC_8E: ">" + GPS_FORMAT + "HH",
    CODEC_16: ">" + GPS_FORMAT + "HBB",
}
_NX_ITEM: Final = struct.Struct(">HH")
_U16: Final = struct.Struct(">H")
#: Codec 16 generation type sent when a message has none: 7, "periodical" (§3.4).
_PERIODICAL: Final = 7


def _malformed(why: str, pos: int, data: bytes, offset: int) -> MalformedPacketError:
    return MalformedPacketError(PROTOCOL, why, offset=offset + pos, data=data, data_start=offset)


def parse_avl_data(
    data: bytes,
    *,
    ident: str | None = None,
    offset: int = 0,
    flag_bad_crc: bool = False,
    compiled: bool = True,
) -> list[Message]:
    """The messages of an AVL data field (codec id .. number of data 2), in wire order.

    ``offset`` is the stream offset of ``data[0]`` (for error positions); with
    ``flag_bad_crc`` every message gets ``checksum.valid = False``. ``compiled=False``
    decodes with the generic plans only (the reference the compiled ones are tested
    against); the result is the same.

    Raises
    ------
    telebench.errors.MalformedPacketError
        Unknown codec, truncated or inconsistent record (naming record and field), count
        mismatch, or bytes left over.

    Examples
    --------
    >>> parse_avl_data(bytes.fromhex("0800"))
    Traceback (most recent call last):
    ...
    telebench.errors.MalformedPacketError: teltonika: AVL data of 2 bytes is too short ...
    """
    if len(data) < 3:
        raise _malformed(f"AVL data of {len(data)} bytes is too short", len(data), data, offset)
    codec, count = data[0], data[1]
    if codec not in AVL_CODECS:
        raise _malformed(f"unknown AVL codec id 0x{codec:02X}", 0, data, offset)
    if not count:
        raise _malformed("number of data 1 is 0: a packet carries 1..255 records", 1, data, offset)
    messages: list[Message] = []
    pos = _records(data, codec, count, ident, offset, messages, compiled)
    end = len(data) - 1
    if pos != end:
        why = f"data length leaves {end - pos} bytes after {count} records"
        raise _malformed(why, pos, data, offset)
    if data[end] != count:
        why = f"number of data 2 ({data[end]}) differs from number of data 1 ({count})"
        raise _malformed(why, end, data, offset)
    if flag_bad_crc:
        for msg in messages:
            msg["checksum.valid"] = False
    return messages


def _records(
    data: bytes,
    codec: int,
    count: int,
    ident: str | None,
    offset: int,
    out: list[Message],
    fast: bool,
) -> int:
    """Parse ``count`` records from ``data[2]`` into ``out``: the position after them.

    Each record first tries the previous record's compiled decoder (the first one: the
    last of the previous packet of this ident and codec), -1 if its shape or ids differ,
    then the generic path, which also finds the compiled decoder of its shape.
    """
    end = len(data) - 1
    hint = (codec, ident)  # a device's last decoder: its next packet likely has that shape
    pos, plan, decode = 2, None, _hints.get(hint) if fast else None
    for index in range(count):
        try:
            new = -1 if decode is None else decode(data, pos, ident, out)
            if new < 0:
                new, plan, vals = _record(data, pos, codec, ident, out, plan)
                decode = _compiled(codec, plan, vals, ident) if fast else None
            pos = new
        except Truncated as exc:
            why = f"record {index}: {exc.field} {exc.args[0]}"
            raise _malformed(why, exc.pos, data, offset) from None
        if pos > end:
            why = f"record {index}: runs past the data length ({pos - end} bytes over)"
            raise _malformed(why, end, data, offset)
    if decode is not None:
        if len(_hints) >= _HINTS_MAX and hint not in _hints:
            _hints.clear()
        _hints[hint] = decode
    return pos


_hints: dict[tuple[int, str | None], RecordDecoder] = {}
_HINTS_MAX: Final = 1 << 16  # one small entry per device: room for a big fleet


def _record(
    data: bytes, pos: int, codec: int, ident: str | None, out: list[Message], plan: Plan | None
) -> tuple[int, Plan, tuple[Any, ...]]:
    """Parse the record at ``pos`` into ``out``: ``(position after it, its plan, values)``.

    ``plan`` is the previous record's: records of one packet mostly share a shape, so it
    is tried first and kept if the counts it unpacks are the counts it assumes.
    """
    vals = None
    if plan is not None:
        try:
            vals = plan[0].unpack_from(data, pos)
        except struct.error:
            vals = None
        else:
            if plan[2](vals) != plan[1]:
                vals = None
    if vals is None or plan is None:
        plan = plan_at(data, pos, codec)
        vals = plan[0].unpack_from(data, pos)
    layout, _counts, _get_counts, get_ids, get_raws, widths, n_fixed = plan[:7]
    start = pos
    ts, prio, lon, lat, alt, angle, sats, speed, event = vals[:9]
    msg: Message = {
        "ident": ident,
        "timestamp": ts / 1000,
        "event.priority.enum": prio,
        "position.longitude": lon / LAT_LON,
        "position.latitude": lat / LAT_LON,
        "position.altitude": alt,
        "position.direction": angle,
        "position.satellites": sats,
        "position.speed": speed,
        "position.valid": sats > 0,
        "event.enum": event,
    }
    if ident is None:
        del msg["ident"]
    if codec == CODEC_16:
        msg["event.generation.enum"] = vals[9]
    if n_fixed:
        put_io(msg, get_ids(vals), get_raws(vals), widths)
    pos += layout.size
    seen = n_fixed
    if codec == CODEC_8E and vals[-1]:
        seen += vals[-1]
        pos = _nx(data, pos, vals[-1], msg)
    total = vals[TOTAL_INDEX[codec]]
    if seen != total:
        why = f"{total} does not match {seen} elements read"
        raise Truncated(why, "N total IO count", start + TOTAL_OFFSET[codec])
    out.append(msg)
    return pos, plan, vals


def _compiled(
    codec: int, plan: Plan, vals: tuple[Any, ...], ident: str | None
) -> RecordDecoder | None:
    """The compiled decoder of a record the generic path has just parsed (and checked)."""
    layout, _counts, _get_counts, _ids, _raws, widths, _n, get_key, raw_at = plan
    nx_count = vals[-1] if codec == CODEC_8E else 0
    key = get_key(vals)
    shape = Shape(
        codec, layout, get_key, key, raw_at, widths, ident is not None, codec == CODEC_16,
        nx_count, _nx,
    )  # fmt: skip
    return decoder_for(shape)


def _nx(data: bytes, pos: int, n: int, msg: Message) -> int:
    for _ in range(n):
        try:
            avl_id, length = _NX_ITEM.unpack_from(data, pos)
        except struct.error:
            raise Truncated("is truncated", "NX element header", pos) from None
        pos += 4
        if pos + length > len(data):
            raise Truncated(f"of {length} bytes runs past the data", f"NX element {avl_id}", pos)
        put_variable(msg, avl_id, bytes(data[pos : pos + length]))
        pos += length
    return pos


# --- encoding ---------------------------------------------------------------------------


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
