"""AVL record plans by group counts: the generic decoder's layouts, and the codec constants.

A record's layout follows from its four group counts (N1, N2, N4, N8): :func:`plan_at`
reads them one by one, then returns the cached plan of those counts, one
``struct.Struct`` covering the header, every fixed-width group and the counts, with
``itemgetter`` s that pull the counts, AVL ids and raw values out of the unpacked tuple
(:mod:`~telebench.protocols.teltonika.avl` runs the plans;
:mod:`~telebench.protocols.teltonika.compiled` compiles a decoder per shape and ids from
what a plan unpacked). Byte layouts: protocols.md §3.2.

Examples
--------
>>> record = bytes.fromhex("0000016B40D9AD8001000000000000000000000000000000"
...                        "0103021503010101425E100000")
>>> plan = plan_at(record, 0, CODEC_8)
>>> plan[1]  # N1 = 2, N2 = 1, N4 = N8 = 0
(2, 1, 0, 0)
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "AVL_CODECS",
    "CODEC_8",
    "CODEC_8E",
    "CODEC_16",
    "LAT_LON",
    "PLAN_CACHE_MAX",
    "Plan",
    "Truncated",
    "plan_at",
]

CODEC_8: Final = 0x08
CODEC_8E: Final = 0x8E
CODEC_16: Final = 0x10
AVL_CODECS: Final = frozenset({CODEC_8, CODEC_8E, CODEC_16})
#: Registry divisor of position.latitude / longitude.
LAT_LON: Final = 10_000_000
#: Record header through the speed: timestamp ms, priority, lon, lat, altitude, angle,
#: satellites, speed.
GPS_FORMAT: Final = "QBiihHBH"
ID_FORMAT: Final = {CODEC_8: "B", CODEC_8E: "H", CODEC_16: "H"}
COUNT_FORMAT: Final = {CODEC_8: "B", CODEC_8E: "H", CODEC_16: "B"}
VALUE_FORMAT: Final = {1: "B", 2: "H", 4: "I", 8: "Q"}
WIDTHS: Final = (1, 2, 4, 8)
# Per codec: record header format through N1 (decoding).
_HEAD_FORMAT: Final = {
    CODEC_8: ">" + GPS_FORMAT + "BBB",  # event id, N total, N1
    CODEC_8E: ">" + GPS_FORMAT + "HHH",
    CODEC_16: ">" + GPS_FORMAT + "HBBB",  # event id, generation type, N total, N1
}
_HEAD: Final = {codec: struct.Struct(fmt) for codec, fmt in _HEAD_FORMAT.items()}
_COUNT_SIZE: Final = {CODEC_8: 1, CODEC_8E: 2, CODEC_16: 1}
_GROUP_NAMES: Final = ("N1", "N2", "N4", "N8")


class Truncated(Exception):
    """A record runs short or is inconsistent: ``why``, the ``field`` and its position.

    An internal signal of the AVL decoder, which turns it into a
    :class:`~telebench.errors.MalformedPacketError` naming the record.

    Examples
    --------
    >>> Truncated("is truncated", "header", 2).field
    'header'
    """

    def __init__(self, why: str, field: str, pos: int) -> None:
        super().__init__(why)
        self.field = field
        self.pos = pos


#: A record shape's decoding plan: (struct of header + all fixed groups + their counts,
#: the N1/N2/N4/N8 counts, getter of those counts, getter of the ids, getter of the raw
#: values, width of each value, number of fixed-width elements; for compiled decoders:
#: getter of N total, the counts (with NX in Codec 8E) and the ids, index of each raw value).
Plan = tuple[
    struct.Struct,
    tuple[int, ...],
    Callable[[tuple[Any, ...]], Any],
    Callable[[tuple[Any, ...]], Any],
    Callable[[tuple[Any, ...]], Any],
    tuple[int, ...],
    int,
    Callable[[tuple[Any, ...]], Any],
    tuple[int, ...],
]
PLAN_CACHE_MAX: Final = 1024
_plans: dict[tuple[int, ...], Plan] = {}
TOTAL_INDEX: Final = {CODEC_8: 9, CODEC_8E: 9, CODEC_16: 10}  # in the unpacked tuple
TOTAL_OFFSET: Final = {CODEC_8: 25, CODEC_8E: 26, CODEC_16: 27}  # in the record


def plan_at(data: bytes, pos: int, codec: int) -> Plan:
    """The generic plan of the record at ``pos``, found by reading its counts one by one.

    Raises :class:`Truncated` when a group runs past the data.

    Examples
    --------
    >>> record = bytes.fromhex("0000016B40D9AD8001000000000000000000000000000000"
    ...                        "0103021503010101425E100000")
    >>> plan = plan_at(record, 0, CODEC_8)
    >>> plan[0].size, plan[1], plan[3](plan[0].unpack_from(record))  # N1 = 2, N2 = 1
    (37, (2, 1, 0, 0), (21, 1, 66))
    """
    head = _HEAD[codec]
    if pos + head.size > len(data):
        raise Truncated("is truncated", "header", pos)
    id_size, count_size = (1 if codec == CODEC_8 else 2), _COUNT_SIZE[codec]
    p = pos + head.size - count_size
    counts = []
    for width, name in zip(WIDTHS, _GROUP_NAMES, strict=True):
        n = int.from_bytes(data[p : p + count_size], "big")
        counts.append(n)
        at, p = p, p + count_size + n * (id_size + width)
        more = width != 8 or codec == CODEC_8E  # another count follows this group
        if p + (count_size if more else 0) > len(data):
            raise Truncated(f"of {n} elements runs past the data", f"{name} IO group", at)
    key = (codec, *counts)
    plan = _plans.get(key)
    if plan is None:
        if len(_plans) >= PLAN_CACHE_MAX:
            _plans.clear()
        plan = _plans[key] = _make_plan(codec, tuple(counts))
    return plan


def _make_plan(codec: int, counts: tuple[int, ...]) -> Plan:
    parts = [_HEAD_FORMAT[codec]]
    i = TOTAL_INDEX[codec] + 2  # fields through N1
    count_at, ids, raws, widths = [i - 1], list[int](), list[int](), list[int]()
    for width, n in zip(WIDTHS, counts, strict=True):
        parts.append((ID_FORMAT[codec] + VALUE_FORMAT[width]) * n)
        ids.extend(range(i, i + 2 * n, 2))
        raws.extend(range(i + 1, i + 2 * n, 2))
        widths.extend([width] * n)
        i += 2 * n
        if width != 8 or codec == CODEC_8E:
            parts.append(COUNT_FORMAT[codec])
            count_at.append(i)
            i += 1
    n_fixed = len(ids)
    get_key = operator.itemgetter(TOTAL_INDEX[codec], *count_at, *ids)  # 5+ items: a tuple
    raw_at = tuple(raws)
    if n_fixed == 1:  # itemgetter of one index returns the item, not a tuple
        ids, raws = ids * 2, raws * 2
    get_ids = operator.itemgetter(*ids) if ids else tuple
    get_raws = operator.itemgetter(*raws) if raws else tuple
    layout = struct.Struct("".join(parts))
    return (
        layout,
        counts,
        operator.itemgetter(*count_at[:4]),
        get_ids,
        get_raws,
        tuple(widths),
        n_fixed,
        get_key,
        raw_at,
    )
