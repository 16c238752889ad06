"""GT06 session, server role: answers and state, rejected packets, CRC policies, broken streams."""

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
from telebench.protocols import Role, State
from telebench.protocols.events import (
    Accept,
    CommandResponse,
    ConnectionClosed,
    Heartbeat,
    Identified,
    Records,
    Refuse,
    Rejected,
    SendCommand,
)
from telebench.protocols.gt06 import (
    Session,
    build_frame,
    build_login,
    build_reply,
    decode_payload,
    parse_login,
)
from tests.protocols.gt06_session_helpers import IMEI, LOCATION_22, LOGIN
from tests.protocols.gt06_session_helpers import corrupt_crc as _corrupt_crc
from tests.protocols.gt06_session_helpers import events as _events
from tests.protocols.gt06_session_helpers import unsupported as _unsupported

LOCATION_12 = bytes.fromhex(
    "78781F120B081D112E10CF027AC7EB0C46584900148F01CC00287D001FB8000380810D0A"
)
STATUS = bytes.fromhex("78780A134401040001000508450D0A")
COMMAND_REPLY = bytes.fromhex("78781815100001A9584459443D53756363657373210002001891770D0A")

# --- server role: answers and state -------------------------------------------------------


def test_login_accept_identifies_and_echoes_serial() -> None:
    hub = Session()
    assert hub.state is State.AWAITING_LOGIN
    assert _events(hub, LOGIN) == [Identified(ident=IMEI)]
    assert hub.send(Accept()) == bytes.fromhex("787805010001D9DC0D0A")
    assert (hub.state, hub.ident, hub.pending) == (State.IDENTIFIED, IMEI, 0)


def test_login_refuse_answers_nothing_and_closes() -> None:
    hub = Session()
    _events(hub, LOGIN)
    assert hub.send(Refuse()) == b""
    assert hub.state is State.CLOSED
    with pytest.raises(LocalProtocolError, match="cannot send in state CLOSED"):
        hub.send(SendCommand(text="DWXX#"))


def test_answers_go_to_the_oldest_event_first() -> None:
    hub = Session()
    events = _events(hub, LOGIN + LOCATION_12 + _unsupported() + STATUS + LOCATION_22)
    kinds = [type(e) for e in events]
    assert kinds == [Identified, Records, Rejected, Heartbeat, Records]
    assert hub.pending == 5
    assert hub.send(Accept()) == build_reply(0x01, 1)
    assert hub.send(Refuse()) == b""  # location refused: no ack, the device resends
    assert hub.send(Refuse()) == b""  # the rejected frame
    assert hub.send(Accept()) == bytes.fromhex("787805130005AFD50D0A")
    assert hub.send(Accept(count=1)) == build_reply(0x22, 8)
    with pytest.raises(LocalProtocolError, match="no received event awaits"):
        hub.send(Accept())


def test_login_ident_applies_before_the_answer() -> None:
    hub = Session()
    _login, location = _events(hub, LOGIN + LOCATION_12)
    assert isinstance(location, Records)
    assert location.messages[0]["ident"] == IMEI


def test_messages_without_login_carry_the_session_ident_or_none() -> None:
    [records] = _events(Session(ident="42"), LOCATION_22)
    assert isinstance(records, Records)
    assert records.messages[0]["ident"] == "42"
    [records] = _events(Session(), LOCATION_22)
    assert isinstance(records, Records)
    assert "ident" not in records.messages[0]
    [beat] = _events(Session(), STATUS)
    assert isinstance(beat, Heartbeat)
    assert beat.message is not None
    assert "ident" not in beat.message


def test_relogin_changes_the_ident() -> None:
    hub = Session()
    _events(hub, LOGIN)
    hub.send(Accept())
    other = build_login("353413532150362", 2)
    relogin, records = _events(hub, other + LOCATION_12)
    assert relogin == Identified(ident="353413532150362")
    assert isinstance(records, Records)
    assert records.messages[0]["ident"] == "353413532150362"
    assert hub.send(Accept()) == build_reply(0x01, 2)
    assert hub.ident == "353413532150362"


def test_accept_count_zero_sends_nothing_and_too_many_is_refused() -> None:
    hub = Session()
    _events(hub, LOCATION_22 + LOCATION_22)
    assert hub.send(Accept(count=0)) == b""
    with pytest.raises(LocalProtocolError, match="Accept\\(count=2\\) for a packet of 1"):
        hub.send(Accept(count=2))


def test_command_reply_is_not_pending() -> None:
    hub = Session(ident=IMEI)
    assert _events(hub, COMMAND_REPLY) == [
        CommandResponse(text="DYD=Success!", ident=IMEI, server_flag=0x0001A958)
    ]
    assert hub.pending == 0


def test_server_commands_count_serials_from_zero() -> None:
    hub = Session()
    first = hub.send(SendCommand(text="Relay,1#"))
    assert first == bytes.fromhex("787812800C0000000052656C61792C312300009DEE0D0A")
    second = hub.send(SendCommand(text="DYD,000000#", server_flag=0x0001A958))
    assert second[-6:-4] == b"\x00\x01"


def test_long_form_frames_are_read_and_answered_in_long_form() -> None:
    content = LOCATION_22[4:-6]
    frame = build_frame(0x22, content, 8, long=True)
    assert frame[:4] == b"\x79\x79\x00\x22"
    hub = Session()
    [records] = _events(hub, frame)
    [short] = _events(Session(), LOCATION_22)
    assert records == short
    reply = hub.send(Accept())
    assert reply == build_reply(0x22, 8, long=True)
    assert reply == build_frame(0x22, b"", 8, long=True)


def test_short_login_and_gt06n_login_with_type_and_zone() -> None:
    long_login = build_login(IMEI, 1, type_id=0x3606, zone_language=0x0320)
    assert long_login[2] == 0x11
    assert parse_login(long_login[4:-6]).type_id == 0x3606
    assert _events(Session(), long_login) == [Identified(ident=IMEI)]


# --- rejected packets and checksum policies -----------------------------------------------


def test_unsupported_protocol_is_rejected_and_the_stream_continues() -> None:
    hub = Session()
    records, rejected, after = _events(hub, LOCATION_12 + _unsupported() + LOCATION_22)
    assert isinstance(records, Records)
    assert isinstance(after, Records)
    assert isinstance(rejected, Rejected)
    assert rejected.code == "unsupported"
    assert isinstance(rejected.error, MalformedPacketError)
    assert rejected.error.reason == "unsupported protocol number 0x8a"
    assert rejected.error.offset == len(LOCATION_12) + 3
    assert rejected.raw == _unsupported()
    assert hub.send(Accept()) == build_reply(0x12, 3)
    with pytest.raises(LocalProtocolError, match="can only be refused"):
        hub.send(Accept())
    assert hub.send(Accept()) == build_reply(0x22, 8)  # answers stay in step


def test_malformed_content_is_rejected_with_stream_offsets() -> None:
    bad_date = bytearray(LOCATION_22[4:-6])
    bad_date[1] = 13  # month 13
    frame = build_frame(0x22, bytes(bad_date), 8)
    hub = Session()
    _beat, event = _events(hub, STATUS + frame)
    assert isinstance(event, Rejected)
    assert event.code == "malformed"
    assert isinstance(event.error, MalformedPacketError)
    assert event.error.reason == "date-time month 13 is not a month"
    assert event.error.offset == len(STATUS) + 4 + 1
    assert "[0d]" in event.error.excerpt
    assert hub.send(Accept()) == build_reply(0x13, 5)
    assert hub.send(Refuse()) == b""


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (bytes(8), None),
        (bytes.fromhex("01234567890123A5"), "terminal ID byte 0xa5 is not BCD"),
        (bytes(9), "login content has 9 bytes, expected 8 or 10 or 12"),
    ],
)
def test_login_content_checks(content: bytes, reason: str | None) -> None:
    [event] = _events(Session(), build_frame(0x01, content, 1))
    if reason is None:
        assert event == Identified(ident="000000000000000")
    else:
        assert isinstance(event, Rejected)
        assert event.error.reason == reason


def test_bad_crc_rejected_by_default() -> None:
    hub = Session()
    [event] = _events(hub, _corrupt_crc(LOCATION_12))
    assert isinstance(event, Rejected)
    assert isinstance(event.error, ChecksumError)
    assert event.error.offset == len(LOCATION_12) - 4
    assert (event.error.expected, event.error.received) == (0x8081, 0x7F81)
    assert hub.send(Refuse()) == b""


def test_bad_crc_flagged() -> None:
    hub = Session(on_bad_checksum="flag")
    [records, beat] = _events(hub, _corrupt_crc(LOCATION_12) + _corrupt_crc(STATUS))
    assert isinstance(records, Records)
    assert records.messages[0]["checksum.valid"] is False
    assert isinstance(beat, Heartbeat)
    assert beat.message is not None
    assert beat.message["checksum.valid"] is False
    assert hub.send(Accept()) == build_reply(0x12, 3)


def test_bad_crc_raises_and_breaks_the_session() -> None:
    hub = Session(on_bad_checksum="raise")
    with pytest.raises(ChecksumError, match="CRC 0x7f81 does not match 0x8081"):
        _events(hub, _corrupt_crc(LOCATION_12))
    assert hub.state is State.ERROR
    with pytest.raises(LocalProtocolError, match="ERROR"):
        hub.receive_data(LOGIN)


# --- broken streams -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (b"GET / HTTP/1.1", 0, "bad start byte 0x47"),
        (b"\x78\x79\x05", 1, "bad start byte 0x79 after 0x78"),
        (b"\x78\x78\x04\x01\x00\x01\x00\x00\x0d\x0a", 2, "packet length 4 is too small"),
        (LOGIN[:-2] + b"\r\r", 16, "bad stop bytes 0d 0d"),
        (LOGIN + b"\x00", len(LOGIN), "bad start byte 0x00"),
    ],
)
def test_framing_errors_name_the_offending_byte(data: bytes, offset: int, reason: str) -> None:
    hub = Session()
    hub.receive_data(data)
    with pytest.raises(FramingError) as info:
        list(hub.events())
    assert info.value.offset == offset
    assert info.value.reason.startswith(reason)
    assert hub.state is State.ERROR


def test_oversize_frame_refused_from_its_header() -> None:
    hub = Session(max_frame_size=64)
    hub.receive_data(b"\x79\x79\x01\x00")  # announces 262 bytes; only the header is here
    with pytest.raises(FrameTooLargeError, match="frame of 262 bytes exceeds the maximum of 64"):
        list(hub.events())
    ok = Session(max_frame_size=len(LOCATION_22))
    assert len(_events(ok, LOCATION_22)) == 1


def test_eof_inside_a_frame_and_clean_close() -> None:
    hub = Session()
    hub.receive_data(LOGIN[:7])
    hub.receive_data(b"")
    with pytest.raises(FramingError, match="stream ended inside a frame \\(7 bytes left over\\)"):
        list(hub.events())
    hub = Session()
    hub.receive_data(LOGIN)
    hub.receive_data(b"")
    assert [type(e) for e in hub.events()] == [Identified, ConnectionClosed]


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="tcp, not 'udp'"):
        Session(transport="udp")
    with pytest.raises(ConfigError, match="0x22 or 0x12"):
        Session(Role.CLIENT, location_protocol=0x10)
    with pytest.raises(ConfigError, match="tcp, not 'udp'"):
        decode_payload(LOGIN, ident=None, transport="udp", on_bad_checksum="raise")
