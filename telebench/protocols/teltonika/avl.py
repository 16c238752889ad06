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
Encoding (:mod:`~telebench.protocols.teltonika.avl_build`, re-exported here): one
``pack`` per record with a struct cached per shape. Errors name the record and field.

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
from typing import Any, Final

from telebench.errors import MalformedPacketError
from telebench.model import Message
from telebench.protocols.teltonika.avl_build import build_avl_data
from telebench.protocols.teltonika.compiled import RecordDecoder, Shape, decoder_for
from telebench.protocols.teltonika.io_elements import put_io, put_variable
from telebench.protocols.teltonika.plans import (
    AVL_CODECS,
    CODEC_8,
    CODEC_8E,
    CODEC_16,
    LAT_LON,
    TOTAL_INDEX,
    TOTAL_OFFSET,
    Plan,
    Truncated,
    plan_at,
)

__all__ = ["AVL_CODECS", "CODEC_8", "CODEC_8E", "CODEC_16", "build_avl_data", "parse_avl_data"]

PROTOCOL: Final = "teltonika"

_NX_ITEM: Final = struct.Struct(">HH")


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
