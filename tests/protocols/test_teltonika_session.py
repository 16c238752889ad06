"""Teltonika session, server role: answers, malformed packets, framing, deferred decoding, UDP."""

from __future__ import annotations

import pytest

from telebench.errors import (
    ChecksumError,
    FrameTooLargeError,
    FramingError,
    LocalProtocolError,
    MalformedPacketError,
)
from telebench.protocols import Role, State, decode_records
from telebench.protocols.events import (
    Accept,
    CommandResponse,
    ConnectionClosed,
    Event,
    Heartbeat,
    Identified,
    Login,
    RawRecords,
    Records,
    RecordsAck,
    Refuse,
    Rejected,
    SendCommand,
    SendCommandResponse,
    SendHeartbeat,
    SendRecords,
)
from telebench.protocols.teltonika import Session
from telebench.protocols.teltonika.commands import build_codec12, build_codec13, build_codec14
from telebench.protocols.teltonika.framing import build_tcp_frame
from tests.protocols.teltonika_session_helpers import (
    BAD_CRC,
    DECODED,
    IMEI,
    LOGIN,
    MSG,
    PACKET_8E,
    datagram,
    events_of,
)

# The one Codec 8 record of the wiki's 2nd example (37 bytes): N total 3 at index 25, N1 2
# at 26, N2 1, N4 0, N8 0.
RECORD_8 = bytes.fromhex(
    "0000016B40D9AD80010000000000000000000000000000000103021503010101425E100000"
)


def packet_8(data_after_codec: bytes) -> bytes:
    """A TCP packet with a valid CRC around Codec 8 data (for malformed-field tests)."""
    return build_tcp_frame(b"\x08" + data_after_codec)


# --- server role: login, records, answers ---------------------------------------------------


def test_login_then_records_answered_in_order() -> None:
    server = Session()
    assert server.state is State.AWAITING_LOGIN
    events = events_of(server, LOGIN + PACKET_8E + b"\xff" + PACKET_8E)
    assert [type(e) for e in events] == [Identified, Records, Heartbeat, Records]
    assert server.pending == 4
    assert events[1] == Records(messages=(DECODED, DECODED))
    assert server.send(Accept()) == b"\x01"
    assert (server.state, server.ident) == (State.IDENTIFIED, IMEI)
    assert server.send(Accept(count=1)) == b"\x00\x00\x00\x01"
    assert server.send(Accept()) == b""  # the ping has no reply
    assert server.send(Refuse()) == b"\x00\x00\x00\x00"
    with pytest.raises(LocalProtocolError, match="no received event awaits"):
        server.send(Accept())


def test_records_before_login_use_the_ident_option() -> None:
    [event] = events_of(Session(ident="123"), PACKET_8E)
    assert isinstance(event, Records)
    assert event.messages[0]["ident"] == "123"
    [event] = events_of(Session(), PACKET_8E)
    assert isinstance(event, Records)
    assert "ident" not in event.messages[0]


def test_accept_count_must_not_exceed_records() -> None:
    server = Session(ident=IMEI)
    events_of(server, PACKET_8E)
    with pytest.raises(LocalProtocolError, match=r"Accept\(count=3\) for 2 records"):
        server.send(Accept(count=3))


def test_refused_login_closes() -> None:
    server = Session()
    events_of(server, LOGIN)
    assert server.send(Refuse()) == b"\x00"
    assert server.state is State.CLOSED


def test_login_with_non_digits_is_rejected_and_refused_with_00() -> None:
    server = Session()
    [event] = events_of(server, b"\x00\x0335A")
    assert isinstance(event, Rejected)
    assert event.error.reason == "IMEI is not ASCII digits"
    assert event.error.offset == 4
    with pytest.raises(LocalProtocolError, match="can only be refused"):
        server.send(Accept())
    server.receive_data(b"\x00\x0335A")
    assert isinstance(next(server.events()), Rejected)
    assert server.send(Refuse()) == b"\x00"
    assert server.state is State.CLOSED


def test_command_responses_need_no_answer() -> None:
    server = Session(ident=IMEI)
    events = events_of(
        server,
        build_codec12("DI1:1", 0x06),
        build_codec13("hello", 1_700_000_000),
        build_codec14("Ver:1", IMEI, 0x06),
        build_codec14("", IMEI, 0x11),
    )
    assert events == [
        CommandResponse(text="DI1:1"),
        CommandResponse(text="hello", timestamp=1_700_000_000.0),
        CommandResponse(text="Ver:1", ident=IMEI),
        CommandResponse(text="", ident=IMEI, accepted=False),
    ]
    assert server.pending == 0


def test_server_commands_codec_12_and_14() -> None:
    server = Session(ident=IMEI)
    assert server.send(SendCommand(text="getinfo")) == build_codec12("getinfo")
    assert server.send(SendCommand(text="getver", ident=IMEI)) == build_codec14("getver", IMEI)
    with pytest.raises(LocalProtocolError, match="sent by the client role"):
        server.send(SendRecords(messages=(MSG,)))


def test_command_frame_from_device_in_the_wrong_direction_is_rejected_silently() -> None:
    server = Session(ident=IMEI)
    [event] = events_of(server, build_codec12("getinfo"))
    assert isinstance(event, Rejected)
    assert event.error.reason == "Codec 12 type 0x05 is not a device response"
    assert event.error.offset == 10
    assert server.send(Refuse()) == b""


# --- server role: malformed packets, framing, sizes --------------------------------------------


# Stream offsets: 17-byte login, 8-byte packet header, so data[i] is at 25 + i; with the
# codec id and number of data 1 before it, the record starts at 27.
@pytest.mark.parametrize(
    ("data", "reason", "at"),
    [
        (
            b"\x01" + RECORD_8 + b"\x02",
            "number of data 2 (2) differs from number of data 1 (1)",
            64,
        ),
        (
            b"\x01" + RECORD_8[:25] + b"\x02" + RECORD_8[26:] + b"\x01",
            "record 0: N total IO count 2 does not match 3 elements read",
            27 + 25,
        ),
        (
            b"\x01" + RECORD_8[:26] + b"\x09\x15\x03\x01",
            "record 0: N1 IO group of 9 elements runs past the data",
            27 + 26,
        ),
        (
            b"\x02" + RECORD_8 + RECORD_8[:20] + b"\x02",
            "record 1: header is truncated",
            27 + 37,
        ),
        (b"\x01" + RECORD_8 + b"\x00\x01", "data length leaves 1 bytes after 1 records", 64),
        (b"\x00\x00", "number of data 1 is 0", 26),
        (b"", "AVL data of 1 bytes is too short", 26),
    ],
)
def test_malformed_packets_are_rejected_with_field_and_offset(
    data: bytes, reason: str, at: int
) -> None:
    server = Session()
    events = events_of(server, LOGIN + packet_8(data))
    assert isinstance(events[1], Rejected)
    error = events[1].error
    assert isinstance(error, MalformedPacketError)
    assert error.reason.startswith(reason)
    assert error.offset == at
    assert server.send(Accept()) == b"\x01"
    assert server.send(Refuse()) == b"\x00\x00\x00\x00"


def test_unknown_codec_is_rejected() -> None:
    server = Session(ident=IMEI)
    [event] = events_of(server, build_tcp_frame(b"\x99\x01\x01"))
    assert isinstance(event, Rejected)
    assert event.error.reason == "unknown codec id 0x99"
    assert server.send(Refuse()) == b"\x00\x00\x00\x00"


def test_oversize_packet_is_refused_before_it_is_buffered() -> None:
    server = Session(max_frame_size=100)
    server.receive_data(b"\x00\x00\x00\x00\x00\x00\x00\x64")  # announces 100 + 12 bytes
    with pytest.raises(FrameTooLargeError, match="frame of 112 bytes exceeds the maximum of 100"):
        list(server.events())
    assert server.state is State.ERROR
    with pytest.raises(LocalProtocolError, match="ERROR"):
        server.receive_data(b"\x00")


def test_huge_length_with_default_maximum() -> None:
    with pytest.raises(FrameTooLargeError):
        events_of(Session(), b"\x00\x00\x00\x00\xff\xff\xff\xff")


def test_garbage_is_a_framing_error() -> None:
    with pytest.raises(FramingError, match="IMEI length 18245 is more than 32"):
        events_of(Session(), b"GET / HTTP/1.1\r\n")
    with pytest.raises(FramingError, match="bad preamble") as info:
        events_of(Session(), LOGIN + b"\x00\x00\x00\x07")
    assert info.value.offset == 20


def test_eof_inside_a_frame() -> None:
    server = Session()
    server.receive_data(PACKET_8E[:-1])
    assert list(server.events()) == []
    server.receive_data(b"")
    with pytest.raises(FramingError, match="stream ended inside a frame"):
        list(server.events())


def test_eof_at_a_frame_boundary() -> None:
    server = Session()
    assert [type(e) for e in events_of(server, LOGIN, b"")] == [Identified, ConnectionClosed]
    assert server.state is State.CLOSED


# --- deferred decoding (the hub's decoder processes) ----------------------------------------


def test_deferred_records_are_left_undecoded_and_answered_like_records() -> None:
    server = Session(defer_records=True)
    events = events_of(server, LOGIN + PACKET_8E + b"\xff" + PACKET_8E)
    assert [type(e) for e in events] == [Identified, RawRecords, Heartbeat, RawRecords]
    raw = events[1]
    assert isinstance(raw, RawRecords)
    assert (raw.protocol, raw.count, raw.ident) == ("teltonika", 2, IMEI)
    assert raw.data == PACKET_8E[8:-4]
    second = events[3]
    assert isinstance(second, RawRecords)
    assert (raw.offset, second.offset) == (len(LOGIN) + 8, len(LOGIN) + len(PACKET_8E) + 9)
    assert decode_records(raw) == [DECODED, DECODED]
    assert server.send(Accept()) == b"\x01"
    assert server.send(Accept(count=1)) == b"\x00\x00\x00\x01"
    assert server.send(Accept()) == b""
    assert server.send(Refuse()) == b"\x00\x00\x00\x00"
    other = Session(ident=IMEI, defer_records=True)
    events_of(other, PACKET_8E)
    with pytest.raises(LocalProtocolError, match=r"Accept\(count=3\) for 2 records"):
        other.send(Accept(count=3))


def test_deferred_decoding_errors_name_the_stream_offset() -> None:
    server = Session(ident=IMEI, defer_records=True)
    assert isinstance(events_of(server, PACKET_8E)[0], RawRecords)
    [raw] = events_of(server, packet_8(b"\x01\xff\x01"))  # counts agree, the record is 1 byte
    assert isinstance(raw, RawRecords)
    with pytest.raises(MalformedPacketError) as info:
        decode_records(raw)
    assert info.value.offset is not None
    assert len(PACKET_8E) + 8 <= info.value.offset < len(PACKET_8E) + 12


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (packet_8(b"\x01" + RECORD_8 + b"\x02"), Rejected),  # counts disagree: rejected at once
        (BAD_CRC, Rejected),  # checksum policy first
        (build_codec12("getinfo"), Rejected),  # a command frame is never deferred
    ],
)
def test_what_is_not_deferred(frame: bytes, kind: type[Event]) -> None:
    [event] = events_of(Session(ident=IMEI, defer_records=True), frame)
    assert type(event) is kind


def test_udp_and_clients_ignore_defer_records() -> None:
    server = Session(transport="udp", defer_records=True)
    server.receive_data(datagram(MSG))
    assert [type(e) for e in server.events()] == [Records]
    client = Session(Role.CLIENT, ident=IMEI, defer_records=True)
    client.send(SendRecords(messages=(MSG,)))
    assert events_of(client, b"\x00\x00\x00\x01") == [RecordsAck(count=1)]


# --- CRC policies ---------------------------------------------------------------------------


def test_bad_crc_reject() -> None:
    server = Session(ident=IMEI)
    [event] = events_of(server, BAD_CRC)
    assert isinstance(event, Rejected)
    assert isinstance(event.error, ChecksumError)
    assert event.error.received == event.error.expected ^ 1
    assert event.raw == BAD_CRC
    assert server.send(Refuse()) == b"\x00\x00\x00\x00"


def test_bad_crc_flag() -> None:
    server = Session(ident=IMEI, on_bad_checksum="flag")
    [event] = events_of(server, BAD_CRC)
    assert isinstance(event, Records)
    assert event.messages == ({**DECODED, "checksum.valid": False},) * 2
    assert server.send(Accept()) == b"\x00\x00\x00\x02"


def test_bad_crc_raise() -> None:
    server = Session(ident=IMEI, on_bad_checksum="raise")
    with pytest.raises(ChecksumError) as info:
        events_of(server, BAD_CRC)
    assert info.value.offset == len(BAD_CRC) - 4
    assert server.state is State.ERROR


# --- UDP server --------------------------------------------------------------------------------


def test_udp_each_call_is_one_datagram() -> None:
    server = Session(transport="udp")
    assert server.state is State.IDENTIFIED
    server.receive_data(datagram(MSG, MSG))
    server.receive_data(datagram(MSG, avl_packet_id=8))
    events = list(server.events())
    assert events == [Records(messages=(DECODED, DECODED)), Records(messages=(DECODED,))]
    assert server.ident == IMEI
    assert server.send(Accept()).hex().upper() == "0005CAFE010702"
    assert server.send(Refuse()).hex().upper() == "0005CAFE010800"


def test_udp_malformed_datagrams_are_rejected_and_the_next_one_is_read() -> None:
    server = Session(transport="udp")
    good = datagram(MSG)
    bad_avl = good[:-1] + b"\x02"  # number of data 2 differs
    events = events_of(server, good + b"\x00", b"\x00", bad_avl, good)
    assert [type(e) for e in events] == [Rejected, Rejected, Rejected, Records]
    assert "does not match" in events[0].error.reason  # type: ignore[attr-defined]
    assert server.send(Refuse()) == b""  # length field does not match: no ack possible
    assert server.send(Refuse()) == b""  # shorter than the header
    assert server.send(Refuse()).hex().upper() == "0005CAFE010700"  # header read: count 0
    assert server.send(Accept()).hex().upper() == "0005CAFE010701"


def test_udp_refuses_tcp_only_features() -> None:
    with pytest.raises(LocalProtocolError, match="TCP"):
        Session(transport="udp").send(SendCommand(text="getinfo"))
    client = Session(Role.CLIENT, transport="udp", ident=IMEI)
    for event in (Login(ident=IMEI), SendHeartbeat(), SendCommandResponse(text="x")):
        with pytest.raises(LocalProtocolError):
            client.send(event)
