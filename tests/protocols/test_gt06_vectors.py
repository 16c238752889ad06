"""GT06 conformance: every shared vector decoded to exact values, answered and rebuilt.

Device->server vectors go through a server-role session, server->device vectors through a
client-role session, each in every chunking and with trailing bytes. Every GT06 frame is
canonical, so each vector's bytes are rebuilt exactly from the decoded content.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

import pytest

from telebench.errors import FramingError
from telebench.model import Message
from telebench.protocols import Role
from telebench.protocols._crc import crc16_x25
from telebench.protocols.events import (
    Accept,
    CommandRequest,
    CommandResponse,
    ConnectionClosed,
    Event,
    Heartbeat,
    HeartbeatAck,
    Identified,
    LoginAnswer,
    Records,
    RecordsAck,
)
from telebench.protocols.gt06 import (
    Session,
    build_alarm,
    build_command,
    build_command_reply,
    build_location_12,
    build_location_22,
    build_login,
    build_reply,
    build_status,
)
from telebench.protocols.gt06.location import (
    COURSE_ACC,
    DIFFERENTIAL,
    GPS_TRACKING,
    LAT_DIVISOR,
    LON_DIVISOR,
    status_fields,
)
from tests.vectors import chunkings, load_vectors, payload_of, vector_params

#: The first bytes of another login: a stream may hold part of the next frame.
TRAILING = bytes.fromhex("78780D0101")

#: Server replies given in a vector's notes rather than as a vector of their own.
NOTED_REPLIES = {
    "location_0x12": "787805120003903F0D0A",  # traccar's reply (location_0x12 notes)
    "heartbeat_0x13_doc_3byte": "787805130011F9700D0A",
}


def _run(session: Session, chunks: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        session.receive_data(chunk)
        events.extend(session.events())
    return events


def _decode(vector: dict[str, Any]) -> tuple[Event, Session]:
    """The one event of a vector, identical in every chunking and with trailing bytes."""
    payload = payload_of(vector)
    role = Role.SERVER if vector["direction"] == "device->server" else Role.CLIENT
    first: list[Event] | None = None
    for _name, chunks in chunkings(payload):
        events = _run(Session(role), chunks)
        assert first is None or events == first, _name
        first = events
    assert first is not None
    assert len(first) == 1
    session = Session(role)
    assert _run(session, [payload + TRAILING]) == first  # no error before EOF
    session.receive_data(b"")
    with pytest.raises(FramingError, match="stream ended inside a frame"):
        list(session.events())
    session = Session(role)
    assert _run(session, [payload]) == first
    return first[0], session


def _epoch(utc: str) -> float:
    return float(calendar.timegm(datetime.fromisoformat(utc.replace("Z", "+00:00")).timetuple()))


def _serial(payload: bytes) -> int:
    return int.from_bytes(payload[-6:-4])


@pytest.mark.parametrize("vector", vector_params("gt06"))
def test_frame_fields(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    payload = payload_of(vector)
    assert expected["framing_ok"]
    assert expected["crc_ok"]
    assert payload[:2] == b"\x78\x78"
    assert payload[-2:] == b"\r\n"
    assert payload[2] == expected["len_field"] == len(payload) - 5
    assert payload[3] == int(expected["proto"], 16)
    assert _serial(payload) == expected["serial"]
    assert payload[-4:-2].hex().upper() == expected["crc"] == expected["crc_calc"]
    assert crc16_x25(payload[2:-4]) == int(expected["crc"], 16)


def _check_gps(msg: Message, expected: dict[str, Any]) -> None:
    assert msg["timestamp"] == _epoch(expected["datetime"])
    assert msg["position.satellites"] == expected["satellites"]
    lat, lon = msg["position.latitude"], msg["position.longitude"]
    assert isinstance(lat, float)
    assert isinstance(lon, float)
    # The raw integers are exact; the vector prints degrees to 6 decimals (hence 5e-7).
    north = 1 if expected["north"] else -1
    east = -1 if expected["west"] else 1
    assert lat == north * expected["lat_raw"] / LAT_DIVISOR
    assert lon == east * expected["lon_raw"] / LON_DIVISOR
    assert lat == pytest.approx(north * expected["latitude"], abs=5e-7)
    assert lon == pytest.approx(east * expected["longitude"], abs=5e-7)
    assert msg["position.speed"] == expected["speed_kmh"]
    assert msg["position.direction"] == expected["course"]
    assert msg["position.valid"] is expected["positioned"]
    assert msg.get(DIFFERENTIAL, False) is expected["differential"]
    flags = int(expected["course_status_raw"], 16)
    if flags & 0x4000:  # "ACC valid" bit: bit 15 is kept as the course ACC flag
        assert msg[COURSE_ACC] is bool(flags & 0x8000)
    else:
        assert COURSE_ACC not in msg
    assert (msg["gsm.mcc"], msg["gsm.mnc"]) == (expected["mcc"], expected["mnc"])
    assert (msg["gsm.lac"], msg["gsm.cellid"]) == (expected["lac"], expected["cell_id"])


def _check_status(msg: Message, expected: dict[str, Any]) -> None:
    assert status_fields(msg)[0] == int(expected["terminal_info"], 16)
    assert msg["engine.ignition.status"] is expected["acc"]
    assert msg["battery.charging.status"] is expected["charging"]
    assert msg[GPS_TRACKING] is expected["gps_tracking"]
    assert msg["armed.status"] is expected["defence"]
    assert msg["engine.blocked.status"] is expected.get("oil_cut", False)
    assert msg["device.status.enum"] == expected["ti_alarm_bits"]
    assert msg["battery.level.enum"] == expected["voltage_level"]
    assert msg["gsm.signal.level"] == expected["gsm_level"]
    if "alarm" in expected:
        assert msg["alarm.type"] == expected["alarm"]
        assert msg["alarm.event"] is (expected["alarm"] != 0)
    else:
        assert "alarm.type" not in msg
        assert "alarm.event" not in msg
    assert not any("language" in key for key in msg)  # the language byte is dropped


def _rebuild_device(event: Event, vector: dict[str, Any], payload: bytes) -> bytes:
    """The vector's bytes rebuilt from its decoded content by the pure encoders."""
    expected, serial, proto = vector["expected"], _serial(payload), payload[3]
    if isinstance(event, Identified):
        return build_login(event.ident, serial)
    if isinstance(event, CommandResponse):
        assert event.server_flag is not None
        language = int(expected["after_command_hex"], 16)
        return build_command_reply(event.text, event.server_flag, serial, language=language)
    if isinstance(event, Heartbeat):
        assert event.message is not None
        return build_status(event.message, serial, language=expected.get("language"))
    assert isinstance(event, Records)
    msg = event.messages[0]
    if proto == 0x12:
        return build_location_12(msg, serial)
    if proto == 0x22:
        return build_location_22(msg, serial)
    return build_alarm(msg, serial, protocol=proto, language=expected["language"])


def _check_device_event(event: Event, expected: dict[str, Any], proto: int) -> None:
    if proto == 0x01:
        assert event == Identified(ident=expected["imei"])
    elif proto == 0x15:
        assert event == CommandResponse(
            text=expected["command_text"], server_flag=int(expected["server_flag"], 16)
        )
    elif proto == 0x13:
        assert isinstance(event, Heartbeat)
        assert event.message is not None
        _check_status(event.message, expected)
        assert "timestamp" not in event.message  # a status packet has no device time
    else:
        assert isinstance(event, Records)
        assert len(event.messages) == 1
        msg = event.messages[0]
        _check_gps(msg, expected)
        if proto in (0x16, 0x26):
            _check_status(msg, expected)
        if proto == 0x22:
            acc, mode, upload = bytes.fromhex(expected["extra_hex"])
            assert msg["engine.ignition.status"] is bool(acc)
            assert msg["report.mode.enum"] == mode
            assert msg["message.buffered.status"] is bool(upload)
            assert "vehicle.mileage" not in msg


def _expected_reply(vector: dict[str, Any], payload: bytes) -> bytes | None:
    """The vendor's reply to a device packet: its own vector (same protocol and serial) or
    the notes; ``None`` when no source gives one."""
    if vector["name"] in NOTED_REPLIES:
        return bytes.fromhex(NOTED_REPLIES[vector["name"]])
    for other in load_vectors("gt06"):
        reply = payload_of(other)
        is_ack = other["direction"] == "server->device" and other["expected"].get("empty_content")
        if is_ack and reply[3] == payload[3] and _serial(reply) == _serial(payload):
            return reply
    return None


@pytest.mark.parametrize("vector", vector_params("gt06", direction="device->server"))
def test_device_packet(vector: dict[str, Any]) -> None:
    payload = payload_of(vector)
    event, session = _decode(vector)
    _check_device_event(event, vector["expected"], payload[3])
    assert _rebuild_device(event, vector, payload) == payload
    if isinstance(event, CommandResponse):
        assert session.pending == 0  # a command reply is not answered
        return
    reply = session.send(Accept())
    assert reply == build_reply(payload[3], _serial(payload))
    vendor = _expected_reply(vector, payload)
    if vendor is not None:
        assert reply == vendor


@pytest.mark.parametrize("vector", vector_params("gt06", direction="server->device"))
def test_server_packet(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    payload = payload_of(vector)
    event, _session = _decode(vector)
    serial, proto = _serial(payload), payload[3]
    if proto == 0x80:
        flag = int(expected["server_flag"], 16)
        assert expected["after_command_hex"] == ""
        assert event == CommandRequest(text=expected["command_text"], server_flag=flag)
        assert build_command(expected["command_text"], flag, serial) == payload
        return
    assert expected["empty_content"]
    assert build_reply(proto, serial) == payload
    if proto == 0x01:
        assert event == LoginAnswer(accepted=True, code="01")
    elif proto == 0x13:
        assert event == HeartbeatAck()
    else:
        assert event == RecordsAck(count=1)


@pytest.mark.parametrize("vector", vector_params("gt06", direction="device->server"))
def test_device_packet_after_login_carries_the_ident(vector: dict[str, Any]) -> None:
    login = bytes.fromhex("78780D01035341353215036200022D060D0A")
    session = Session()
    events = _run(session, [login, payload_of(vector)])
    assert isinstance(events[0], Identified)
    second = events[1]
    if isinstance(second, Records):
        assert second.messages[0]["ident"] == "353413532150362"
    elif isinstance(second, Heartbeat):
        assert second.message is not None
        assert second.message["ident"] == "353413532150362"
    elif isinstance(second, CommandResponse):
        assert second.ident == "353413532150362"
    else:
        assert second == Identified(ident=vector["expected"]["imei"])
    session.receive_data(b"")
    assert isinstance(list(session.events())[-1], ConnectionClosed)
