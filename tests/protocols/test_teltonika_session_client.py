"""Teltonika session, client role: login, acks, commands, refusals, pairwise, stateless decoding."""

from __future__ import annotations

from typing import Any

import pytest

from telebench.errors import (
    ChecksumError,
    ConfigError,
    FramingError,
    LocalProtocolError,
    MalformedPacketError,
)
from telebench.model import Message
from telebench.protocols import Role, State, decode, new_session
from telebench.protocols.events import (
    Accept,
    CommandRequest,
    CommandResponse,
    Event,
    Heartbeat,
    Identified,
    Login,
    LoginAnswer,
    Records,
    RecordsAck,
    Rejected,
    SendCommand,
    SendCommandResponse,
    SendHeartbeat,
    SendRecords,
)
from telebench.protocols.teltonika import Session, decode_payload
from telebench.protocols.teltonika.commands import build_codec12, build_codec14
from telebench.protocols.teltonika.packets import build_udp_ack
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

# --- client role -------------------------------------------------------------------------------


def test_client_login_records_ack_and_commands() -> None:
    client = Session(Role.CLIENT)
    assert client.send(Login(ident=IMEI)) == LOGIN
    assert client.state.name == "AWAITING_LOGIN"
    assert events_of(client, b"\x01") == [LoginAnswer(accepted=True, code="01")]
    assert client.state is State.IDENTIFIED
    assert client.send(SendRecords(messages=(MSG, MSG))) == PACKET_8E
    assert client.send(SendHeartbeat()) == b"\xff"
    # The awaited ack 00000000 is an ack, not a Codec 12 preamble; the command follows.
    events = events_of(client, b"\x00\x00", b"\x00\x00" + build_codec12("getio"))
    assert events == [RecordsAck(count=0), CommandRequest(text="getio")]
    assert client.send(SendCommandResponse(text="DI1:1")) == build_codec12("DI1:1", 0x06)


def test_client_reads_a_command_that_overtook_the_awaited_ack() -> None:
    """A server's command crossing the device's packet arrives before that packet's ack."""
    client = Session(Role.CLIENT)
    client.send(Login(ident=IMEI))
    events_of(client, b"\x01")
    client.send(SendRecords(messages=(MSG,)))
    command = build_codec14("getinfo", IMEI)
    # Split inside the header too: 8 bytes cannot tell a frame from a zero ack yet.
    events = events_of(client, command[:8], command[8:] + b"\x00\x00\x00\x01")
    assert events == [CommandRequest(text="getinfo", ident=IMEI), RecordsAck(count=1)]
    assert client.pending == 0
    # A zero ack (refusal) alone is still an ack.
    client.send(SendRecords(messages=(MSG,)))
    assert events_of(client, b"\x00\x00\x00\x00") == [RecordsAck(count=0)]


def test_client_pipelines_records_behind_the_login() -> None:
    """Answers are matched in order: the 1-byte login answer, then the 4-byte ack."""
    client = Session(Role.CLIENT)
    stream = client.send(Login(ident=IMEI)) + client.send(SendRecords(messages=(MSG,)))
    assert client.pending == 2
    server = Session()
    assert [type(e) for e in events_of(server, stream)] == [Identified, Records]
    replies = server.send(Accept()) + server.send(Accept())
    assert replies == b"\x01\x00\x00\x00\x01"
    assert events_of(client, replies) == [
        LoginAnswer(accepted=True, code="01"),
        RecordsAck(count=1),
    ]
    assert client.pending == 0


def test_client_refused_login() -> None:
    client = Session(Role.CLIENT)
    client.send(Login(ident=IMEI))
    assert events_of(client, b"\x00") == [LoginAnswer(accepted=False, code="00")]
    assert client.state is State.CLOSED


def test_client_bad_login_answer() -> None:
    client = Session(Role.CLIENT)
    client.send(Login(ident=IMEI))
    with pytest.raises(MalformedPacketError, match="login answer 0x02"):
        events_of(client, b"\x02")


def test_client_unexpected_bytes() -> None:
    with pytest.raises(FramingError, match="not IMEI"):
        events_of(Session(Role.CLIENT, ident=IMEI), b"\x01\x02")
    with pytest.raises(FramingError, match="not PING"):
        events_of(Session(Role.CLIENT, ident=IMEI), b"\xff")
    [event] = events_of(Session(Role.CLIENT, ident=IMEI), PACKET_8E)
    assert isinstance(event, Rejected)
    assert event.error.reason == "a server does not send AVL data"


def test_client_codec14_ack_or_nack_by_imei() -> None:
    client = Session(Role.CLIENT, ident=IMEI)
    events = events_of(
        client, build_codec14("getver", IMEI), build_codec14("getver", "352093081452251")
    )
    assert events == [
        CommandRequest(text="getver", ident=IMEI),
        CommandRequest(text="getver", ident="352093081452251"),
    ]
    assert client.send(SendCommandResponse(text="Ver:1")) == build_codec14("Ver:1", IMEI, 0x06)
    assert client.send(SendCommandResponse(text="Ver:1")) == build_codec14("", IMEI, 0x11)


@pytest.mark.parametrize(
    ("codec", "msg", "match"),
    [
        (0x08, {"custom.param.300": 1}, "custom.param.300 has AVL id 300, more than .* 255"),
        (0x08, {"vehicle.vin": "WVW"}, "vehicle.vin has AVL id 256"),
        (0x10, {"vehicle.vin": "WVW"}, "vehicle.vin is variable-length"),
        (0x8E, {"gsm.signal.level": 300}, "gsm.signal.level raw value 300 does not fit 1"),
        (0x8E, {"y.acceleration": 40.0}, "y.acceleration raw value 40000 does not fit 2"),
        (0x8E, {"battery.voltage": "4.1"}, "battery.voltage must be a number"),
        (0x8E, {"custom.rpm": 1}, "custom.rpm is not a Teltonika parameter"),
        (0x8E, {"custom.param.5": -1}, "custom.param.5 raw value -1 does not fit 8"),
        (0x8E, {"ble.beacons.raw": "XYZ"}, "ble.beacons.raw 'XYZ' is not hex"),
        (0x08, {"event.enum": 256}, "event.enum 256 does not fit the record header"),
        (0x8E, {"position.latitude": 300.0}, "position.latitude 300.0 does not fit"),
        (0x8E, {"position.speed": "fast"}, "position.speed 'fast' is not a number"),
    ],
)
def test_client_refuses_what_the_codec_cannot_carry(
    codec: int, msg: dict[str, Any], match: str
) -> None:
    client = Session(Role.CLIENT, ident=IMEI, codec=codec)
    with pytest.raises(LocalProtocolError, match=f"message 1: {match}"):
        client.send(SendRecords(messages=(MSG, {"timestamp": 0.0, **msg})))


def test_client_needs_timestamps_and_1_to_255_records() -> None:
    client = Session(Role.CLIENT, ident=IMEI)
    with pytest.raises(LocalProtocolError, match="message 0: timestamp is required"):
        client.send(SendRecords(messages=({"position.speed": 1},)))
    with pytest.raises(LocalProtocolError, match=r"1\.\.255 records, not 0"):
        client.send(SendRecords(messages=()))
    one: Message = {"timestamp": 0.0}
    with pytest.raises(LocalProtocolError, match=r"1\.\.255 records, not 256"):
        client.send(SendRecords(messages=(one,) * 256))


def test_udp_client_counters_and_acks() -> None:
    client = Session(Role.CLIENT, transport="udp", ident=IMEI, packet_id=0xFFFF, avl_packet_id=255)
    first = client.send(SendRecords(messages=(MSG,)))
    second = client.send(SendRecords(messages=(MSG,)))
    assert first[2:6].hex().upper() == "FFFF01FF"
    assert second[2:6].hex().upper() == "00000100"
    assert client.pending == 2
    events = events_of(client, build_udp_ack(0, 0, 1), build_udp_ack(0xFFFF, 255, 1))
    assert isinstance(events[0], Rejected)
    assert events[0].error.reason == "ack for AVL packet 0, awaiting 255"
    assert events[1] == RecordsAck(count=1)
    assert events_of(client, build_udp_ack(0, 0, 0)) == [RecordsAck(count=0)]
    [event] = events_of(client, build_udp_ack(0, 1, 1))
    assert isinstance(event, Rejected)
    assert event.error.reason == "datagram while no ack is awaited"


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="needs ident"):
        Session(Role.CLIENT, transport="udp")
    with pytest.raises(ConfigError, match="codec"):
        Session(Role.CLIENT, codec=0x0C)
    with pytest.raises(ConfigError, match="tcp or udp"):
        Session(transport="http")
    with pytest.raises(ConfigError, match="packet_id"):
        Session(Role.CLIENT, transport="udp", ident=IMEI, packet_id=1 << 16)


# --- pairwise: client session <-> server session --------------------------------------------


def wire(msg: Message) -> Message:
    """What the server decodes from ``msg``: wire resolution plus the derived keys."""
    out = dict(msg)
    for key, div in (
        ("position.longitude", 10**7),
        ("position.latitude", 10**7),
        ("external.powersource.voltage", 1000),
    ):
        out[key] = round(float(msg[key]) * div) / div  # type: ignore[arg-type]
    out["ident"] = IMEI
    out["position.valid"] = msg["position.satellites"] != 0
    out["din"] = 1 if msg["din.1"] else 0
    return out


def track(codec: int) -> list[Message]:
    sent: list[Message] = [
        {
            "timestamp": 1767225600.0 + 10 * i,
            "position.longitude": 25.2797 + i * 0.0001,
            "position.latitude": -54.6872 - i * 0.0001,
            "position.altitude": 120,
            "position.direction": 45,
            "position.satellites": i % 3,
            "position.speed": 40 + i,
            "event.priority.enum": i % 3,
            "event.enum": 0,
            "din.1": bool(i % 2),
            "external.powersource.voltage": 13.8 + i / 1000,
            "custom.param.201": 3 * i,
        }
        for i in range(5)
    ]
    if codec == 0x10:
        for msg in sent:
            msg["event.generation.enum"] = 5
    return sent


@pytest.mark.parametrize(
    ("codec", "transport"),
    [(0x8E, "tcp"), (0x08, "tcp"), (0x10, "tcp"), (0x8E, "udp"), (0x10, "udp")],
)
def test_pairwise(codec: int, transport: Any) -> None:
    options = {"codec": codec, "ident": IMEI}
    client = new_session("teltonika", Role.CLIENT, transport=transport, options=options)
    server = new_session("teltonika", transport=transport)

    def exchange(out: bytes) -> list[Event]:
        server.receive_data(out)
        received = list(server.events())
        for _ in range(server.pending):
            client.receive_data(server.send(Accept()))
        return received

    if transport == "tcp":
        assert exchange(client.send(Login(ident=IMEI))) == [Identified(ident=IMEI)]
        assert list(client.events()) == [LoginAnswer(accepted=True, code="01")]
    sent = track(codec)
    [records] = exchange(client.send(SendRecords(messages=tuple(sent))))
    assert list(client.events()) == [RecordsAck(count=5)]
    assert records == Records(messages=tuple(wire(m) for m in sent))
    if transport == "tcp":
        client.receive_data(server.send(SendCommand(text="getio")))
        assert list(client.events()) == [CommandRequest(text="getio")]
        answer = exchange(client.send(SendCommandResponse(text="DI1:0")))
        assert answer == [CommandResponse(text="DI1:0")]
        assert exchange(client.send(SendHeartbeat())) == [Heartbeat()]


# --- stateless decoding ---------------------------------------------------------------------


def test_decode_payload() -> None:
    messages = decode_payload(
        LOGIN + PACKET_8E, ident=None, transport="tcp", on_bad_checksum="raise"
    )
    assert messages == [DECODED, DECODED]
    assert decode("teltonika", datagram(MSG), transport="udp") == [DECODED]
    assert decode("teltonika", build_codec12("x", 0x06)) == []
    flagged = decode("teltonika", BAD_CRC, ident=IMEI, on_bad_checksum="flag")
    assert flagged == [{**DECODED, "checksum.valid": False}] * 2
    with pytest.raises(ChecksumError):
        decode("teltonika", BAD_CRC)
    with pytest.raises(MalformedPacketError, match="not a device response"):
        decode("teltonika", build_codec12("getinfo"))
