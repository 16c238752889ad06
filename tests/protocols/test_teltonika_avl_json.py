"""The C path from AVL data to JSON gives the Python path's bytes, or declines.

The Python decoder plus ``orjson`` is the reference: for every shared vector, every random
packet of the compiled-decoder tests (any id in any group, repeats, NX elements, edge
values) and random bytes, :func:`record_bodies` returns exactly the bodies the reference
gives, or ``None``. Vectors and simulator-like records must not be declined: that is the
path the hub takes under load.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebench.errors import MalformedPacketError
from telebench.protocols.teltonika import avl_json
from telebench.protocols.teltonika.avl import build_avl_data, parse_avl_data
from telebench.protocols.teltonika.avl_json import record_bodies
from telebench.protocols.teltonika.io_elements import DECODE
from tests.protocols.test_teltonika_compiled import (
    _BUILDABLE,
    IMEI,
    Element,
    packet,
    packets,
    record,
)
from tests.protocols.test_teltonika_vectors import TCP_RECORDS, check_record
from tests.vectors import payload_of

IDENT_JSON = orjson.dumps(IMEI)

compiled_only = pytest.mark.skipif(not avl_json.COMPILED, reason="C extension not built")


def test_extension_is_built() -> None:
    """``make test`` builds it (gcc); only an explicit opt-out runs without it."""
    if os.environ.get("TELEBENCH_PURE_PYTHON") == "1":
        pytest.skip("TELEBENCH_PURE_PYTHON=1: the Python path only")
    assert avl_json.COMPILED, "telebench/protocols/teltonika/_avljson.c was not compiled"


def reference(data: bytes, ident: str | None) -> list[bytes] | None:
    """What the hub stores without the C path: each message's orjson, braces cut."""
    try:
        messages = parse_avl_data(data, ident=ident)
    except MalformedPacketError:
        return None
    return [orjson.dumps(message)[1:-1] for message in messages]


@compiled_only
@pytest.mark.parametrize("vector", TCP_RECORDS)
def test_vectors_give_the_reference_bytes_and_exact_values(vector: dict[str, Any]) -> None:
    data = payload_of(vector)[8:-4]
    bodies = record_bodies(data, IDENT_JSON)
    assert bodies is not None, "a vector fell back to the Python path"
    assert bodies == reference(data, IMEI)
    for body, rec in zip(bodies, vector["expected"]["records"], strict=True):
        check_record(orjson.loads(b"{" + body + b"}"), rec, IMEI)


@compiled_only
@pytest.mark.parametrize("vector", TCP_RECORDS)
def test_truncated_vectors_decline(vector: dict[str, Any]) -> None:
    data = payload_of(vector)[8:-4]
    for cut in range(len(data)):
        assert record_bodies(data[:cut], IDENT_JSON) is None, cut
    assert record_bodies(data + b"\x00", IDENT_JSON) is None


@compiled_only
@given(packets(), st.sampled_from([None, IMEI]))
def test_random_packets_give_the_reference_or_decline(
    case: tuple[int, bytes, list[tuple[int, ...]]], ident: str | None
) -> None:
    _codec, data, _shapes = case
    bodies = record_bodies(data, None if ident is None else orjson.dumps(ident))
    if bodies is not None:
        assert bodies == reference(data, ident)


def _escapes(bodies: list[bytes]) -> bool:
    """Whether a text value needed escaping or replacing (which the C path declines)."""
    return any(b"\\" in body or "\ufffd".encode() in body for body in bodies)


@compiled_only
@given(packets(repeats=False), st.sampled_from([None, IMEI]))
def test_random_packets_without_repeated_ids_give_the_reference(
    case: tuple[int, bytes, list[tuple[int, ...]]], ident: str | None
) -> None:
    """Any id in any group, NX included, edge values, tiny floats: declined only for text."""
    _codec, data, _shapes = case
    expected = reference(data, ident)
    assert expected is not None
    bodies = record_bodies(data, None if ident is None else orjson.dumps(ident))
    if bodies is None:
        assert _escapes(expected)
    else:
        assert bodies == expected


@compiled_only
@given(st.binary(max_size=300))
def test_random_bytes_give_the_reference_or_decline(data: bytes) -> None:
    bodies = record_bodies(data, IDENT_JSON)
    if bodies is not None:
        assert bodies == reference(data, IMEI)


@compiled_only
@given(st.sampled_from((0x08, 0x8E, 0x10)), st.data())
def test_built_messages_are_never_declined(codec: int, data: st.DataObject) -> None:
    """Registry parameters with typed values, as the simulator sends them."""
    chosen = data.draw(st.lists(st.sampled_from(sorted(_BUILDABLE)), max_size=12, unique=True))
    msg: dict[str, Any] = {
        "timestamp": data.draw(st.integers(1_500_000_000_000, 1_900_000_000_000)) / 1000,
        "position.latitude": data.draw(st.integers(-900_000_000, 900_000_000)) / 10**7,
        "position.longitude": data.draw(st.integers(-1_800_000_000, 1_800_000_000)) / 10**7,
        "position.satellites": data.draw(st.integers(0, 20)),
    }
    for avl_id in chosen:
        name, _kind, divisor = DECODE[avl_id]
        raw = data.draw(_BUILDABLE[avl_id])
        msg[name] = raw / divisor if divisor != 1 and not isinstance(raw, bool) else raw
    avl = build_avl_data(codec, [msg, msg])
    assert record_bodies(avl, IDENT_JSON) == reference(avl, IMEI)


def _one(codec: int, elements: list[Element], lon: int = 0) -> bytes:
    head = (1560161136000, 1, lon, 0, 0, 0, 5, 40, 0) + ((3,) if codec == 0x10 else ())
    return packet(codec, [record(codec, head, elements)])


@compiled_only
@pytest.mark.parametrize(
    ("why", "data"),
    [
        ("a repeated AVL id", _one(0x8E, [(239, 1, 1), (239, 1, 0)])),
        ("text JSON would escape", _one(0x8E, [(256, 0, b'WV"W')])),
        ("text that is not ASCII", _one(0x8E, [(256, 0, b"WV\xffW")])),
    ],
)  # fmt: skip
def test_declines_what_it_does_not_reproduce(why: str, data: bytes) -> None:
    assert record_bodies(data, IDENT_JSON) is None, why
    assert reference(data, IMEI) is not None  # ... which the Python path decodes


@compiled_only
@pytest.mark.parametrize("lon", [1, -74, 100, 999, 1000, 123_456_789])
def test_floats_as_orjson_writes_them(lon: int) -> None:
    """1e-7, -7.4e-6 and 0.00001 (orjson), where Python's repr says 1e-07 and 1e-05."""
    data = _one(0x08, [], lon=lon)
    assert record_bodies(data, IDENT_JSON) == reference(data, IMEI)


@compiled_only
@pytest.mark.parametrize("raw", [(1 << 53) - 1, 1 << 53, (1 << 53) + 1, (1 << 64) - 1])
def test_ratios_beyond_53_bits_round_as_python_does(raw: int) -> None:
    """Timestamps and scaled values over 2**53: Python's exact int / int, not a double's."""
    data = _one(0x8E, [(66, 8, raw)]).replace(
        struct.pack(">Q", 1560161136000), struct.pack(">Q", raw)
    )
    assert record_bodies(data, IDENT_JSON) == reference(data, IMEI)


@compiled_only
def test_every_kind_of_element() -> None:
    """Bits and their mask, signed, scaled, text, hex, NX numbers of odd widths, custom."""
    elements: list[Element] = [
        (1, 1, 1),  # din.1 on
        (17, 2, 0xFFFF),  # x.acceleration, signed: -0.001
        (3, 1, 1),  # din.3 on: din = 5
        (66, 2, 24079),  # external.powersource.voltage 24.079
        (7777, 4, 5),  # custom.param.7777, an unknown id
        (256, 0, b"WVW\x00ZZZ"),  # vehicle.vin, NULs dropped
        (385, 0, bytes.fromhex("0a0b")),  # ble.beacons.raw, hex
        (9999, 0, b"\x01\x02"),  # unknown NX: hex
        (21, 0, b"\x00\x00\x04"),  # gsm.signal.level sent 3 bytes wide
    ]
    data = _one(0x8E, elements)
    [body] = record_bodies(data, IDENT_JSON) or [b""]
    assert [body] == reference(data, IMEI)
    msg = orjson.loads(b"{" + body + b"}")
    assert (msg["din"], msg["x.acceleration"], msg["vehicle.vin"]) == (5, -0.001, "WVWZZZ")
    assert (msg["custom.param.7777"], msg["custom.param.9999"]) == (5, "0102")
    assert list(msg)[11:] == [  # grouped by width on the wire, NX last; din after din.1
        "din.1", "din", "din.3", "x.acceleration", "external.powersource.voltage",
        "custom.param.7777", "vehicle.vin", "ble.beacons.raw", "custom.param.9999",
        "gsm.signal.level",
    ]  # fmt: skip


def test_a_name_that_clashes_is_left_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """An id named like a header key would overwrite it in the dict: the C path declines."""
    monkeypatch.setitem(avl_json.DECODE, 9999, ("position.speed", 0, 1))
    table, _masks = avl_json._table()
    assert table[9999][1] == avl_json._KIND_REFUSE
    assert table[239][1] != avl_json._KIND_REFUSE


@compiled_only
def test_the_c_code_declines_a_refused_id() -> None:
    table, masks = avl_json._table()
    data = _one(0x8E, [(21, 1, 4), (239, 0, b"")])  # 239 as an empty NX element
    assert record_bodies(data, IDENT_JSON) == reference(data, IMEI)
    try:
        avl_json._avljson.configure({**table, 239: (b'"x":', avl_json._KIND_REFUSE, 1, 0, 0)},
                                    masks)  # fmt: skip
        assert record_bodies(data, IDENT_JSON) is None
    finally:
        avl_json._avljson.configure(table, masks)
    assert record_bodies(data, IDENT_JSON) == reference(data, IMEI)
