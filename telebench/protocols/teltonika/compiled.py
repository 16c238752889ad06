"""AVL record decoders compiled per shape *and* AVL ids: the hot path of Teltonika decoding.

The generic plans (a cached struct and itemgetters per group counts) are in
:mod:`~telebench.protocols.teltonika.plans`; :mod:`~telebench.protocols.teltonika.avl`
runs both.

Theory of operation: a device sends the same IO elements in the same order record after
record, so once a record's layout is known (its group counts, hence one ``struct.Struct``
covering header, counts and fixed-width groups) and its AVL ids are known, decoding it is a
fixed expression of the unpacked tuple. :func:`record_source` writes that expression as
the body of a function, in the manner of :func:`collections.namedtuple`: one
``unpack_from``, one ``itemgetter`` call comparing N total, the group counts and every AVL
id with the shape's (a C-speed tuple compare that proves the layout), then the whole
message as ONE dict display: the header fields, then each IO element as the expression
its kind needs (see :mod:`~telebench.protocols.teltonika.io_elements`). Parameter names
come from the registry and are embedded with ``repr``; no wire byte reaches the source.

A dict display stores its items in order, so a repeated AVL id keeps its first position
and its last value, as sequential assignment does; a ``din`` / ``dout`` bitmask is
placed after the first of its bits, with the value of the last of each bit. Variable
length (NX) elements, whose ids the key does not cover, are read afterwards by the
caller's reader.

:func:`decoder_for` caches the functions (bounded, cleared when full) and compiles a
shape only the second time it is seen, so a device whose ids never repeat costs no
compilation. A decoder returns ``-1`` for a record of another shape; the caller then
plans the record generically.

Examples
--------
>>> import operator, struct
>>> layout = struct.Struct(">QBiihHBH" "BBB" "BB" "BBB")  # Codec 8, N1 = 1, N2 = N4 = N8 = 0
>>> shape = Shape(codec=8, layout=layout, get_key=operator.itemgetter(9, 10, 13, 14, 15, 11),
...               key=(1, 1, 0, 0, 0, 239), raw_at=(12,), widths=(1,), ident=True,
...               generation=False, nx_count=0, nx=None)
>>> decode = record_decoder(shape)
>>> out = []
>>> data = layout.pack(1560161136000, 0, 0, 0, 0, 0, 5, 40, 0, 1, 1, 239, 1, 0, 0, 0)
>>> decode(data, 0, "356307042441013", out), out[0]["engine.ignition.status"]
(32, True)
>>> decode(bytes(32), 0, None, out)  # another shape: -1, nothing appended
-1
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from telebench.model import Message
from telebench.protocols.teltonika.io_elements import (
    BITS,
    DECODE,
    KIND_BIT,
    KIND_BOOL,
    KIND_HEX,
    KIND_INT,
    KIND_SCALED,
    KIND_SIGNED,
    KIND_TEXT,
    custom_param,
)
from telebench.protocols.teltonika.plans import LAT_LON

__all__ = ["RecordDecoder", "Shape", "decoder_for", "record_decoder", "record_source"]

#: ``decode(data, pos, ident, out)``: appends the record at ``pos`` to ``out`` and returns
#: the position after it, or returns -1 (appending nothing) if the record has another shape.
RecordDecoder = Callable[[bytes, int, "str | None", list[Message]], int]
#: Reads ``n`` NX elements at ``pos`` into a message: ``nx(data, pos, n, msg) -> pos after``.
NxReader = Callable[[bytes, int, int, Message], int]

#: Fixed-width records with more elements than this are left to the generic path.
MAX_ELEMENTS: Final = 255
_CACHE_MAX: Final = 4096


class Shape(NamedTuple):
    """A record shape with its AVL ids: what :func:`record_source` compiles.

    ``get_key(vals)`` picks N total, the group counts (with the NX count in Codec 8E) and
    the AVL ids from the unpacked tuple; ``key`` is what it returns for this shape (its
    last ``len(raw_at)`` items are the AVL ids, in wire order). ``raw_at`` and ``widths``
    give each fixed-width element's index in the tuple and its wire width.
    """

    codec: int
    layout: struct.Struct
    get_key: Callable[[tuple[Any, ...]], Any]
    key: tuple[int, ...]
    raw_at: tuple[int, ...]
    widths: tuple[int, ...]
    ident: bool  # the message starts with "ident"
    generation: bool  # Codec 16: the tuple's item 9 is the generation type
    nx_count: int  # NX elements after the fixed groups (Codec 8E)
    nx: NxReader | None  # their reader, needed when nx_count is not 0


def _header(shape: Shape) -> list[str]:
    """The header items, keys and values exactly as the generic decoder writes them."""
    items = ["'ident': ident"] if shape.ident else []
    items += [
        "'timestamp': v[0] / 1000",
        "'event.priority.enum': v[1]",
        f"'position.longitude': v[2] / {LAT_LON}",
        f"'position.latitude': v[3] / {LAT_LON}",
        "'position.altitude': v[4]",
        "'position.direction': v[5]",
        "'position.satellites': v[6]",
        "'position.speed': v[7]",
        "'position.valid': v[6] > 0",
        "'event.enum': v[8]",
    ]
    if shape.generation:
        items.append("'event.generation.enum': v[9]")
    return items


def _value(kind: int, divisor: int, raw: str, width: int) -> str:
    """The expression of one element's value: what ``put_io`` computes for its kind."""
    if kind == KIND_INT:
        return raw
    if kind in (KIND_BOOL, KIND_BIT):
        return f"{raw} != 0"
    if kind == KIND_SCALED:
        return f"{raw} / {divisor}"
    if kind == KIND_SIGNED:  # two's complement of the wire width: (raw ^ half) - half
        half = 1 << (8 * width - 1)
        signed = f"(({raw} ^ {half}) - {half})"
        return f"{signed} / {divisor}" if divisor != 1 else signed
    blob = f"{raw}.to_bytes({width}, 'big')"
    if kind == KIND_TEXT:
        return f"{blob}.replace(b'\\x00', b'').decode('ascii', errors='replace')"
    if kind == KIND_HEX:
        return f"{blob}.hex().upper()"
    raise ValueError(f"AVL value kind {kind} has no compiled expression")  # pragma: no cover


def _io(shape: Shape) -> list[str]:
    """The IO items in wire order, each bitmask after the first of its bits."""
    ids = shape.key[len(shape.key) - len(shape.raw_at) :]
    last: dict[str, str] = {}  # bit parameter -> expression of its last raw value
    for aid, at in zip(ids, shape.raw_at, strict=True):
        spec = DECODE.get(aid)
        if spec is not None and spec[1] == KIND_BIT:
            last[spec[0]] = f"v[{at}]"
    items, masks = [], set[str]()
    for aid, at, width in zip(ids, shape.raw_at, shape.widths, strict=True):
        spec = DECODE.get(aid)
        if spec is None:
            items.append(f"{custom_param(aid)!r}: v[{at}]")
            continue
        name, kind, divisor = spec
        items.append(f"{name!r}: {_value(kind, divisor, f'v[{at}]', width)}")
        mask = BITS[name][0] if kind == KIND_BIT else None
        if mask is not None and mask not in masks:
            masks.add(mask)
            bits = [
                f"({b} if {last[n]} else 0)"
                for n, (m, b) in BITS.items()
                if n in last and m == mask
            ]
            items.append(f"{mask!r}: {' | '.join(bits)}")
    return items


def record_source(shape: Shape) -> str:
    """The Python source of the decoder of ``shape`` (a function named ``decode``).

    Examples
    --------
    >>> import operator, struct
    >>> shape = Shape(0x08, struct.Struct(">QBiihHBH" "BBB" "BB" "BBB"),
    ...               operator.itemgetter(9, 10, 13, 14, 15, 11), (1, 1, 0, 0, 0, 1),
    ...               (12,), (1,), False, False, 0, None)
    >>> print(record_source(shape).split("'event.enum': v[8],")[1])
    <BLANKLINE>
            'din.1': v[12] != 0,
            'din': (1 if v[12] else 0),
        })
        return pos + 32
    <BLANKLINE>
    """
    items = _header(shape) + _io(shape)
    size = shape.layout.size
    lines = [
        "def decode(data, pos, ident, out):",
        "    try:",
        "        v = unpack_from(data, pos)",
        "    except error:",
        "        return -1",
        "    if get_key(v) != KEY:",
        "        return -1",
        "    msg = {" if shape.nx_count else "    out.append({",
        *(f"        {item}," for item in items),
    ]
    if shape.nx_count:  # NX ids vary: read generically, after the fixed part
        lines += ["    }", "    out.append(msg)"]
        lines.append(f"    return nx(data, pos + {size}, {shape.nx_count}, msg)")
    else:
        lines += ["    })", f"    return pos + {size}"]
    return "\n".join(lines) + "\n"


def record_decoder(shape: Shape) -> RecordDecoder:
    """Compile the decoder of ``shape`` (see :func:`record_source`).

    Examples
    --------
    >>> import operator, struct
    >>> get_key = operator.itemgetter(9, 10, 11, 12, 13)  # N total, N1, N2, N4, N8
    >>> shape = Shape(0x08, struct.Struct(">QBiihHBH" "BBBBBB"), get_key, (0, 0, 0, 0, 0),
    ...               (), (), False, False, 0, None)
    >>> out = []
    >>> record_decoder(shape)(bytes(30), 0, None, out), out[0]["position.valid"]
    (30, False)
    """
    if shape.nx_count and shape.nx is None:
        raise ValueError(f"shape with {shape.nx_count} NX elements needs an NX reader")
    namespace: dict[str, Any] = {
        "unpack_from": shape.layout.unpack_from,
        "error": struct.error,
        "get_key": shape.get_key,
        "KEY": shape.key,
        "nx": shape.nx,
    }
    code = compile(record_source(shape), f"<teltonika record {shape.key}>", "exec")
    exec(code, namespace)  # the source holds numbers and repr()'d registry names only
    decode: RecordDecoder = namespace["decode"]
    return decode


_decoders: dict[tuple[Any, ...], RecordDecoder] = {}
_seen: dict[tuple[Any, ...], None] = {}  # shapes seen once, not compiled yet


def decoder_for(shape: Shape) -> RecordDecoder | None:
    """The cached decoder of ``shape``, or None the first time it is seen (or if too big).

    Examples
    --------
    >>> import operator, struct
    >>> get_key = operator.itemgetter(9, 10, 11, 12, 13)  # N total, N1, N2, N4, N8
    >>> shape = Shape(0x08, struct.Struct(">QBiihHBH" "BBBBBB"), get_key, (0, 0, 0, 0, 0),
    ...               (), (), False, False, 0, None)
    >>> first = decoder_for(shape)  # None unless this shape was seen before
    >>> second = decoder_for(shape)
    >>> second is not None and second is decoder_for(shape)
    True
    """
    key = (shape.codec, shape.ident, shape.key)
    found = _decoders.get(key)
    if found is not None or len(shape.raw_at) > MAX_ELEMENTS:
        return found
    if key not in _seen:  # compile on the second sight: ids that never repeat cost nothing
        if len(_seen) >= _CACHE_MAX:
            _seen.clear()
        _seen[key] = None
        return None
    _seen.pop(key, None)  # (another thread may have cleared it meanwhile)
    if len(_decoders) >= _CACHE_MAX:
        _decoders.clear()
    found = _decoders[key] = record_decoder(shape)
    return found
