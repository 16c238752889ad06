"""Wialon IPS server sessions: black box, ping, messages, CRC policies, framing errors, UDP."""

from __future__ import annotations

import pytest

from telebench.errors import (
    ChecksumError,
    FrameTooLargeError,
    FramingError,
    LocalProtocolError,
    MalformedPacketError,
)
from telebench.protocols import State, decode
from telebench.protocols.events import (
    Accept,
    CommandResponse,
    ConnectionClosed,
    Event,
    Heartbeat,
    Records,
    Refuse,
    Rejected,
    SendCommand,
)
from telebench.protocols.wialon_ips import Session, decode_payload
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
