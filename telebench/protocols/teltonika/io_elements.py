"""Teltonika IO elements: the AVL id table, derived from the parameter registry.

Theory of operation: an AVL record carries its IO elements in groups by value width (1, 2,
4 and 8 bytes, plus Codec 8 Extended's variable-length "NX" group), each element an
``(AVL id, raw value)`` pair (protocols.md §3.4). :data:`DECODE` maps an AVL id to
``(parameter name, kind, divisor)`` once, at import, from
:func:`telebench.params.teltonika_io_sources`; :func:`put_io` (the decoder's hot loop)
writes a record's ids and raw values into the message, with the common kinds (plain
integer, boolean, scaled) handled inline and the rare ones (signed, digital input/output
bits, strings) in a slow path. :data:`ENCODE` is the inverse table, used by
:func:`split_io`, whose fast path likewise inlines the common kinds.

Value rules (protocols.md §3.10, registry ``Source``): ``raw / divisor`` when the divisor
is not 1 (a float), ``bool`` for boolean parameters, ``int`` otherwise; signed ids use the
two's complement of the width the element has on the wire. ``vehicle.vin`` (AVL 256) is
ASCII text with NUL bytes removed; other variable-length values are upper-case hex. An id
the registry does not name keeps its raw unsigned value under ``custom.param.<id>``.
``din`` and ``dout`` are bitmasks derived from ``din.1``..``din.3`` and ``dout.1``,
``dout.2`` (bit 0 = input/output 1) whenever one of them is present.

Examples
--------
>>> DECODE[66]
('external.powersource.voltage', 2, 1000)
>>> msg = {}
>>> put_fixed(msg, (66, 24079, 18, 65314, 1), 2)
>>> msg
{'external.powersource.voltage': 24.079, 'y.acceleration': -0.222}
>>> put_fixed(msg, (1, 1, 78, 0), 1)
>>> msg["din.1"], msg["din"], msg["custom.param.78"]
(True, 1, 0)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Final

from telebench.errors import LocalProtocolError
from telebench.model import Message, Value
from telebench.params import teltonika_io_sources

__all__ = [
    "DECODE",
    "ENCODE",
    "KIND_BIT",
    "KIND_BOOL",
    "KIND_HEX",
    "KIND_INT",
    "KIND_SCALED",
    "KIND_SIGNED",
    "KIND_TEXT",
    "custom_param",
    "put_fixed",
    "put_io",
    "put_variable",
    "split_io",
]

PROTOCOL: Final = "teltonika"

# Kinds of values. The first three are decoded inline by put_fixed (the hot path).
KIND_INT: Final = 0  # unsigned integer, divisor 1
KIND_BOOL: Final = 1  # boolean parameter: raw != 0
KIND_SCALED: Final = 2  # unsigned, raw / divisor
KIND_SIGNED: Final = 3  # two's complement of the wire width, then / divisor if != 1
KIND_BIT: Final = 4  # din.n / dout.n: boolean, also sets bit n-1 of din / dout
KIND_TEXT: Final = 5  # ASCII text, NULs removed (vehicle.vin)
KIND_HEX: Final = 6  # upper-case hex string (ble.beacons.raw ...)

_CUSTOM_PREFIX: Final = "custom.param."

#: Digital input/output parameter -> (derived bitmask parameter, bit value).
BITS: Final[dict[str, tuple[str, int]]] = {
    "din.1": ("din", 1),
    "din.2": ("din", 2),
    "din.3": ("din", 4),
    "dout.1": ("dout", 1),
    "dout.2": ("dout", 2),
}

#: AVL ids whose value is text rather than hex when they come variable-length.
_TEXT_IDS: Final = frozenset({256})


def _kind(name: str, type_: str, divisor: int, signed: bool, avl_id: int) -> int:
    if name in BITS:
        return KIND_BIT
    if type_ == "boolean":
        return KIND_BOOL
    if type_ == "string":
        return KIND_TEXT if avl_id in _TEXT_IDS else KIND_HEX
    if signed:
        return KIND_SIGNED
    return KIND_SCALED if divisor != 1 else KIND_INT


def _tables() -> tuple[dict[int, tuple[str, int, int]], dict[str, tuple[int, int, int, int]]]:
    decode: dict[int, tuple[str, int, int]] = {}
    encode: dict[str, tuple[int, int, int, int]] = {}
    for avl_id, param, src in teltonika_io_sources():
        kind = _kind(param.name, param.type, src.divisor, src.signed, avl_id)
        decode[avl_id] = (param.name, kind, src.divisor)
        encode[param.name] = (avl_id, src.size or 0, kind, src.divisor)
    return decode, encode


_DECODE, _ENCODE = _tables()
#: AVL id -> (parameter name, kind, divisor).
DECODE: Final = _DECODE
#: Parameter name -> (AVL id, registry size in bytes, kind, divisor); a size other than
#: 1, 2, 4 or 8 means variable length (NX), padded with NULs to the size for text.
ENCODE: Final = _ENCODE

_custom_names: dict[int, str] = {}


def custom_param(avl_id: int) -> str:
    """The name an AVL id keeps when the registry does not name it.

    Examples
    --------
    >>> custom_param(78)
    'custom.param.78'
    """
    name = _custom_names.get(avl_id)
    if name is None:
        name = _custom_names[avl_id] = f"{_CUSTOM_PREFIX}{avl_id}"
    return name


def put_io(msg: Message, ids: Iterable[int], raws: Iterable[int], widths: Iterable[int]) -> None:
    """Write fixed-width IO elements (AVL ids, raw values, wire widths) into ``msg``.

    This is the decoder's hot loop: the common kinds are handled inline.

    Examples
    --------
    >>> msg = {}
    >>> put_io(msg, (239, 21, 17), (1, 4, 0xFFFF), (1, 1, 2))
    >>> msg
    {'engine.ignition.status': True, 'gsm.signal.level': 4, 'x.acceleration': -0.001}
    """
    get = DECODE.get
    for aid, raw, width in zip(ids, raws, widths, strict=False):
        spec = get(aid)
        if spec is None:
            msg[custom_param(aid)] = raw
            continue
        name, kind, divisor = spec
        if kind == KIND_INT:
            msg[name] = raw
        elif kind == KIND_BOOL:
            msg[name] = raw != 0
        elif kind == KIND_SCALED:
            msg[name] = raw / divisor
        else:
            _put_special(msg, name, kind, divisor, raw, width)


def put_fixed(msg: Message, vals: Sequence[int], width: int) -> None:
    """Write one unpacked fixed-width IO group (``id, value, id, value, ...``) into ``msg``.

    A trailing odd item (such as the next group's count) is ignored.

    Examples
    --------
    >>> msg = {}
    >>> put_fixed(msg, (239, 1, 21, 4, 3), 1)
    >>> msg
    {'engine.ignition.status': True, 'gsm.signal.level': 4}
    """
    put_io(msg, vals[::2], vals[1::2], itertools.repeat(width, len(vals) // 2))


def _put_special(msg: Message, name: str, kind: int, divisor: int, raw: int, width: int) -> None:
    if kind == KIND_SIGNED:
        if raw >= 1 << (8 * width - 1):
            raw -= 1 << (8 * width)
        msg[name] = raw / divisor if divisor != 1 else raw
    elif kind == KIND_BIT:
        on = raw != 0
        msg[name] = on
        mask, bit = BITS[name]
        old = msg.get(mask, 0)
        msg[mask] = (old | bit) if on else (old & ~bit)  # type: ignore[operator]
    else:  # a string parameter sent in a fixed-width group: its bytes
        _put_blob(msg, name, kind, raw.to_bytes(width, "big"))


def _put_blob(msg: Message, name: str, kind: int, blob: bytes) -> None:
    if kind == KIND_TEXT:
        msg[name] = blob.replace(b"\x00", b"").decode("ascii", errors="replace")
    else:
        msg[name] = blob.hex().upper()


def put_variable(msg: Message, avl_id: int, blob: bytes) -> None:
    """Write one variable-length (NX, Codec 8 Extended) element into ``msg``.

    Text and hex parameters take the bytes; a numeric parameter sent variable-length
    with 1 to 8 bytes is read as a big-endian integer of that width; anything else keeps
    its hex under ``custom.param.<id>``.

    Examples
    --------
    >>> msg = {}
    >>> put_variable(msg, 256, b"WVW" + bytes(14))
    >>> put_variable(msg, 385, bytes.fromhex("0a0b"))
    >>> put_variable(msg, 999, b"\\x01")
    >>> msg
    {'vehicle.vin': 'WVW', 'ble.beacons.raw': '0A0B', 'custom.param.999': '01'}
    """
    spec = DECODE.get(avl_id)
    if spec is not None:
        name, kind, _divisor = spec
        if kind in (KIND_TEXT, KIND_HEX):
            _put_blob(msg, name, kind, blob)
            return
        if 1 <= len(blob) <= 8:
            put_fixed(msg, (avl_id, int.from_bytes(blob, "big")), len(blob))
            return
    msg[custom_param(avl_id)] = blob.hex().upper()


#: Message keys that are not IO elements: the record header and derived values.
HEADER_KEYS: Final = frozenset(
    {
        "timestamp",
        "event.priority.enum",
        "position.longitude",
        "position.latitude",
        "position.altitude",
        "position.direction",
        "position.satellites",
        "position.speed",
        "event.enum",
        "event.generation.enum",
        "ident",
        "position.valid",
        "din",
        "dout",
        "server.timestamp",
        "checksum.valid",
    }
)

_WIDTH_INDEX: Final = {1: 0, 2: 1, 4: 2, 8: 3}
_NUMERIC_KINDS: Final = (KIND_INT, KIND_SCALED, KIND_SIGNED)

#: split_io's fast path: name -> (AVL id, kind, divisor, group slot, raw limit), for the
#: fixed-width unsigned kinds (integer, boolean, scaled).
_FAST: Final = {
    name: (avl_id, kind, divisor, _WIDTH_INDEX[size], 1 << (8 * size))
    for name, (avl_id, size, kind, divisor) in ENCODE.items()
    if size in _WIDTH_INDEX and kind in (KIND_INT, KIND_BOOL, KIND_SCALED)
}

#: Four flat ``id, raw, id, raw ...`` lists (1, 2, 4, 8 bytes) and the NX ``(id, bytes)``.
Groups = tuple[list[int], list[int], list[int], list[int], list[tuple[int, bytes]]]


def _refuse(index: int, name: str, why: str) -> LocalProtocolError:
    return LocalProtocolError(PROTOCOL, f"message {index}: {name} {why}")


def split_io(msg: Message, *, max_id: int, variable: bool, index: int = 0) -> Groups:
    """Sort a message's IO parameters into the groups of an AVL record, as raw values.

    ``max_id`` is the largest AVL id the codec can carry (255 for Codec 8) and ``variable``
    says whether it has the NX group (Codec 8 Extended). Header and derived keys are
    skipped, ``None`` values are left out; anything that cannot be sent raises
    :class:`~telebench.errors.LocalProtocolError` naming the message ``index`` and the
    parameter.

    Examples
    --------
    >>> split_io({"timestamp": 0.0, "engine.ignition.status": True,
    ...           "external.powersource.voltage": 12.5, "custom.param.300": 70000},
    ...          max_id=65535, variable=True)
    ([239, 1], [66, 12500], [300, 70000], [], [])
    """
    fixed: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
    nx: list[tuple[int, bytes]] = []
    get = _FAST.get
    for name, value in msg.items():
        spec = get(name)
        if spec is None or value is None:
            if value is not None and name not in HEADER_KEYS:
                _put_slow(fixed, nx, name, value, max_id, variable, index)
            continue
        avl_id, kind, divisor, slot, limit = spec
        cls = value.__class__
        if kind == KIND_SCALED and (cls is float or cls is int):
            try:
                raw = round(value * divisor)  # type: ignore[arg-type]
            except (ValueError, OverflowError):
                raw = -1  # not finite: the slow path says so
        elif kind == KIND_BOOL and cls is bool:
            raw = 1 if value else 0
        elif kind == KIND_INT and cls is int:
            raw = value  # type: ignore[assignment]
        else:
            raw = -1
        if raw < 0 or raw >= limit or avl_id > max_id:
            _put_slow(fixed, nx, name, value, max_id, variable, index)
            continue
        group = fixed[slot]
        group.append(avl_id)
        group.append(raw)
    return fixed[0], fixed[1], fixed[2], fixed[3], nx


def _put_slow(
    fixed: tuple[list[int], list[int], list[int], list[int]],
    nx: list[tuple[int, bytes]],
    name: str,
    value: Value,
    max_id: int,
    variable: bool,
    index: int,
) -> None:
    """Every parameter split_io's fast path does not take, and every error."""
    spec = ENCODE.get(name)
    if spec is None:
        avl_id, size, raw = _custom(name, value, index)
        kind = KIND_INT
    else:
        avl_id, size, kind, divisor = spec
        raw = _raw(name, value, kind, divisor, index)
    if avl_id > max_id:
        raise _refuse(index, name, f"has AVL id {avl_id}, more than this codec's {max_id}")
    slot = _WIDTH_INDEX.get(size)
    if slot is None:
        if not variable:
            raise _refuse(index, name, "is variable-length (NX): only Codec 8E carries it")
        nx.append((avl_id, _blob(name, value, kind, size, index)))
        return
    fixed[slot].extend((avl_id, _fit(name, raw, size, kind, index)))


def _raw(name: str, value: Value, kind: int, divisor: int, index: int) -> int:
    if kind in (KIND_BOOL, KIND_BIT):
        if not isinstance(value, bool | int):
            raise _refuse(index, name, f"must be a boolean, not {value!r}")
        return 1 if value else 0
    if kind not in _NUMERIC_KINDS:
        return 0  # text / hex: encoded by _blob
    if isinstance(value, bool | str) or not isinstance(value, int | float):
        raise _refuse(index, name, f"must be a number, not {value!r}")
    try:
        return round(value * divisor) if divisor != 1 or isinstance(value, float) else value
    except (ValueError, OverflowError) as exc:
        raise _refuse(index, name, f"{value!r} is not a finite number") from exc


def _fit(name: str, raw: int, size: int, kind: int, index: int) -> int:
    bits = 8 * size
    if kind == KIND_SIGNED:
        if -(1 << (bits - 1)) <= raw < 1 << (bits - 1):
            return raw & ((1 << bits) - 1)
    elif 0 <= raw < 1 << bits:
        return raw
    raise _refuse(index, name, f"raw value {raw} does not fit {size} byte(s)")


def _blob(name: str, value: Value, kind: int, size: int, index: int) -> bytes:
    if not isinstance(value, str):
        raise _refuse(index, name, f"must be a string, not {value!r}")
    try:
        blob = value.encode("ascii") if kind == KIND_TEXT else bytes.fromhex(value)
    except (UnicodeEncodeError, ValueError) as exc:
        what = "ASCII text" if kind == KIND_TEXT else "hex"
        raise _refuse(index, name, f"{value!r} is not {what}") from exc
    if kind == KIND_TEXT:
        blob = blob.ljust(size, b"\x00")
    if len(blob) > 0xFFFF:
        raise _refuse(index, name, f"is {len(blob)} bytes long, more than 65535")
    return blob


def _custom(name: str, value: Value, index: int) -> tuple[int, int, int]:
    """``(AVL id, size, raw)`` of a ``custom.param.<id>``: the smallest width that fits."""
    digits = name.removeprefix(_CUSTOM_PREFIX)
    if digits == name or not digits.isdigit() or not digits.isascii() or int(digits) > 0xFFFF:
        raise _refuse(index, name, "is not a Teltonika parameter (no AVL id)")
    avl_id = int(digits)
    if isinstance(value, str):
        return avl_id, 0, 0
    if not isinstance(value, int):
        raise _refuse(index, name, f"must be an integer or a hex string, not {value!r}")
    for size in (1, 2, 4, 8):
        if 0 <= value < 1 << (8 * size):
            return avl_id, size, int(value)
    raise _refuse(index, name, f"raw value {value} does not fit 8 bytes")
