"""Teltonika compiled record decoders give exactly the generic decoder's messages.

Records are built raw (any AVL id in any group, in any order, repeated), so the compiled
dict displays meet every kind, duplicates and bitmasks; messages are compared with their
key order. A packet is parsed twice compiled: shapes compile on their second sight.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebench.errors import MalformedPacketError
from telebench.model import Message
from telebench.protocols.teltonika import avl, compiled
from telebench.protocols.teltonika.avl import build_avl_data, parse_avl_data
from telebench.protocols.teltonika.io_elements import (
    DECODE,
    KIND_BIT,
    KIND_BOOL,
    KIND_HEX,
    KIND_SIGNED,
    KIND_TEXT,
)

IMEI = "356307042441013"
CODECS = (0x08, 0x8E, 0x10)
#: Per codec: header after the GPS fields (event id, [generation], N total), id, count.
_FORMATS = {0x08: ("BB", "B", "B"), 0x8E: ("HH", "H", "H"), 0x10: ("HBB", "H", "B")}
_VALUE = {1: "B", 2: "H", 4: "I", 8: "Q"}

#: An IO element as sent: (AVL id, wire width, raw value); width 0 = NX, raw = its bytes.
Element = tuple[int, int, Any]


def record(codec: int, head: tuple[int, ...], elements: list[Element]) -> bytes:
    """One record, its fixed elements grouped by width in the order given, NX last."""
    tail, id_fmt, count_fmt = _FORMATS[codec]
    groups = {w: [(i, r) for i, width, r in elements if width == w] for w in (1, 2, 4, 8)}
    nx = [(i, r) for i, width, r in elements if width == 0]
    out = struct.pack(">QBiihHBH" + tail, *head, len(elements))
    for width, items in groups.items():
        out += struct.pack(">" + count_fmt, len(items))
        for avl_id, raw in items:
            out += struct.pack(">" + id_fmt + _VALUE[width], avl_id, raw)
    if codec == 0x8E:
        out += struct.pack(">H", len(nx))
        for avl_id, blob in nx:
            out += struct.pack(">HH", avl_id, len(blob)) + blob
    return out


def packet(codec: int, records: list[bytes]) -> bytes:
    return bytes((codec, len(records))) + b"".join(records) + bytes((len(records),))


@st.composite
def heads(draw: st.DrawFn, codec: int) -> tuple[int, ...]:
    max_event = 0xFF if codec == 0x08 else 0xFFFF
    head = (
        draw(st.integers(0, 1 << 42)),
        draw(st.integers(0, 255)),
        draw(st.integers(-(1 << 31), (1 << 31) - 1)),
        draw(st.integers(-(1 << 31), (1 << 31) - 1)),
        draw(st.integers(-(1 << 15), (1 << 15) - 1)),
        draw(st.integers(0, 0xFFFF)),
        draw(st.sampled_from([0, 1, 255])),
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, max_event)),
    )
    return (*head, draw(st.integers(0, 255))) if codec == 0x10 else head


def ids(codec: int) -> st.SearchStrategy[int]:
    """Registry ids of every kind (bits, signed, scaled, text, hex ...) and unknown ones."""
    max_id = 0xFF if codec == 0x08 else 0xFFFF
    known = st.sampled_from(sorted(i for i in DECODE if i <= max_id))
    return st.one_of(known, known, st.integers(0, max_id))


@st.composite
def elements(draw: st.DrawFn, codec: int, repeats: bool = True) -> list[Element]:
    """The ids of one device's records (repeats allowed, unless not) with their widths."""
    widths = [1, 2, 4, 8] + ([0] if codec == 0x8E else [])
    pairs = st.tuples(ids(codec), st.sampled_from(widths))
    chosen: list[tuple[int, int]] = draw(
        st.lists(pairs, max_size=10, unique_by=None if repeats else (lambda pair: pair[0]))
    )
    repeat: bool = repeats and draw(st.booleans())
    if chosen and repeat:  # repeat an id, in the same or another group
        avl_id, _width = draw(st.sampled_from(chosen))
        chosen.append((avl_id, draw(st.sampled_from(widths))))
    return [(avl_id, width, None) for avl_id, width in chosen]


@st.composite
def values(draw: st.DrawFn, template: list[Element]) -> list[Element]:
    """The template's elements with fresh raw values (edges: 0, sign bit, all ones)."""
    out: list[Element] = []
    for avl_id, width, _raw in template:
        if width == 0:
            raw: Any = bytes(draw(st.lists(st.integers(0, 255), max_size=9)))
        else:
            top = (1 << (8 * width)) - 1
            raw = draw(st.one_of(st.sampled_from([0, 1, top, top >> 1, (top >> 1) + 1]),
                                 st.integers(0, top)))  # fmt: skip
        out.append((avl_id, width, raw))
    return out


@st.composite
def packets(draw: st.DrawFn, repeats: bool = True) -> tuple[int, bytes, list[tuple[int, ...]]]:
    """``(codec, AVL data, id tuples of its fixed elements)``: records of 1-2 devices."""
    codec = draw(st.sampled_from(CODECS))
    templates = draw(st.lists(elements(codec, repeats), min_size=1, max_size=2))
    records, shapes = [], []
    for _ in range(draw(st.integers(1, 5))):
        template = draw(st.sampled_from(templates))
        records.append(record(codec, draw(heads(codec)), draw(values(template))))
        shapes.append(tuple(i for w in (1, 2, 4, 8) for i, width, _raw in template if width == w))
    return codec, packet(codec, records), shapes


def items(messages: list[Message]) -> list[list[tuple[Any, ...]]]:
    """Messages with their key order and value types (True == 1, but not here)."""
    return [[(k, type(v), v) for k, v in msg.items()] for msg in messages]


def compiled_ids() -> set[tuple[int, ...]]:
    """The AVL ids of every compiled decoder (its key: N total, counts, [NX], ids)."""
    return {key[2][6 if key[0] == 0x8E else 5 :] for key in compiled._decoders}


@given(packets(), st.sampled_from([None, IMEI]), st.booleans())
def test_compiled_equals_generic(
    case: tuple[int, bytes, list[tuple[int, ...]]], ident: str | None, bad_crc: bool
) -> None:
    _codec, data, shapes = case
    # Start empty: no cache clearing (when full) between the two passes, no stale hint.
    compiled._decoders.clear()
    avl._hints.clear()
    expected = parse_avl_data(data, ident=ident, flag_bad_crc=bad_crc, compiled=False)
    for _ in range(2):  # the second time, every shape has a compiled decoder
        got = parse_avl_data(data, ident=ident, flag_bad_crc=bad_crc)
        assert items(got) == items(expected)
    assert set(shapes) <= compiled_ids()  # so the second pass took the compiled path


#: Registry ids a Codec 8 message can carry, with their raw values (bools for booleans).
_BUILDABLE: dict[int, st.SearchStrategy[Any]] = {
    avl_id: st.booleans()
    if kind in (KIND_BOOL, KIND_BIT)
    else st.integers(-100, 100)
    if kind == KIND_SIGNED
    else st.integers(0, 255)
    for avl_id, (_name, kind, _divisor) in DECODE.items()
    if avl_id <= 0xFF and kind not in (KIND_TEXT, KIND_HEX)
}


@given(st.sampled_from(CODECS), st.data())
def test_compiled_equals_generic_for_built_messages(codec: int, data: st.DataObject) -> None:
    """Messages as the simulator builds them: registry names with typed values."""
    chosen = data.draw(st.lists(st.sampled_from(sorted(_BUILDABLE)), max_size=8, unique=True))
    msg: Message = {"timestamp": 1.5, "position.satellites": 3}
    for avl_id in chosen:
        name, _kind, divisor = DECODE[avl_id]
        raw = data.draw(_BUILDABLE[avl_id])
        msg[name] = raw / divisor if divisor != 1 else raw
    avl = build_avl_data(codec, [msg, msg, msg])
    expected = parse_avl_data(avl, ident=IMEI, compiled=False)
    assert items(parse_avl_data(avl, ident=IMEI)) == items(expected)


def test_shapes_compile_on_second_sight() -> None:
    elems: list[Element] = [(239, 1, 1), (66, 2, 24079), (1, 1, 0), (7777, 4, 5)]
    data = packet(0x8E, [record(0x8E, (1, 0, 0, 0, 0, 0, 0, 0, 0), elems)])
    parse_avl_data(data, ident=IMEI)
    before = len(compiled._decoders)
    [msg] = parse_avl_data(data, ident=IMEI)
    assert (239, 1, 66, 7777) in compiled_ids()
    assert len(compiled._decoders) in (before + 1, 1)  # 1: the bounded cache was just cleared
    assert list(msg.items())[-5:] == [
        ("engine.ignition.status", True),
        ("din.1", False),
        ("din", 0),
        ("external.powersource.voltage", 24.079),
        ("custom.param.7777", 5),
    ]


def test_duplicates_keep_first_position_and_last_value() -> None:
    # din.1 on then off, din.2 on; 66 twice (1 and 2 bytes); x.acceleration signed
    elems: list[Element] = [(1, 1, 1), (17, 2, 0xFFFF), (2, 1, 1), (1, 1, 0), (66, 2, 5)]
    elems += [(66, 4, 12000)]
    data = packet(0x10, [record(0x10, (0, 0, 0, 0, 0, 0, 0, 0, 0, 7), elems)] * 3)
    generic = parse_avl_data(data, compiled=False)
    for _ in range(2):
        assert items(parse_avl_data(data)) == items(generic)
    assert list(generic[0].items())[-5:] == [
        ("din.1", False),
        ("din", 2),
        ("din.2", True),
        ("x.acceleration", -0.001),
        ("external.powersource.voltage", 12.0),
    ]


@given(packets(), st.integers(0, 10_000), st.integers(0, 255))
def test_errors_are_the_same(
    case: tuple[int, bytes, list[tuple[int, ...]]], where: int, byte: int
) -> None:
    """A mutated or cut packet, after its intact shapes were compiled: same outcome."""
    _codec, data, _shapes = case
    for _ in range(2):
        parse_avl_data(data)
    at = where % len(data)
    for bad in (data[:at] + bytes((byte,)) + data[at + 1 :], data[:at] + data[-1:]):
        outcomes = []
        for fast in (False, True):
            try:
                outcomes.append(items(parse_avl_data(bad, compiled=fast)))
            except MalformedPacketError as exc:
                outcomes.append([[(exc.reason, type(exc), exc.offset)]])
        assert outcomes[0] == outcomes[1]


def test_big_records_stay_generic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "_decoders", {})
    elems: list[Element] = [(5000 + i, 1, i & 0xFF) for i in range(compiled.MAX_ELEMENTS + 1)]
    data = packet(0x8E, [record(0x8E, (0,) * 9, elems)] * 2)
    assert items(parse_avl_data(data)) == items(parse_avl_data(data, compiled=False))
    assert compiled._decoders == {}


def test_decoder_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "_CACHE_MAX", 1)
    monkeypatch.setattr(compiled, "_decoders", {})
    monkeypatch.setattr(compiled, "_seen", {})
    one = packet(0x08, [record(0x08, (0,) * 9, [(21, 1, 3)])] * 2)
    two = packet(0x08, [record(0x08, (0,) * 9, [(21, 1, 3), (239, 1, 1)])] * 2)
    for data in (one, two):
        assert parse_avl_data(data) == parse_avl_data(data, compiled=False)
    assert compiled_ids() == {(21, 239)}
    assert len(compiled._seen) == 0


def test_records_differing_in_one_id_or_count_are_told_apart() -> None:
    base: list[Element] = [(239, 1, 1), (21, 1, 4), (66, 2, 12000), (16, 4, 99)]
    other = [*base[:3], (199, 4, 99)]  # same counts, last id differs
    moved = [*base[:2], (66, 4, 12000), base[3]]  # same ids, one in another group
    fewer = base[:3]
    nx: list[Element] = [*base, (385, 0, b"\x01")]
    for codec, variants in ((0x08, [base, other, moved, fewer]), (0x8E, [base, nx, other])):
        recs = [record(codec, (i, 0, 0, 0, 0, 0, 1, 0, 0), v) for i, v in enumerate(variants)]
        data = packet(codec, recs * 3)
        generic = parse_avl_data(data, compiled=False)
        for _ in range(2):
            assert items(parse_avl_data(data)) == items(generic)
