"""Wialon IPS conformance: every shared vector decoded to exact values, in every chunking.

Values are compared exactly, types included (the codec keeps an ``int`` where the wire
writes an integer and a ``float`` where it writes decimals, as the vectors do). The one
exception is coordinates: the vectors print them rounded to 6 decimals, so they compare
with ``pytest.approx(abs=5e-7)`` (half a unit of the printed precision).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from telebench.errors import FramingError
from telebench.model import Message
from telebench.protocols import Role
from telebench.protocols.events import (
    Accept,
    Event,
    Heartbeat,
    HeartbeatAck,
    Identified,
    LoginAnswer,
    Records,
    RecordsAck,
)
from telebench.protocols.wialon_ips import (
    Session,
    build_answer,
    build_data,
    build_login,
    build_message,
    build_ping,
    build_short_data,
    build_udp,
    decode_payload,
)
from telebench.protocols.wialon_ips.packets import crc_text
from tests.vectors import chunkings, payload_of, vector_params

# Vectors whose text is not in the codec's canonical form, so the encoder cannot rebuild
# them byte for byte (they are still re-encoded and decoded back to the same message):
NOT_CANONICAL = {
    # longitude written without its leading zero ("3644.670410") and minutes with a
    # trailing zero; the encoder writes "03644.67041".
    "short_data_v20_crc": "lon without leading zero",
    # the adc field is empty (";;") where the encoder writes NA.
    "data_v20_crc_a": "empty adc field",
    # "-4.000" / "0.800": decimals with trailing zeros; the encoder writes repr ("-4.0").
    "data_v20_crc_b": "trailing zeros",
    "udp_v20_data": "trailing zeros",
    "data_v20_no_position": "speed 0.000",
    "blackbox_v11_two_records": "speed 0.700, course 0.000",
}

_SCALARS = {
    "speed_kmh": "position.speed",
    "course": "position.direction",
    "altitude_m": "position.altitude",
    "satellites": "position.satellites",
    "hdop": "position.hdop",
    "inputs": "din",
    "outputs": "dout",
    "ibutton": "ibutton.code",
}


def _epoch(utc: str) -> float:
    return datetime.fromisoformat(utc.replace("Z", "+00:00")).timestamp()


def _expected_message(record: dict[str, Any], ident: str | None) -> dict[str, Any]:
    msg: dict[str, Any] = {} if ident is None else {"ident": ident}
    msg["timestamp"] = _epoch(record["utc"])
    assert record["date"] + record["time"] == datetime.fromisoformat(
        record["utc"].replace("Z", "+00:00")
    ).strftime("%d%m%y%H%M%S")
    for key, name in (("latitude", "position.latitude"), ("longitude", "position.longitude")):
        if record[key] is not None:
            # printed with 6 decimals: half a unit of the last printed digit
            msg[name] = pytest.approx(record[key], abs=5e-7)
    if record["latitude"] is not None and record["longitude"] is not None:
        msg["position.valid"] = True
    for key, name in _SCALARS.items():
        if record.get(key) is not None:
            msg[name] = record[key]
    for n, value in enumerate(record.get("adc") or [], 1):
        msg[f"ain.{n}"] = value
    for name, param in (record.get("params") or {}).items():
        # none of the vector's param names is mapped by the registry
        msg[f"custom.{name}"] = param["value"]
    return msg


def _assert_message(msg: Message, expected: dict[str, Any]) -> None:
    assert msg == expected
    for key, value in expected.items():
        if not isinstance(value, type(pytest.approx(0))):
            assert type(msg[key]) is type(value), key


def _feed(chunks: list[bytes], transport: str) -> tuple[Session, list[Event]]:
    session = Session(transport=transport)
    events: list[Event] = []
    for chunk in chunks:
        session.receive_data(chunk)
        events.extend(session.events())
    return session, events


def _transport(vector: dict[str, Any]) -> str:
    return "udp" if "udp_imei" in vector["expected"] else "tcp"


def _check_events(vector: dict[str, Any], events: list[Event]) -> None:
    expected = vector["expected"]
    kind = expected["packet_type"]
    [event] = events
    if kind == "L":
        password = None if expected["password"] == "NA" else expected["password"]
        assert event == Identified(
            ident=expected["imei"], password=password, protocol_version=vector["version"]
        )
    elif kind == "P":
        assert event == Heartbeat()
    elif kind == "M":
        assert event == Records(messages=({"driver.message": expected["text"]},))
    else:
        assert isinstance(event, Records)
        records = expected.get("records") or [expected["record"]]
        assert len(event.messages) == len(records)
        for msg, record in zip(event.messages, records, strict=True):
            _assert_message(msg, _expected_message(record, expected.get("udp_imei")))


def _chunkings(vector: dict[str, Any]) -> list[tuple[str, list[bytes]]]:
    payload = payload_of(vector)
    if _transport(vector) == "udp":
        return [("datagram", [payload])]  # a datagram cannot be split
    return list(chunkings(payload))


@pytest.mark.parametrize("vector", vector_params("wialon_ips"))
def test_vector_in_every_chunking(vector: dict[str, Any]) -> None:
    for _name, chunks in _chunkings(vector):
        session, events = _feed(chunks, _transport(vector))
        _check_events(vector, events)
        assert session.send(Accept()) == vector["expected"]["server_reply"].encode()


@pytest.mark.parametrize("vector", vector_params("wialon_ips"))
def test_vector_with_trailing_bytes(vector: dict[str, Any]) -> None:
    if _transport(vector) == "udp":
        pytest.skip("a datagram has no trailing bytes")
    payload = payload_of(vector) + b"#SD#2704"
    for _name, chunks in chunkings(payload):
        session, events = _feed(chunks, "tcp")
        _check_events(vector, events)  # the partial frame yields nothing and no error
        session.receive_data(b"")
        with pytest.raises(FramingError, match=r"stream ended inside a frame \(8 bytes"):
            list(session.events())


@pytest.mark.parametrize("vector", vector_params("wialon_ips"))
def test_vector_crc(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    if "crc_field" not in expected:
        pytest.skip("v1.1 packet: no CRC")
    covered = expected["crc_covered_text"].encode()
    assert crc_text(covered) == expected["crc16_arc_computed"] == expected["crc_field"]
    assert expected["crc_valid"] is True
    body = payload_of(vector).split(b"#", 2)[2]
    assert body.startswith(covered)


@pytest.mark.parametrize("vector", vector_params("wialon_ips"))
def test_vector_server_reply_is_read_by_the_client(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    kind = expected["packet_type"]
    device = Session(Role.CLIENT, version=vector["version"])
    device.receive_data(expected["server_reply"].encode())
    [event] = device.events()
    count = len(expected.get("records", [None]))
    assert event == {
        "L": LoginAnswer(accepted=True, code="1"),
        "P": HeartbeatAck(),
        "B": RecordsAck(count=count, code=str(count)),
    }.get(kind, RecordsAck(count=1, code="1"))
    answer = expected["server_reply"][1:-2].split("#")
    assert build_answer(answer[0], answer[1]) == expected["server_reply"].encode()


def _rebuild(vector: dict[str, Any], msg: Message | None) -> bytes:
    expected, version = vector["expected"], vector["version"]
    kind = expected["packet_type"]
    if kind == "L":
        password = None if expected["password"] == "NA" else expected["password"]
        return build_login(expected["imei"], password, version=version)
    if kind == "P":
        return build_ping()
    if kind == "M":
        return build_message(expected["text"], version=version)
    assert msg is not None
    body = {k: v for k, v in msg.items() if k != "ident"}
    line = (build_short_data if kind == "SD" else build_data)(body, version=version)
    if "udp_imei" in expected:
        prefix_version = expected.get("udp_protocol_version", "1.1")
        return build_udp(line, expected["udp_imei"], version=prefix_version)
    return line


@pytest.mark.parametrize("vector", vector_params("wialon_ips"))
def test_vector_rebuilt_by_the_encoder(vector: dict[str, Any]) -> None:
    payload = payload_of(vector)
    transport = _transport(vector)
    _, events = _feed([payload], transport)
    [event] = events
    messages = event.messages if isinstance(event, Records) else (None,)
    if vector["expected"]["packet_type"] == "B":
        pytest.skip("black box: covered per record by test_vector_reencoded_round_trip")
    rebuilt = _rebuild(vector, messages[0])
    if vector["name"] in NOT_CANONICAL:
        # not canonical (see NOT_CANONICAL): the re-encoded text must decode the same
        assert decode_payload(
            rebuilt, ident=None, transport=transport, on_bad_checksum="raise"
        ) == decode_payload(payload, ident=None, transport=transport, on_bad_checksum="raise")
    else:
        assert rebuilt == payload


@pytest.mark.parametrize("vector", vector_params("wialon_ips"))
def test_vector_reencoded_round_trip(vector: dict[str, Any]) -> None:
    """Every decoded record, encoded again (v1.1 and, after a v2.0 login, v2.0) as a D
    record or driver message, decodes to itself."""
    messages = decode_payload(
        payload_of(vector), ident=None, transport=_transport(vector), on_bad_checksum="raise"
    )
    for msg in messages:
        body = {k: v for k, v in msg.items() if k != "ident"}
        text = body.get("driver.message")
        for version in ("1.1", "2.0"):
            login = build_login("1", None, version=version)
            line = (
                build_message(text, version=version) if text else build_data(body, version=version)
            )
            again = decode_payload(
                login + line, ident=None, transport="tcp", on_bad_checksum="raise"
            )
            assert again == [{**body, "ident": "1"}]
