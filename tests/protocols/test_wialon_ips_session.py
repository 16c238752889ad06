"""Wialon IPS server sessions: login and data packets, their answers and answer codes."""

from __future__ import annotations

import pytest

from telebench.errors import ChecksumError, LocalProtocolError, MalformedPacketError
from telebench.protocols import State, decode
from telebench.protocols.events import Accept, Identified, Records, Refuse, Rejected, SendCommand
from telebench.protocols.wialon_ips import Session
from telebench.protocols.wialon_ips.packets import crc_text
from tests.protocols.wialon_ips_session_helpers import (
    D_BODY,
    IMEI,
    LOGIN_V1,
    LOGIN_V2,
    SD_V1,
    events,
    logged_in,
    one,
    v2,
)

# --- login ---------------------------------------------------------------------------------


def test_login_v11_and_v20_set_the_version() -> None:
    s = Session()
    assert one(s, LOGIN_V1) == Identified(
        ident="123456789012345", password="test", protocol_version="1.1"
    )
    assert s.version == "1.1"
    assert s.state is State.AWAITING_LOGIN
    assert s.send(Accept()) == b"#AL#1\r\n"
    assert (s.state, s.ident) == (State.IDENTIFIED, "123456789012345")
    s = Session()
    assert one(s, LOGIN_V2) == Identified(ident=IMEI, password=None, protocol_version="2.0")
    assert s.version == "2.0"


@pytest.mark.parametrize(("code", "reply"), [(None, b"#AL#0\r\n"), ("01", b"#AL#01\r\n")])
def test_refused_login_closes(code: str | None, reply: bytes) -> None:
    s = Session()
    events(s, LOGIN_V1)
    assert s.send(Refuse(code=code)) == reply
    assert s.state is State.CLOSED
    with pytest.raises(LocalProtocolError, match="cannot send in state CLOSED"):
        s.send(SendCommand(text="hi"))


def test_login_with_bad_crc_is_answered_10() -> None:
    s = Session()
    event = one(s, b"#L#2.0;868204002602414;NA;8E09\r\n")
    assert isinstance(event, Rejected)
    assert isinstance(event.error, ChecksumError)
    assert (event.error.expected, event.error.received) == (0x8E08, 0x8E09)
    assert event.error.offset == 26  # the CRC field
    assert event.code == "10"
    with pytest.raises(LocalProtocolError, match="a Rejected packet can only be refused"):
        s.send(Accept())
    assert s.version is None  # the rejected login did not set it


def test_login_with_bad_crc_refused_10() -> None:
    s = Session()
    events(s, b"#L#2.0;868204002602414;NA;8E09\r\n")
    assert s.send(Refuse()) == b"#AL#10\r\n"


@pytest.mark.parametrize(
    "line", [b"#L#\r\n", b"#L#a;b;c\r\n", b"#L#NA;x\r\n", b"#L#2.0;NA;x;1\r\n"]
)
def test_malformed_login_is_answered_0(line: bytes) -> None:
    s = Session()
    event = one(s, line)
    assert isinstance(event, Rejected)
    assert event.code == "0"
    assert s.send(Refuse()) == b"#AL#0\r\n"


def test_login_crc_forms_are_read_leniently() -> None:
    # unpadded, lower case and 0x-prefixed CRC texts (protocols.md §4.4)
    for crc in ("8e08", "0x8E08", "0X8e08"):
        line = f"#L#2.0;868204002602414;NA;{crc}\r\n".encode()
        assert isinstance(one(Session(), line), Identified), crc
    covered = b"2.0;1;NA;"  # find an ident whose CRC has a leading zero digit
    for n in range(10_000):
        covered = f"2.0;{n};NA;".encode()
        if crc_text(covered).startswith("0"):
            break
    short = crc_text(covered).lstrip("0") or "0"
    line = b"#L#" + covered + short.encode() + b"\r\n"
    assert isinstance(one(Session(), line), Identified)


def test_unreadable_crc_is_rejected_with_the_crc_code() -> None:
    s = logged_in()
    event = one(s, b"#SD#NA;NA;NA;NA;NA;NA;1;NA;NA;NA;XYZW\r\n")
    assert isinstance(event, Rejected)
    assert event.code == "13"
    assert "CRC field 'XYZW'" in str(event.error)
    assert event.error.offset == len(LOGIN_V2) + len(b"#SD#NA;NA;NA;NA;NA;NA;1;NA;NA;NA;")


# --- data ----------------------------------------------------------------------------------


def test_short_data_after_login_has_the_ident_and_is_acked() -> None:
    s = logged_in(LOGIN_V1)
    event = one(s, SD_V1)
    assert event == Records(
        messages=(
            {
                "ident": "123456789012345",
                "timestamp": 1367096161.0,
                "position.latitude": 55 + 44.6025 / 60,
                "position.longitude": 37 + 39.6834 / 60,
                "position.valid": True,
                "position.speed": 1,
                "position.direction": 2,
                "position.altitude": 3,
                "position.satellites": 4,
            },
        )
    )
    assert s.send(Accept()) == b"#ASD#1\r\n"


@pytest.mark.parametrize(
    ("refuse", "reply"), [(Refuse(), b"#AD#0\r\n"), (Refuse(code="15"), b"#AD#15\r\n")]
)
def test_refused_data(refuse: Refuse, reply: bytes) -> None:
    s = logged_in()
    assert isinstance(one(s, v2("D", D_BODY)), Records)
    assert s.send(refuse) == reply


def test_accept_count_zero_answers_0() -> None:
    s = logged_in()
    events(s, v2("D", D_BODY))
    assert s.send(Accept(count=0)) == b"#AD#0\r\n"


def test_extended_data_fields() -> None:
    s = logged_in()
    body = (
        "010126;101010.5;0030.0000;S;00015.0000;W;12.5;-1;-20;7;1.5;5;2;NA,3;KEY1;"
        "pwr_ext:2:13.8,pwr_int:1:4,ign:1:0,SOS:1:1,battery:2:87.5,odometer:2:12.5,"
        "ign2:3:on:off,ign:3:x"
    )
    [msg] = one(s, v2("D", body)).messages  # type: ignore[attr-defined]
    assert msg == {
        "ident": IMEI,
        "timestamp": 1767262210.5,
        "position.latitude": -0.5,
        "position.longitude": -0.25,
        "position.valid": True,
        "position.speed": 12.5,
        "position.direction": -1,
        "position.altitude": -20,
        "position.satellites": 7,
        "position.hdop": 1.5,
        "din": 5,
        "dout": 2,
        "ain.2": 3,
        "ibutton.code": "KEY1",
        "external.powersource.voltage": 13.8,
        "battery.voltage": 4,
        "engine.ignition.status": False,
        "alarm.event": True,
        "battery.level": 87.5,
        "vehicle.mileage": 12.5,
        "custom.ign2": "on:off",  # a string value may hold ':'
        "custom.ign": "x",  # a string does not suit the boolean registry parameter
    }


def test_boolean_param_out_of_range_stays_custom() -> None:
    [msg] = decode("wialon_ips", b"#D#NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;ign:1:2\r\n")
    assert msg == {"custom.ign": 2}


def test_na_everywhere_leaves_keys_out() -> None:
    line = b"#D#NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA\r\n"
    assert decode("wialon_ips", line, ident="7") == [{"ident": "7"}]
    assert decode("wialon_ips", b"#D#NA;NA;5544.6;N;NA;NA;NA;NA;NA;NA;NA;NA;NA;;NA;x:1:NA\r\n") == [
        {"position.latitude": 55 + 44.6 / 60}  # one coordinate: no position.valid
    ]


def test_data_before_login_is_decoded_without_ident() -> None:
    s = Session()
    [msg] = one(s, SD_V1).messages  # type: ignore[attr-defined]
    assert "ident" not in msg
    assert s.send(Accept()) == b"#ASD#1\r\n"
    s = Session(ident="42")
    [msg] = one(s, SD_V1).messages  # type: ignore[attr-defined]
    assert msg["ident"] == "42"


def test_v20_session_requires_the_crc_and_v11_refuses_it() -> None:
    s = logged_in()
    event = one(s, SD_V1)
    assert isinstance(event, Rejected)
    assert event.code == "13"  # the last field "4" is read as the CRC: it does not match
    s = logged_in(LOGIN_V1)
    event = one(s, v2("SD", "270413;205601;5544.6025;N;03739.6834;E;1;2;3;4"))
    assert isinstance(event, Rejected)
    assert (event.code, event.error.reason) == ("-1", "SD has 11 fields, expected 10")


# field, bad text, SD code, D code (protocols.md §4.3)
FIELD_CASES = [
    (0, "320413", "0", "0"),
    (1, "246001", "0", "0"),
    (1, "205601.x", "0", "0"),
    (2, "5544.6025x", "10", "10"),
    (2, "9100.0000", "10", "10"),
    (3, "Q", "10", "10"),
    (4, "03760.0000", "10", "10"),
    (5, "N", "10", "10"),
    (6, "fast", "11", "11"),
    (7, "inf", "11", "11"),
    (8, "1e999", "11", "11"),
    (9, "-4", "12", "12"),
    (10, "x", None, "12"),
    (11, "-1", None, "13"),
    (12, "1.5", None, "13"),
    (13, "1,y", None, "14"),
    (15, "a:1:1.5", None, "15"),
    (15, "a:4:1", None, "15"),
    (15, "nocolons", None, "15"),
    (15, "a:2:nan", None, "15"),
]
SD_FIELDS = ["270413", "205601", "5544.6025", "N", "03739.6834", "E", "1", "2", "3", "4"]
D_FIELDS = [*SD_FIELDS, "0.0", "0", "0", "14.77", "NA", "fuel:2:45.8"]


@pytest.mark.parametrize(("index", "bad", "sd_code", "d_code"), FIELD_CASES)
def test_field_errors_carry_the_spec_code_and_offset(
    index: int, bad: str, sd_code: str | None, d_code: str
) -> None:
    for kind, fields, code in (("SD", SD_FIELDS, sd_code), ("D", D_FIELDS, d_code)):
        if code is None:
            continue
        s = logged_in()
        body = ";".join([*fields[:index], bad, *fields[index + 1 :]])
        event = one(s, v2(kind, body))
        assert isinstance(event, Rejected), (kind, body)
        assert isinstance(event.error, MalformedPacketError)
        assert event.code == code
        start = len(LOGIN_V2) + len(kind) + 2 + len(";".join(fields[:index])) + (index > 0)
        assert event.error.offset == start
        assert f"{kind} field {index + 1} (" in event.error.reason
        assert f"at byte {start}" in str(event.error)
        assert s.send(Refuse()) == f"#A{kind}#{code}\r\n".encode()


def test_wrong_field_count_is_a_structure_error() -> None:
    s = logged_in()
    event = one(s, v2("D", "NA;NA"))
    assert isinstance(event, Rejected)
    assert event.code == "-1"
    assert s.send(Refuse()) == b"#AD#-1\r\n"


def test_error_offsets_count_bytes_of_cyrillic_text() -> None:
    body = "NA;NA;NA;NA;NA;NA;1;NA;NA;NA;NA;NA;NA;;NA;Батарея:3:100 %|NA;NA;NA;NA;NA;NA;x;NA;NA;NA"
    s = Session()
    event = one(s, f"#B#{body}\r\n".encode())
    assert isinstance(event, Rejected)
    assert event.code == "0"
    assert event.error.reason.startswith("record 2: SD field 7 (speed) 'x'")
    bad = body.index(";x;") + 1
    assert event.error.offset == 3 + len(body[:bad].encode())
    assert s.send(Refuse()) == b"#AB#0\r\n"


def test_cp1251_text_is_read() -> None:
    s = Session()
    event = one(s, "#M#груз доставлен\r\n".encode("cp1251"))
    assert event == Records(messages=({"driver.message": "груз доставлен"},))


def test_text_neither_utf8_nor_cp1251_is_rejected() -> None:
    s = Session()
    event = one(s, b"#M#ok\x98\r\n")
    assert isinstance(event, Rejected)
    assert event.error.offset == 5
    assert s.send(Refuse()) == b"#AM#0\r\n"
