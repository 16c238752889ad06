"""Teltonika pure packet functions: IO element corner cases and every error message."""

from __future__ import annotations

import re

import pytest

from telebench.errors import LocalProtocolError, MalformedPacketError
from telebench.model import Message
from telebench.protocols import Role
from telebench.protocols.events import Rejected
from telebench.protocols.teltonika import Session, avl_build, plans
from telebench.protocols.teltonika.avl import build_avl_data, parse_avl_data
from telebench.protocols.teltonika.commands import (
    build_codec12,
    build_codec13,
    build_command_data,
    parse_command,
)
from telebench.protocols.teltonika.io_elements import put_fixed, put_variable, split_io
from telebench.protocols.teltonika.packets import (
    build_imei_message,
    build_records_ack,
    build_udp_ack,
    build_udp_datagram,
    parse_imei_message,
    parse_records_ack,
    parse_udp_ack,
)

# The record of the wiki's Codec 8 2nd example (37 bytes): N total 3, N1 2, N2 1, N4 0, N8 0.
RECORD_8 = bytes.fromhex(
    "0000016B40D9AD80010000000000000000000000000000000103021503010101425E100000"
)
# Codec 8E: event id, N total, N1, N2, N4, N8, NX (u16 each, all 0).
RECORD_8E = bytes(24) + bytes(14)


# --- IO elements ---------------------------------------------------------------------------


def test_numeric_parameter_sent_variable_length() -> None:
    msg: Message = {}
    put_variable(msg, 66, b"\x30\x39")  # external voltage as a 2-byte NX element
    put_variable(msg, 18, b"\xff\xff\xff")  # signed, 3 bytes on the wire
    put_variable(msg, 21, bytes(9))  # too long for an integer: raw hex
    assert msg == {
        "external.powersource.voltage": 12.345,
        "y.acceleration": -0.001,
        "custom.param.21": "000000000000000000",
    }


def test_string_parameters_sent_fixed_width() -> None:
    msg: Message = {}
    put_fixed(msg, (256, int.from_bytes(b"AB\x00\x00C\x00\x00\x00", "big"), 385, 0xBEEF), 8)
    assert msg == {"vehicle.vin": "ABC", "ble.beacons.raw": "000000000000BEEF"}


def test_non_ascii_vin_is_replaced_not_raised() -> None:
    msg: Message = {}
    put_variable(msg, 256, b"W\xffW")
    assert msg == {"vehicle.vin": "W\ufffdW"}


def test_split_io_slow_paths() -> None:
    groups = split_io(
        {
            "engine.ignition.status": 1,  # an int for a boolean
            "gsm.signal.level": 4.0,  # a float for an integer
            "y.acceleration": -0.222,  # signed
            "vehicle.vin": "WVW",  # NUL-padded to 17
            "custom.param.900": 2**40,
            "din": 7,  # derived: ignored
            "battery.voltage": None,  # not available: left out
        },
        max_id=0xFFFF,
        variable=True,
    )
    assert groups == (
        [239, 1, 21, 4],
        [18, 0xFF22],
        [],
        [900, 2**40],
        [(256, b"WVW" + bytes(14))],
    )


@pytest.mark.parametrize(
    ("msg", "match"),
    [
        ({"engine.ignition.status": "on"}, "engine.ignition.status must be a boolean, not 'on'"),
        ({"battery.voltage": float("inf")}, "battery.voltage inf is not a finite number"),
        ({"x.acceleration": float("nan")}, "x.acceleration nan is not a finite number"),
        ({"vehicle.vin": 5}, "vehicle.vin must be a string, not 5"),
        ({"vehicle.vin": "Ä"}, "vehicle.vin 'Ä' is not ASCII text"),
        ({"ble.beacons.raw": "00" * 65536}, "ble.beacons.raw is 65536 bytes long, more than 65535"),
        ({"custom.param.900": 1.5}, "custom.param.900 must be an integer or a hex string, not 1.5"),
        ({"custom.param.70000": 1}, "custom.param.70000 is not a Teltonika parameter"),
        ({"custom.param.x": 1}, "custom.param.x is not a Teltonika parameter"),
        ({"custom.param.2": 1 << 64}, "custom.param.2 raw value 18446744073709551616 does not fit"),
    ],
)
def test_split_io_errors(msg: Message, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=f"message 3: {re.escape(match)}"):
        split_io(msg, max_id=0xFFFF, variable=True, index=3)


# --- AVL data ------------------------------------------------------------------------------


def test_record_running_into_number_of_data_2() -> None:
    with pytest.raises(MalformedPacketError) as info:
        parse_avl_data(b"\x08\x01" + RECORD_8, offset=100)
    assert info.value.reason == "record 0: runs past the data length (1 bytes over)"
    assert info.value.offset == 100 + 38


def test_nx_element_running_past_the_data() -> None:
    record = RECORD_8E[:-2] + b"\x00\x01" + b"\x01\x81\x00\x10" + b"\xaa"
    record = record[:26] + b"\x00\x01" + record[28:]  # N total 1
    with pytest.raises(MalformedPacketError, match=r"record 0: NX element 385 of 16 bytes runs"):
        parse_avl_data(b"\x8e\x01" + record + b"\x01")
    with pytest.raises(MalformedPacketError, match=r"record 0: NX element header is truncated"):
        parse_avl_data(b"\x8e\x01" + RECORD_8E[:-2] + b"\x00\x01\x01" + b"\x01")


def test_plan_caches_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(avl_build, "PLAN_CACHE_MAX", 1)
    monkeypatch.setattr(plans, "PLAN_CACHE_MAX", 1)
    monkeypatch.setattr(plans, "_plans", {})
    monkeypatch.setattr(avl_build, "_layouts", {})
    msgs: list[Message] = [{"timestamp": 1.0, "gsm.signal.level": 3}, {"timestamp": 2.0}]
    data = build_avl_data(0x08, msgs)
    assert parse_avl_data(data) == [
        {**msgs[0], **_HEADER_DEFAULTS, "timestamp": 1.0},
        {**msgs[1], **_HEADER_DEFAULTS, "timestamp": 2.0},
    ]
    assert len(plans._plans) == len(avl_build._layouts) == 1  # cleared before each new shape


_HEADER_DEFAULTS: Message = {
    "event.priority.enum": 0,
    "position.longitude": 0.0,
    "position.latitude": 0.0,
    "position.altitude": 0,
    "position.direction": 0,
    "position.satellites": 0,
    "position.speed": 0,
    "position.valid": False,
    "event.enum": 0,
}


def test_build_avl_data_errors() -> None:
    with pytest.raises(LocalProtocolError, match="codec 0x0C does not carry AVL records"):
        build_avl_data(0x0C, [{"timestamp": 0.0}])
    many: Message = {"timestamp": 0.0, **{f"custom.param.{1000 + i}": 1 for i in range(256)}}
    with pytest.raises(LocalProtocolError, match=r"message 0: 256 IO elements, more than .* 255"):
        build_avl_data(0x10, [many])
    assert len(build_avl_data(0x8E, [many])) > 256 * 3


# --- commands ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match", "at"),
    [
        ("0C0105", "command of 3 bytes is too short", 3),
        ("080105000000000001", "codec 0x08 is not a command codec", 0),
        ("0C010500000001414101", "command size 1 does not match the data length 10", 3),
        ("0C0105000000014102", "quantity 2 (2) differs from quantity 1 (1)", 8),
        ("0D010500000002414101", "Codec 13 size 2 leaves no timestamp", 3),
        ("0E0105000000080352093081452A5101", "Codec 14 IMEI '0352093081452A51' is not 16", 7),
    ],
)
def test_parse_command_errors(data: str, match: str, at: int) -> None:
    with pytest.raises(MalformedPacketError, match=re.escape(match)) as info:
        parse_command(bytes.fromhex(data), offset=1000)
    assert info.value.offset == 1000 + at


def test_build_command_errors() -> None:
    with pytest.raises(LocalProtocolError, match="command text 'Ω' is not Latin-1"):
        build_codec12("Ω")
    with pytest.raises(LocalProtocolError, match="Codec 13 timestamp -1 is not u32"):
        build_codec13("x", -1)
    with pytest.raises(LocalProtocolError, match="codec 0x08 is not a command codec"):
        build_command_data(0x08, 5, "x")
    for imei in (None, "12345678901234567", "35209308145225X"):
        with pytest.raises(LocalProtocolError, match="Codec 14 needs an IMEI of up to 16"):
            build_command_data(0x0E, 5, "x", imei=imei)


def test_client_rejects_device_frames() -> None:
    client = Session(Role.CLIENT, ident="1")
    client.receive_data(build_codec12("DI1:1", 0x06) + build_codec13("x", 1))
    events = list(client.events())
    assert [e.error.reason for e in events if isinstance(e, Rejected)] == [
        "Codec 12 type 0x06 is not a server command",
        "Codec 13 type 0x05 is not a server command",
    ]


# --- login, acks, datagrams ----------------------------------------------------------------


def test_login_and_ack_errors() -> None:
    for imei in ("", "35A", "٣"):
        with pytest.raises(LocalProtocolError, match="an IMEI is ASCII digits"):
            build_imei_message(imei)
    with pytest.raises(MalformedPacketError, match="IMEI length does not match the message"):
        parse_imei_message(b"\x00\x0f123")
    with pytest.raises(LocalProtocolError, match="record count -1 is not u32"):
        build_records_ack(-1)
    with pytest.raises(MalformedPacketError, match="a records ack is 4 bytes, not 3"):
        parse_records_ack(b"\x00\x00\x01")
    with pytest.raises(LocalProtocolError, match=r"a UDP ack counts 0\.\.255 records, not 256"):
        build_udp_ack(1, 1, 256)
    with pytest.raises(MalformedPacketError, match="a UDP ack is 7 bytes, not 6"):
        parse_udp_ack(bytes(6))
    with pytest.raises(MalformedPacketError, match="UDP ack length field 6 is not 5"):
        parse_udp_ack(bytes.fromhex("0006CAFE010101"))


def test_udp_datagram_errors() -> None:
    msgs: list[Message] = [{"timestamp": 0.0}]
    with pytest.raises(LocalProtocolError, match="UDP packet id is u16"):
        build_udp_datagram(0x08, msgs, imei="1", packet_id=1 << 16, avl_packet_id=0)
    big: Message = {"timestamp": 0.0, "ble.beacons.raw": "00" * 65500}
    with pytest.raises(LocalProtocolError, match=r"datagram of \d+ bytes exceeds u16"):
        build_udp_datagram(0x8E, [big], imei="1", packet_id=0, avl_packet_id=0)
    bad = bytes.fromhex("000ACAFE01050009") + b"1" + bytes(3)
    server = Session(transport="udp")
    server.receive_data(bad)
    [event] = list(server.events())
    assert isinstance(event, Rejected)
    assert event.error.reason == "IMEI length 9 runs past the datagram"
