"""Wialon IPS sessions: answers, answer codes, CRC policies, framing errors, both roles."""

from __future__ import annotations

import pytest

from telebench.errors import (
    ChecksumError,
    ConfigError,
    FrameTooLargeError,
    FramingError,
    LocalProtocolError,
    MalformedPacketError,
)
from telebench.protocols import Role, State, decode, new_session
from telebench.protocols.events import (
    Accept,
    CommandRequest,
    CommandResponse,
    ConnectionClosed,
    Event,
    Heartbeat,
    HeartbeatAck,
    Identified,
    Login,
    LoginAnswer,
    Records,
    RecordsAck,
    Refuse,
    Rejected,
    SendCommand,
    SendCommandResponse,
    SendHeartbeat,
    SendRecords,
)
from telebench.protocols.wialon_ips import Session, build_login, decode_payload
from telebench.protocols.wialon_ips.packets import crc_text

IMEI = "868204002602414"
LOGIN_V1 = b"#L#123456789012345;test\r\n"
LOGIN_V2 = b"#L#2.0;868204002602414;NA;8E08\r\n"
SD_V1 = b"#SD#270413;205601;5544.6025;N;03739.6834;E;1;2;3;4\r\n"
D_BODY = "270413;205601;5544.6025;N;03739.6834;E;1;2;3;4;0.0;0;0;14.77,0.02,3.6;NA;fuel:2:45.8"


def v2(kind: str, body: str, sep: str = ";") -> bytes:
    """A v2.0 line with a correct CRC."""
    covered = (body + sep).encode()
    return f"#{kind}#".encode() + covered + crc_text(covered).encode() + b"\r\n"


def events(session: Session, *chunks: bytes) -> list[Event]:
    out: list[Event] = []
    for chunk in chunks:
        session.receive_data(chunk)
        out.extend(session.events())
    return out


def logged_in(login: bytes = LOGIN_V2, **kw: object) -> Session:
    session = Session(**kw)  # type: ignore[arg-type]
    events(session, login)
    assert session.send(Accept()) == b"#AL#1\r\n"
    return session


def one(session: Session, data: bytes) -> Event:
    [event] = events(session, data)
    return event


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


# --- black box, ping, messages, unknown ----------------------------------------------------

BB = "NA;NA;NA;NA;NA;NA;1;NA;NA;NA|NA;NA;NA;NA;NA;NA;2;NA;NA;NA;NA;1;NA;NA;NA;NA"


def test_black_box_v20_and_its_answers() -> None:
    s = logged_in()
    event = one(s, v2("B", BB, "|"))
    assert event == Records(
        messages=(
            {"ident": IMEI, "position.speed": 1},
            {"ident": IMEI, "position.speed": 2, "din": 1},
        )
    )
    assert s.send(Accept()) == b"#AB#2\r\n"
    events(s, v2("B", BB, "|"), v2("B", BB, "|"))
    assert s.send(Accept(count=1)) == b"#AB#1\r\n"
    assert s.send(Refuse()) == b"#AB#0\r\n"


def test_black_box_crc_error_is_answered_empty() -> None:
    s = logged_in()
    line = v2("B", BB, "|").replace(b"|NA;NA;NA;NA;NA;NA;2", b"|NA;NA;NA;NA;NA;NA;3")
    event = one(s, line)
    assert isinstance(event, Rejected)
    assert isinstance(event.error, ChecksumError)
    assert s.send(Refuse()) == b"#AB#\r\n"


def test_empty_black_box_is_rejected() -> None:
    s = logged_in(LOGIN_V1)
    assert isinstance(one(s, b"#B#\r\n"), Rejected)
    assert s.send(Refuse()) == b"#AB#0\r\n"


def test_ping() -> None:
    s = logged_in()
    assert one(s, b"#P#\r\n") == Heartbeat()
    assert s.send(Accept()) == b"#AP#\r\n"
    events(s, b"#P#\r\n")
    assert s.send(Refuse()) == b""  # the spec has no negative ping answer


def test_driver_message_v20() -> None:
    s = logged_in()
    event = one(s, v2("M", "груз; доставлен"))
    assert event == Records(messages=({"ident": IMEI, "driver.message": "груз; доставлен"},))
    assert s.send(Accept()) == b"#AM#1\r\n"
    events(s, v2("M", "x"))
    assert s.send(Refuse()) == b"#AM#0\r\n"
    event = one(s, b"#M#x;0000\r\n")
    assert isinstance(event, Rejected)
    assert s.send(Refuse()) == b"#AM#01\r\n"


def test_device_answer_to_a_server_message() -> None:
    s = logged_in()
    assert s.send(SendCommand(text="Привет")) == v2("M", "Привет")
    assert one(s, b"#AM#1\r\n") == CommandResponse(text="1", ident=IMEI)
    assert s.pending == 0  # a command response waits for no answer
    v1 = logged_in(LOGIN_V1)
    assert v1.send(SendCommand(text="a;b")) == b"#M#a;b\r\n"


def test_unknown_packet_type_is_rejected_and_answered_with_nothing() -> None:
    s = logged_in()
    event = one(s, b"#QI#x\r\n")
    assert isinstance(event, Rejected)
    assert "unknown packet type 'QI'" in str(event.error)
    assert event.error.offset == len(LOGIN_V2) + 1
    assert s.send(Refuse()) == b""
    assert isinstance(one(s, b"#nohash\r\n"), Rejected)
    assert s.send(Refuse()) == b""
    assert one(s, b"#P#\r\n") == Heartbeat()  # the stream is still in sync


def test_answers_go_to_the_oldest_event_first() -> None:
    s = Session()
    evs = events(s, LOGIN_V1 + SD_V1 + b"#P#\r\n#QI#\r\n" + b"#D#" + D_BODY.encode() + b"\r\n")
    assert [type(e).__name__ for e in evs] == [
        "Identified",
        "Records",
        "Heartbeat",
        "Rejected",
        "Records",
    ]
    assert s.pending == 5
    replies = [s.send(Accept()), s.send(Accept()), s.send(Accept()), s.send(Refuse())]
    assert replies == [b"#AL#1\r\n", b"#ASD#1\r\n", b"#AP#\r\n", b""]
    assert s.send(Accept()) == b"#AD#1\r\n"
    with pytest.raises(LocalProtocolError, match="no received event awaits an answer"):
        s.send(Accept())


# --- checksum policies ---------------------------------------------------------------------

BAD_SD = b"#SD#300924;154245;5554.350052;N;3644.670410;E;2.92;NA;NA;NA;7A02\r\n"


def test_bad_crc_reject() -> None:
    s = Session()
    event = one(s, BAD_SD)
    assert isinstance(event, Rejected)
    assert isinstance(event.error, ChecksumError)
    assert (event.error.expected, event.error.received, event.code) == (0x7A01, 0x7A02, "13")
    assert event.raw == BAD_SD
    assert s.send(Refuse()) == b"#ASD#13\r\n"


def test_bad_crc_flag() -> None:
    s = Session(on_bad_checksum="flag")
    [msg] = one(s, BAD_SD).messages  # type: ignore[attr-defined]
    assert msg["checksum.valid"] is False
    assert msg["position.speed"] == 2.92
    assert decode("wialon_ips", BAD_SD, on_bad_checksum="flag")[0]["checksum.valid"] is False


def test_bad_crc_raise() -> None:
    s = Session(on_bad_checksum="raise")
    s.receive_data(BAD_SD)
    with pytest.raises(ChecksumError, match=r"SD CRC 7A02 does not match 7A01 .* at byte 60"):
        list(s.events())
    assert s.state is State.ERROR
    with pytest.raises(ChecksumError):
        decode("wialon_ips", BAD_SD)


def test_decode_payload_raises_field_errors() -> None:
    with pytest.raises(MalformedPacketError, match=r"SD field 10 \(sats\)"):
        decode_payload(
            SD_V1.replace(b";4\r", b";x\r"), ident=None, transport="tcp", on_bad_checksum="raise"
        )


# --- framing -------------------------------------------------------------------------------


def test_garbage_at_a_frame_start_is_a_framing_error_with_offset() -> None:
    s = Session()
    s.receive_data(b"#P#\r\nxyz")
    with pytest.raises(FramingError, match=r"line starts with b'x', not '#' at byte 5"):
        list(s.events())
    assert s.state is State.ERROR
    with pytest.raises(LocalProtocolError):
        s.receive_data(b"#P#\r\n")
    s = Session()
    s.receive_data(b"#P#\r\n#P#\r\nzz\r\n#P#\r\n")
    got = []
    with pytest.raises(FramingError, match="at byte 10"):
        got.extend(s.events())
    assert got == [Heartbeat(), Heartbeat()]


def test_oversize_line_is_refused_before_it_is_buffered_whole() -> None:
    s = Session(max_frame_size=64)
    s.receive_data(b"#D#" + b"1" * 60)
    assert list(s.events()) == []  # 63 bytes: may still end in time
    s.receive_data(b"1")
    with pytest.raises(FrameTooLargeError, match="no CR LF within the first 64 bytes"):
        list(s.events())
    s = Session(max_frame_size=64)  # a line of exactly the maximum is fine
    line = b"#M#" + b"x" * 59 + b"\r\n"
    assert len(line) == 64
    assert isinstance(one(s, line), Records)
    s = Session(max_frame_size=64)  # a long line arriving whole is refused too
    s.receive_data(b"#M#" + b"x" * 60 + b"\r\n")
    with pytest.raises(FrameTooLargeError):
        list(s.events())


def test_eof_inside_a_frame() -> None:
    s = Session()
    s.receive_data(b"#P#\r\n#SD#1")
    s.receive_data(b"")
    got = []
    with pytest.raises(FramingError, match=r"inside a frame \(5 bytes left over\) at byte 5"):
        got.extend(s.events())
    assert got == [Heartbeat()]


def test_eof_at_a_line_boundary_closes() -> None:
    s = Session()
    assert events(s, b"#P#\r\n", b"") == [Heartbeat(), ConnectionClosed()]
    assert s.state is State.CLOSED


def test_bytewise_long_line_is_linear() -> None:
    s = Session()
    line = v2("D", D_BODY)
    got: list[Event] = []
    for byte in line:
        s.receive_data(bytes([byte]))
        got.extend(s.events())
    assert len(got) == 1
    assert isinstance(got[0], Records)


# --- UDP -----------------------------------------------------------------------------------


def test_udp_datagrams() -> None:
    s = Session(transport="udp")
    assert s.state is State.IDENTIFIED
    d = b"2.0;99" + v2("D", D_BODY)
    assert one(s, d).messages[0]["ident"] == "99"  # type: ignore[attr-defined]
    assert s.send(Accept()) == b"#AD#1\r\n"
    assert one(s, b"77" + SD_V1[:-2]).messages[0]["ident"] == "77"  # type: ignore[attr-defined]
    assert s.send(Accept()) == b"#ASD#1\r\n"
    assert one(s, b"#P#") == Heartbeat()


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"no hash here", "holds no '#TYPE#' packet"),
        (b"9.9;1#P#", "prefix version '9.9'"),
        (b"1#P#\r\n#P#\r\n", "more than one line"),
        (b"2.0;1#SD#NA;NA;NA;NA;NA;NA;1;NA;NA;NA;0000", "SD CRC 0000 does not match"),
        (b"1.1;1#X#", "unknown packet type 'X'"),
    ],
)
def test_bad_datagrams_are_rejected_not_raised(datagram: bytes, reason: str) -> None:
    s = Session(transport="udp")
    event = one(s, datagram)
    assert isinstance(event, Rejected)
    assert reason in str(event.error)
    assert isinstance(one(s, b"1#P#"), Heartbeat)  # the next datagram is independent
    assert events(s, b"") == [ConnectionClosed()]


def test_udp_datagram_too_large() -> None:
    s = Session(transport="udp", max_frame_size=10)
    event = one(s, b"1#M#" + b"x" * 20)
    assert isinstance(event, Rejected)
    assert isinstance(event.error, FrameTooLargeError)


def test_udp_crc_covers_only_the_message_part() -> None:
    d = (
        b"2.0;99999999#SD#NA;NA;NA;NA;NA;NA;5;NA;NA;NA;"
        + crc_text(b"NA;NA;NA;NA;NA;NA;5;NA;NA;NA;").encode()
    )
    assert decode("wialon_ips", d, transport="udp") == [{"ident": "99999999", "position.speed": 5}]


# --- client role ---------------------------------------------------------------------------


def test_client_login_lines() -> None:
    assert Session(Role.CLIENT).send(Login(ident=IMEI)) == LOGIN_V2
    assert (
        Session(Role.CLIENT, version="1.1").send(Login(ident="123456789012345", password="test"))
        == LOGIN_V1
    )
    device = Session(Role.CLIENT, version="1.1", password="pw")
    assert device.send(Login(ident="1")) == b"#L#1;pw\r\n"
    assert device.send(Login(ident="1", password="other")) == b"#L#1;other\r\n"


@pytest.mark.parametrize(
    ("reply", "event", "state"),
    [
        (b"#AL#1\r\n", LoginAnswer(accepted=True, code="1"), State.IDENTIFIED),
        (b"#AL#0\r\n", LoginAnswer(accepted=False, code="0"), State.CLOSED),
        (b"#AL#01\r\n", LoginAnswer(accepted=False, code="01"), State.CLOSED),
        (b"#AL#10\r\n", LoginAnswer(accepted=False, code="10"), State.CLOSED),
    ],
)
def test_client_reads_login_answers(reply: bytes, event: LoginAnswer, state: State) -> None:
    device = Session(Role.CLIENT)
    device.send(Login(ident=IMEI))
    assert one(device, reply) == event
    assert device.state is state
    assert device.ident == (IMEI if event.accepted else None)


@pytest.mark.parametrize(
    ("reply", "event"),
    [
        (b"#ASD#1\r\n", RecordsAck(count=1, code="1")),
        (b"#ASD#13\r\n", RecordsAck(count=0, code="13")),
        (b"#AD#1\r\n", RecordsAck(count=1, code="1")),
        (b"#AD#-1\r\n", RecordsAck(count=0, code="-1")),
        (b"#AD#16\r\n", RecordsAck(count=0, code="16")),
        (b"#AB#17\r\n", RecordsAck(count=17, code="17")),
        (b"#AB#\r\n", RecordsAck(count=0, code="")),
        (b"#AM#1\r\n", RecordsAck(count=1, code="1")),
        (b"#AM#01\r\n", RecordsAck(count=0, code="01")),
        (b"#AP#\r\n", HeartbeatAck()),
        (b"#M#hello;" + crc_text(b"hello;").encode() + b"\r\n", CommandRequest(text="hello")),
    ],
)
def test_client_reads_every_server_reply(reply: bytes, event: Event) -> None:
    assert one(Session(Role.CLIENT), reply) == event


def test_client_reads_v11_command_and_bad_crc() -> None:
    assert one(Session(Role.CLIENT, version="1.1"), b"#M#a;b\r\n") == CommandRequest(text="a;b")
    event = one(Session(Role.CLIENT), b"#M#hello;0000\r\n")
    assert isinstance(event, Rejected)
    flagged = one(Session(Role.CLIENT, on_bad_checksum="flag"), b"#M#hello;0000\r\n")
    assert flagged == CommandRequest(text="hello", extra={"checksum.valid": "false"})
    assert isinstance(one(Session(Role.CLIENT), b"#US#x\r\n"), Rejected)


def test_client_sends() -> None:
    device = Session(Role.CLIENT, version="1.1")
    msg = {"timestamp": 1367096161.0, "position.speed": 1}
    assert device.send(SendRecords(messages=(msg,))) == (
        b"#D#270413;205601;NA;NA;NA;NA;1;NA;NA;NA;NA;NA;NA;NA;NA;NA\r\n"
    )
    assert device.send(SendRecords(messages=(msg, msg))) == (
        b"#B#270413;205601;NA;NA;NA;NA;1;NA;NA;NA;NA;NA;NA;NA;NA;NA|"
        b"270413;205601;NA;NA;NA;NA;1;NA;NA;NA;NA;NA;NA;NA;NA;NA\r\n"
    )
    short = Session(Role.CLIENT, version="1.1", short=True)
    assert (
        short.send(SendRecords(messages=(msg,))) == b"#SD#270413;205601;NA;NA;NA;NA;1;NA;NA;NA\r\n"
    )
    assert short.send(SendRecords(messages=(msg, msg))).startswith(b"#B#270413;205601;NA;NA;")
    assert device.send(SendHeartbeat()) == b"#P#\r\n"
    assert device.send(SendCommandResponse(text="1")) == b"#AM#1\r\n"
    assert device.send(SendRecords(messages=({"driver.message": "hi"},))) == b"#M#hi\r\n"
    line = Session(Role.CLIENT).send(SendRecords(messages=(msg, msg)))
    covered, crc = line[3:-2].rsplit(b"|", 1)
    assert crc.decode() == crc_text(covered + b"|")  # the CRC covers up to the last "|"
    assert covered.count(b"|") == 1


def test_client_udp_datagrams() -> None:
    device = Session(Role.CLIENT, transport="udp", ident="99", version="1.1")
    assert device.send(SendHeartbeat()) == b"99#P#\r\n"
    v20 = Session(Role.CLIENT, transport="udp", ident="99")
    datagram = v20.send(SendRecords(messages=({"position.speed": 5},)))
    assert datagram.startswith(b"2.0;99#D#")
    assert decode("wialon_ips", datagram, transport="udp") == [{"ident": "99", "position.speed": 5}]
    with pytest.raises(LocalProtocolError, match="no login"):
        v20.send(Login(ident="99"))
    with pytest.raises(LocalProtocolError, match="needs ident="):
        Session(Role.CLIENT, transport="udp").send(SendHeartbeat())


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ({"timestamp": 1.0}, "not a time in 2000-2099"),
        ({"position.latitude": 91.0}, "latitude 91.0 is out of range"),
        ({"position.speed": float("nan")}, "not finite"),
        ({"position.satellites": 1.5}, "not an unsigned integer"),
        ({"gsm.signal.level": 3}, "gsm.signal.level has no Wialon IPS field"),
        ({"custom.a,b": 1}, "contains ','"),
        ({"custom.hw": "a;b"}, "contains ';'"),
        ({"custom.hw": "NA"}, "cannot be the text 'NA'"),
        ({"custom.ign": True}, "would read back as engine.ignition.status"),
        ({"engine.ignition.status": 1}, "not of the registry type boolean"),
        ({"ain.0": 1.0}, "numbered 1..64"),
        ({"ain.01": 1.0}, "is not ain.<n>"),
        ({"ibutton.code": 5}, "is not text"),
    ],
)
def test_client_refuses_what_the_protocol_cannot_carry(
    message: dict[str, object], match: str
) -> None:
    device = Session(Role.CLIENT)
    with pytest.raises(LocalProtocolError, match=match):
        device.send(SendRecords(messages=(message,)))  # type: ignore[arg-type]


def test_client_refusals() -> None:
    device = Session(Role.CLIENT, short=True)
    with pytest.raises(LocalProtocolError, match="an SD record cannot carry din"):
        device.send(SendRecords(messages=({"din": 1},)))
    with pytest.raises(LocalProtocolError, match="at least one message"):
        device.send(SendRecords(messages=()))
    with pytest.raises(LocalProtocolError, match="carries no parameters"):
        device.send(SendHeartbeat(message={"x": 1}))
    with pytest.raises(LocalProtocolError, match="line break"):
        device.send(SendCommandResponse(text="a\r\n"))
    with pytest.raises(LocalProtocolError, match="is sent by the server role"):
        device.send(SendCommand(text="x"))
    with pytest.raises(LocalProtocolError, match="is sent by the client role"):
        Session().send(Login(ident="1"))
    with pytest.raises(LocalProtocolError, match="line break"):
        Session().send(SendCommand(text="a\nb"))
    with pytest.raises(ConfigError, match=r"not '1\.1' or '2\.0'"):
        Session(Role.CLIENT, version="3.0")
    with pytest.raises(ConfigError, match="tcp or udp"):
        Session(transport="http")


# --- pairwise: device <-> hub ----------------------------------------------------------------


def exchange(device: Session, hub: Session, outgoing: Event) -> tuple[list[Event], list[Event]]:
    """Device sends ``outgoing``; the hub accepts everything; the device reads the replies."""
    hub_events = events(hub, device.send(outgoing))
    replies = b"".join(
        hub.send(Accept()) for e in hub_events if isinstance(e, Identified | Records | Heartbeat)
    )
    return hub_events, events(device, replies)


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_device_and_hub_pair(version: str) -> None:
    device, hub = Session(Role.CLIENT, version=version, password="pw"), new_session("wialon_ips")
    got, answers = exchange(device, hub, Login(ident=IMEI))
    assert got == [Identified(ident=IMEI, password="pw", protocol_version=version)]
    assert answers == [LoginAnswer(accepted=True, code="1")]
    msgs = (
        {"timestamp": 1767225600.0, "position.latitude": 54.6872, "position.longitude": 25.2797,
         "position.speed": 40.5, "custom.rpm": 1800, "battery.voltage": 4.1},
        {"timestamp": 1767225610.0, "din": 3, "custom.hw": "V4.5", "alarm.event": False},
    )  # fmt: skip
    got, answers = exchange(device, hub, SendRecords(messages=msgs))
    expected = [{**msgs[0], "position.valid": True, "ident": IMEI}, {**msgs[1], "ident": IMEI}]
    assert got == [Records(messages=tuple(expected))]
    assert answers == [RecordsAck(count=2, code="2")]
    for i, msg in enumerate(msgs):
        got, answers = exchange(device, hub, SendRecords(messages=(msg,)))
        assert got == [Records(messages=(expected[i],))]
        assert answers == [RecordsAck(count=1, code="1")]
    got, answers = exchange(device, hub, SendHeartbeat())
    assert (got, answers) == ([Heartbeat()], [HeartbeatAck()])
    got, answers = exchange(device, hub, SendRecords(messages=({"driver.message": "на месте"},)))
    assert got == [Records(messages=({"ident": IMEI, "driver.message": "на месте"},))]
    assert answers == [RecordsAck(count=1, code="1")]
    assert events(device, hub.send(SendCommand(text="вернись; срочно"))) == [
        CommandRequest(text="вернись; срочно", ident=IMEI)
    ]
    assert events(hub, device.send(SendCommandResponse(text="1"))) == [
        CommandResponse(text="1", ident=IMEI)
    ]


def test_refused_records_reach_the_device() -> None:
    device, hub = Session(Role.CLIENT), Session()
    events(hub, device.send(Login(ident=IMEI)))
    events(device, hub.send(Accept()))
    events(hub, device.send(SendRecords(messages=({"position.speed": 1},))))
    assert events(device, hub.send(Refuse(code="11"))) == [RecordsAck(count=0, code="11")]


def test_login_built_by_the_packets_module_is_the_sessions() -> None:
    assert build_login(IMEI, None, version="2.0") == Session(Role.CLIENT).send(Login(ident=IMEI))


def test_scaled_registry_params_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry source with a divisor (none today) is read as raw / divisor and written
    as round(value * divisor), type 1."""
    from telebench.protocols.wialon_ips import paramfield

    monkeypatch.setitem(paramfield.WIRE_PARAMS, "mv", ("battery.voltage", "number", 1000))
    monkeypatch.setitem(paramfield.KEY_PARAMS, "battery.voltage", ("mv", "number", 1000))
    monkeypatch.setattr(paramfield, "_PLANS", {})
    monkeypatch.setattr(paramfield, "_ITEMS", {})
    device = Session(Role.CLIENT, version="1.1")
    for value, text in ((4.096, b"mv:1:4096"), (4, b"mv:1:4000")):
        line = device.send(SendRecords(messages=({"battery.voltage": value},)))
        assert line.endswith(text + b"\r\n")
        [msg] = decode("wialon_ips", line)
        assert msg == {"battery.voltage": value}
        assert isinstance(msg["battery.voltage"], float)
    [msg] = decode("wialon_ips", b"#D#NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;mv:2:4096.5\r\n")
    assert msg == {"battery.voltage": 4.0965}
