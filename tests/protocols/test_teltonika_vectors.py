"""Teltonika conformance: every shared vector, in every chunking, decoded to exact values.

The expected IO values in the vectors are RAW unsigned integers keyed by AVL id (NX values
as hex). Each is checked through the parameter registry (name, divisor, signedness, type),
computed here independently of the codec's own IO table, so every raw IO value of every
vector is checked exactly. Floats are compared with ``==``: a registry value is
``raw / divisor``, a correctly rounded division, so it is the same double as the decimal the
vector prints (``24079 / 1000 == 24.079``, ``252618832 / 10**7 == 25.2618832``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from telebench.errors import FramingError
from telebench.model import Message
from telebench.params import teltonika_io_sources
from telebench.protocols import Role, decode, decode_records
from telebench.protocols._crc import crc16_arc
from telebench.protocols.events import (
    Accept,
    CommandRequest,
    CommandResponse,
    ConnectionClosed,
    Event,
    Heartbeat,
    Identified,
    RawRecords,
    Records,
    Refuse,
    Rejected,
)
from telebench.protocols.teltonika import (
    Session,
    build_avl_data,
    build_codec12,
    build_codec13,
    build_codec14,
    build_imei_message,
    build_udp_ack,
    build_udp_datagram,
    parse_avl_data,
    parse_udp_datagram,
)
from tests.vectors import chunkings, load_vectors, payload_of, vector_params

IMEI = "356307042441013"
REGISTRY = {avl_id: (param, src) for avl_id, param, src in teltonika_io_sources()}
HEADER_KEYS = {
    "ident",
    "timestamp",
    "event.priority.enum",
    "position.longitude",
    "position.latitude",
    "position.altitude",
    "position.direction",
    "position.satellites",
    "position.speed",
    "position.valid",
    "event.enum",
    "event.generation.enum",
    "checksum.valid",
    "din",
    "dout",
}
DIN = {1: 1, 2: 2, 3: 4}
DOUT = {179: 1, 180: 2}
# A few bytes of the next frame: the same events must come out, and no error before EOF.
TRAILING = bytes.fromhex("000000000000")

ALL_VECTORS = vector_params("teltonika")


def _where(pred: Any) -> list[Any]:
    """The vector params matching ``pred`` (the skipped "absent" param when there are none)."""
    chosen = [p for p in ALL_VECTORS if p.values[0] is None or pred(p.values[0]["expected"])]
    return chosen or ALL_VECTORS[:1]


def _vector(name: str) -> dict[str, Any]:
    found = [v for v in load_vectors("teltonika") if v["name"] == name]
    if not found:
        pytest.skip("no shared vectors")
    return found[0]


CANONICAL = _where(lambda e: "imei_length" in e or e["codec_id"] in ("0x0C", "0x0D", "0x0E"))
SERVER_COMMANDS = _where(lambda e: e.get("type") == 5 and e["codec_id"] != "0x0D")
WITH_RECORDS = _where(lambda e: "records" in e)
TCP_RECORDS = [
    p
    for p in vector_params("teltonika", transport="tcp")
    if p.values[0] is None or "records" in p.values[0]["expected"]
] or ALL_VECTORS[:1]


def expected_io(avl_id: int, raw: int | str) -> tuple[str, Any]:
    """The registry name and value of one raw IO element of a vector."""
    if avl_id not in REGISTRY:
        return f"custom.param.{avl_id}", raw.upper() if isinstance(raw, str) else raw
    param, src = REGISTRY[avl_id]
    if isinstance(raw, str):  # variable-length (NX)
        if param.name == "vehicle.vin":
            return param.name, bytes.fromhex(raw).replace(b"\x00", b"").decode("ascii")
        return param.name, raw.upper()
    assert src.size is not None
    if src.signed and raw >= 1 << (8 * src.size - 1):
        raw -= 1 << (8 * src.size)
    if param.type == "boolean":
        return param.name, raw != 0
    if src.divisor != 1:
        return param.name, raw / src.divisor
    return param.name, raw


def check_record(msg: Message, rec: dict[str, Any], ident: str | None) -> None:
    """Compare one decoded message with a vector record, field by field, exactly."""
    if ident is None:
        assert "ident" not in msg
    else:
        assert msg["ident"] == ident
    assert msg["timestamp"] == rec["timestamp_ms"] / 1000
    assert msg["timestamp"] == datetime.fromisoformat(rec["utc"]).timestamp()
    assert msg["event.priority.enum"] == rec["priority"]
    assert msg["position.longitude"] == rec["longitude"]
    assert msg["position.latitude"] == rec["latitude"]
    assert msg["position.altitude"] == rec["altitude"]
    assert msg["position.direction"] == rec["angle"]
    assert msg["position.satellites"] == rec["satellites"]
    assert msg["position.speed"] == rec["speed"]
    assert msg["position.valid"] is (rec["satellites"] > 0)
    assert msg["event.enum"] == rec["event_io_id"]
    if "generation_type" in rec:
        assert msg["event.generation.enum"] == rec["generation_type"]
    else:
        assert "event.generation.enum" not in msg
    io = {int(k): v for k, v in rec["io"].items()}
    assert len(io) == rec["n_total_io"]
    for avl_id, raw in io.items():
        name, value = expected_io(avl_id, raw)
        assert msg[name] == value, (avl_id, raw, name)
        assert type(msg[name]) is type(value), name
    io_keys = set(msg) - HEADER_KEYS
    assert len(io_keys) == rec["n_total_io"]
    for derived, bits in (("din", DIN), ("dout", DOUT)):
        present = [avl_id for avl_id in bits if avl_id in io]
        if present:
            assert msg[derived] == sum(bits[i] for i in present if io[i])
        else:
            assert derived not in msg


def feed(session: Session, chunks: list[bytes]) -> tuple[list[Event], list[bytes]]:
    """Feed chunks, answering every pending event (Refuse a Rejected, else Accept)."""
    events: list[Event] = []
    replies: list[bytes] = []
    for chunk in chunks:
        session.receive_data(chunk)
        for event in session.events():
            events.append(event)
            if session.pending:
                answer = Refuse() if isinstance(event, Rejected) else Accept()
                replies.append(session.send(answer))
    return events, replies


def expect_eof_error(session: Session) -> None:
    session.receive_data(b"")
    with pytest.raises(FramingError, match="stream ended inside a frame"):
        list(session.events())


@pytest.mark.parametrize("vector", ALL_VECTORS)
def test_vector_in_every_chunking(vector: dict[str, Any]) -> None:
    payload = payload_of(vector)
    if vector["transport"] == "udp":
        check_udp(vector, payload)
        return
    for how, chunks in chunkings(payload):
        for trailing in (b"", TRAILING):
            session = Session(ident=None if vector["name"] == "imei_login" else IMEI)
            events, replies = feed(session, [*chunks, trailing] if trailing else chunks)
            check_tcp_events(vector, payload, events, replies, how)
            if trailing:
                expect_eof_error(session)
            else:
                session.receive_data(b"")
                assert [type(e) for e in session.events()] == [ConnectionClosed]


@pytest.mark.parametrize("vector", TCP_RECORDS)
def test_deferred_records_decode_to_the_same_exact_values(vector: dict[str, Any]) -> None:
    """``defer_records``: the hub's decoder processes get the same messages, the same ack.

    TCP only: a UDP datagram is decoded at once.
    """
    payload = payload_of(vector)
    expected = vector["expected"]
    for how, chunks in chunkings(payload):
        for trailing in (b"", TRAILING):
            session = Session(ident=IMEI, defer_records=True)
            events, replies = feed(session, [*chunks, trailing] if trailing else chunks)
            [event] = events
            assert isinstance(event, RawRecords), how
            assert event.count == expected["number_of_data"]
            assert event.offset == 8
            messages = decode_records(event)
            for msg, rec in zip(messages, expected["records"], strict=True):
                check_record(msg, rec, IMEI)
            assert replies == [bytes.fromhex(expected["server_ack_hex"])]


def check_tcp_events(
    vector: dict[str, Any], payload: bytes, events: list[Event], replies: list[bytes], how: str
) -> None:
    expected = vector["expected"]
    [event] = events
    if "imei_length" in expected:
        assert event == Identified(ident=expected["imei"]), how
        assert replies == [bytes.fromhex(expected["server_reply_accept_hex"])]
        return
    check_envelope(expected, payload)
    if "records" in expected:
        assert isinstance(event, Records), how
        assert len(event.messages) == expected["number_of_data"] == payload[9]
        for msg, rec in zip(event.messages, expected["records"], strict=True):
            check_record(msg, rec, IMEI)
        assert replies == [bytes.fromhex(expected["server_ack_hex"])]
    else:
        check_command_event(vector, event, replies)


def check_envelope(expected: dict[str, Any], payload: bytes) -> None:
    """Preamble, data length, CRC field and its validity, per the vector."""
    assert int.from_bytes(payload[:4], "big") == expected["preamble"]
    assert int.from_bytes(payload[4:8], "big") == expected["data_field_length"]
    assert len(payload) == expected["data_field_length"] + 12
    assert payload[8] == int(expected["codec_id"], 16)
    assert payload[-4:].hex().upper() == expected["crc16_field_hex"]
    computed = crc16_arc(payload[8:-4])
    assert f"{computed:04X}" == expected["crc16_arc_computed"]
    assert (computed == int(expected["crc16_field_hex"], 16)) is expected["crc_valid"]


def check_command_event(vector: dict[str, Any], event: Event, replies: list[bytes]) -> None:
    expected = vector["expected"]
    codec, type_ = int(expected["codec_id"], 16), expected["type"]
    imei = expected["imei_bcd"][1:] if "imei_bcd" in expected else None
    if codec != 0x0D and type_ == 5:  # a server command reaching the server
        assert isinstance(event, Rejected)
        assert "is not a device response" in event.error.reason
        assert replies == [b""]  # a refused command frame gets no reply
        return
    assert replies == []  # responses need no answer
    timestamp = float(expected["timestamp_s"]) if codec == 0x0D else None
    assert event == CommandResponse(
        text=expected["text"], ident=imei, timestamp=timestamp, accepted=type_ != 0x11
    )


@pytest.mark.parametrize("vector", CANONICAL)
def test_encoders_rebuild_canonical_bytes(vector: dict[str, Any]) -> None:
    """IMEI message and Codec 12/13/14 frames are canonical: rebuilt byte for byte."""
    expected = vector["expected"]
    payload = payload_of(vector)
    if "imei_length" in expected:
        assert build_imei_message(expected["imei"]) == payload
        return
    codec = int(expected["codec_id"], 16)
    assert expected["quantity"] == 1
    assert expected["size"] == int.from_bytes(payload[11:15], "big")
    text, type_ = expected["text"], expected["type"]
    if codec == 0x0C:
        rebuilt = build_codec12(text, type_)
    elif codec == 0x0D:
        rebuilt = build_codec13(text, expected["timestamp_s"], type_)
    else:
        rebuilt = build_codec14(text, expected["imei_bcd"][1:], type_)
    assert rebuilt.hex().upper() == payload.hex().upper()


@pytest.mark.parametrize("vector", SERVER_COMMANDS)
def test_server_commands_reach_a_device(vector: dict[str, Any]) -> None:
    """A server command vector fed to a client-role session becomes a CommandRequest."""
    expected = vector["expected"]
    client = Session(Role.CLIENT, ident="352093081452251")
    for how, chunks in chunkings(payload_of(vector)):
        events, _ = feed(client, chunks)
        imei = expected["imei_bcd"][1:] if "imei_bcd" in expected else None
        assert events == [CommandRequest(text=expected["text"], ident=imei)], how


@pytest.mark.parametrize("vector", WITH_RECORDS)
def test_avl_round_trip(vector: dict[str, Any]) -> None:
    """decode -> build_avl_data in the vector's codec -> decode gives the same messages.

    AVL packets are not canonical (the encoder picks registry widths), so the vendor bytes
    are not rebuilt; the decoded messages survive the round trip exactly.
    """
    expected = vector["expected"]
    codec = int(expected["codec_id"], 16)
    messages = decode("teltonika", payload_of(vector), ident=IMEI, transport=vector["transport"])
    assert (
        parse_avl_data(build_avl_data(codec, messages), ident=str(messages[0]["ident"])) == messages
    )


def check_udp(vector: dict[str, Any], payload: bytes) -> None:
    expected = vector["expected"]
    assert len(payload) - 2 == expected["udp_length"] == int.from_bytes(payload[:2], "big")
    session = Session(transport="udp")
    events, replies = feed(session, [payload, payload])  # each call is one datagram
    assert [type(e) for e in events] == [Records, Records]
    assert session.ident == expected["imei"]
    assert replies == [bytes.fromhex(expected["server_ack_hex"])] * 2
    assert events[0] == events[1]
    for event in events:
        assert isinstance(event, Records)
        assert len(event.messages) == expected["number_of_data"]
        for msg, rec in zip(event.messages, expected["records"], strict=True):
            check_record(msg, rec, expected["imei"])
    header, messages = parse_udp_datagram(payload)
    packet_id, avl_id = int(expected["packet_id"], 16), expected["avl_packet_id"]
    assert (header.packet_id, header.packet_type) == (packet_id, expected["packet_type"])
    assert (header.avl_packet_id, header.imei) == (avl_id, expected["imei"])
    assert build_udp_ack(packet_id, avl_id, 1).hex().upper() == expected["server_ack_hex"]
    rebuilt = build_udp_datagram(
        int(expected["codec_id"], 16),
        messages,
        imei=expected["imei"],
        packet_id=packet_id,
        avl_packet_id=avl_id,
    )
    assert parse_udp_datagram(rebuilt) == (header, messages)
    # A datagram with a byte appended no longer matches its length field.
    events, replies = feed(Session(transport="udp"), [payload + b"\x00"])
    assert [type(e) for e in events] == [Rejected]
    assert replies == [b""]


# --- spot checks of the values the brief names (guards the registry-driven expectation) ---


def _decoded(name: str) -> list[Message]:
    vector = _vector(name)
    return decode("teltonika", payload_of(vector), ident=IMEI, transport=vector["transport"])


def test_named_values() -> None:
    [msg] = _decoded("codec8_tcp_wiki_ex1")
    assert msg["external.powersource.voltage"] == 24.079
    assert msg["custom.param.78"] == 0
    assert msg["din.1"] is True
    assert msg["din"] == 1
    [msg] = _decoded("codec8e_udp_traccar_real_device_no_fix")
    assert msg["y.acceleration"] == -0.222
    assert msg["ident"] == "352093085698206"
    [msg] = _decoded("codec8e_tcp_wiki_2018_with_NX_VIN")
    assert msg["vehicle.vin"] == ""
    first, second = _decoded("codec8e_tcp_ble_beacon_385")
    assert second["ble.beacons.raw"] == (
        "11213102030405060708090A0B0C0D0E0F104545010ABC212102030405060708090A0B0C0D0E0F10020B010AAD"
    )
    assert first["battery.current"] == 0.283
    [msg] = _decoded("codec8_tcp_fmb920_doc_real_coords")
    assert (msg["position.longitude"], msg["position.latitude"]) == (25.2618832, 54.6990336)
    assert msg["sensor.temperature.1"] == 300.0
    assert msg["timestamp"] == 1374042849.14


def test_login_refused() -> None:
    vector = _vector("imei_login")
    session = Session()
    session.receive_data(payload_of(vector))
    assert list(session.events()) == [Identified(ident=vector["expected"]["imei"])]
    assert session.send(Refuse()).hex() == vector["expected"]["server_reply_reject_hex"]


def test_ping_between_vectors() -> None:
    """A 0xFF ping between packets is a Heartbeat whose answer is empty."""
    session = Session(ident=IMEI)
    events, replies = feed(session, [b"\xff", b"\xff"])
    assert events == [Heartbeat(), Heartbeat()]
    assert replies == [b"", b""]
