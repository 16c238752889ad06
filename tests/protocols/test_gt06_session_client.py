"""GT06 session, client role: serials and replies, pairwise with a hub, stateless decoding."""

from __future__ import annotations

import pytest

from telebench.errors import ChecksumError, LocalProtocolError, MalformedPacketError
from telebench.model import Message
from telebench.protocols import Role, State, new_session
from telebench.protocols.events import (
    Accept,
    CommandRequest,
    CommandResponse,
    Event,
    Heartbeat,
    HeartbeatAck,
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
from telebench.protocols.gt06 import (
    Session,
    build_frame,
    build_location_22,
    build_reply,
    build_status,
    decode_payload,
)
from telebench.protocols.gt06.location import COURSE_ACC, DIFFERENTIAL
from telebench.protocols.samples import sample_messages
from tests.protocols.gt06_session_helpers import IMEI, LOCATION_22, LOGIN
from tests.protocols.gt06_session_helpers import corrupt_crc as _corrupt_crc
from tests.protocols.gt06_session_helpers import events as _events
from tests.protocols.gt06_session_helpers import unsupported as _unsupported

# --- client role ----------------------------------------------------------------------------


def test_client_serials_start_at_one_and_count_every_packet() -> None:
    device = Session(Role.CLIENT)
    frames = [
        device.send(Login(ident=IMEI)),
        device.send(SendRecords(messages=tuple(sample_messages("gt06", 2)))),
        device.send(SendHeartbeat()),
        device.send(SendCommandResponse(text="OK", server_flag=7)),
    ]
    assert frames[0] == LOGIN
    assert len(frames[1]) == 2 * 39  # one 0x22 frame per message
    assert (frames[1][33:35], frames[1][-6:-4]) == (b"\x00\x02", b"\x00\x03")
    assert frames[2] == build_status({}, 4)
    assert frames[2][4:-6] == bytes.fromhex("0000000002")  # defaults 0, language English
    assert frames[3][-6:-4] == b"\x00\x05"


def test_client_serial_wraps_after_ffff() -> None:
    device = Session(Role.CLIENT)
    device._serial = 0xFFFF
    assert device.send(SendHeartbeat())[-6:-4] == b"\xff\xff"
    assert device.send(SendHeartbeat())[-6:-4] == b"\x00\x00"


def test_client_picks_location_or_alarm_protocol() -> None:
    plain: Message = {"timestamp": 1767225600.0, "position.valid": True}
    alarm: Message = {**plain, "alarm.type": 1}
    for option, protocols in ((0x22, (0x22, 0x26)), (0x12, (0x12, 0x16))):
        device = new_session("gt06", Role.CLIENT, options={"location_protocol": option})
        out = device.send(SendRecords(messages=(plain, alarm)))
        first_len = out[2] + 5
        assert (out[3], out[first_len + 3]) == protocols


def test_client_reads_every_server_reply() -> None:
    device = Session(Role.CLIENT)
    device.send(Login(ident=IMEI))
    replies = (
        build_reply(0x01, 1)
        + build_reply(0x22, 2)
        + build_reply(0x26, 3)
        + build_reply(0x12, 4)
        + build_reply(0x16, 5)
        + build_reply(0x13, 6)
        + bytes.fromhex("787815800F0001A9584459442C3030303030302300A0DCF10D0A")
        + _unsupported()
    )
    events = _events(device, replies)
    assert events[:7] == [
        LoginAnswer(accepted=True, code="01"),
        *[RecordsAck(count=1)] * 4,
        HeartbeatAck(),
        CommandRequest(text="DYD,000000#", ident=IMEI, server_flag=0x0001A958),
    ]
    assert isinstance(events[7], Rejected)
    assert events[7].code == "unsupported"
    assert device.state is State.IDENTIFIED
    assert device.ident == IMEI
    assert device.pending == 0


def test_client_command_with_language_keeps_it_as_extra() -> None:
    device = Session(Role.CLIENT)
    frame = build_frame(0x80, bytes.fromhex("060000000141420002"), 1)
    [event] = _events(device, frame)
    assert event == CommandRequest(text="AB", server_flag=1, extra={"language": "2"})


def test_roles_refuse_the_other_sides_events() -> None:
    with pytest.raises(LocalProtocolError, match="sent by the client role"):
        Session().send(Login(ident=IMEI))
    with pytest.raises(LocalProtocolError, match="sent by the server role"):
        Session(Role.CLIENT).send(Accept())


def test_encoder_errors_do_not_consume_serials() -> None:
    device = Session(Role.CLIENT)
    with pytest.raises(LocalProtocolError, match=r"position\.speed=300"):
        device.send(SendRecords(messages=({}, {"position.speed": 300})))
    with pytest.raises(LocalProtocolError, match="not a 15-digit IMEI"):
        device.send(Login(ident="12345"))
    with pytest.raises(LocalProtocolError, match="not Latin-1"):
        device.send(SendCommandResponse(text="ok ✓"))
    assert device.send(SendHeartbeat())[-6:-4] == b"\x00\x01"


# --- pairwise: a device session against a hub session --------------------------------------


def _exchange(device: Session, hub: Session, out: bytes) -> list[Event]:
    events = _events(hub, out)
    replies = b"".join(
        hub.send(Accept()) for e in events if isinstance(e, Identified | Records | Heartbeat)
    )
    device.receive_data(replies)
    return events + list(device.events())


@pytest.mark.parametrize("location_protocol", [0x22, 0x12])
def test_device_and_hub_pair(location_protocol: int) -> None:
    device = Session(Role.CLIENT, location_protocol=location_protocol)
    hub = Session()
    ident = "353413532150362"
    assert _exchange(device, hub, device.send(Login(ident=ident))) == [
        Identified(ident=ident),
        LoginAnswer(accepted=True, code="01"),
    ]
    messages = sample_messages("gt06", 3)
    if location_protocol == 0x12:  # 0x12 carries no ACC / upload mode / re-upload bytes
        messages = [
            {k: v for k, v in m.items() if not k.startswith(("engine", "report", "message"))}
            for m in messages
        ]
    alarm: Message = {
        **messages[0],
        "alarm.type": 2,
        "alarm.event": True,
        "device.status.enum": 2,
        "engine.blocked.status": False,
        "custom.gps.tracking.status": True,
        "battery.charging.status": False,
        "engine.ignition.status": True,
        "armed.status": True,
        "battery.level.enum": 5,
        "gsm.signal.level": 3,
        DIFFERENTIAL: True,
        COURSE_ACC: False,
    }
    alarm.pop("report.mode.enum", None)
    alarm.pop("message.buffered.status", None)
    events = _exchange(device, hub, device.send(SendRecords(messages=(*messages, alarm))))
    decoded = [m for e in events if isinstance(e, Records) for m in e.messages]
    assert decoded == [{"ident": ident, **m} for m in (*messages, alarm)]
    assert events[-4:] == [RecordsAck(count=1)] * 4
    status_keys = (
        "engine.blocked.status",
        "custom.gps.tracking.status",
        "device.status.enum",
        "battery.charging.status",
        "engine.ignition.status",
        "armed.status",
        "battery.level.enum",
        "gsm.signal.level",
        "alarm.type",
        "alarm.event",
    )
    status: Message = {k: alarm[k] for k in status_keys}
    events = _exchange(device, hub, device.send(SendHeartbeat(message=status)))
    assert events == [Heartbeat(message={"ident": ident, **status}), HeartbeatAck()]
    device.receive_data(hub.send(SendCommand(text="DWXX#", server_flag=0xCAFE)))
    [request] = list(device.events())
    assert request == CommandRequest(text="DWXX#", ident=ident, server_flag=0xCAFE)
    answer = device.send(SendCommandResponse(text="Lat:N23.1", server_flag=0xCAFE))
    assert _events(hub, answer) == [
        CommandResponse(text="Lat:N23.1", ident=ident, server_flag=0xCAFE)
    ]


def test_mileage_and_missing_timestamp_round_trip() -> None:
    msg: Message = {"position.valid": False, "vehicle.mileage": 12345.678}
    frame = build_location_22(msg, 1)
    assert frame[2] == 38
    assert frame[4:10] == bytes(6)
    [decoded] = decode_payload(frame, ident=None, transport="tcp", on_bad_checksum="raise")
    assert "timestamp" not in decoded
    assert decoded["vehicle.mileage"] == 12345.678
    assert decoded["position.latitude"] == 0.0


def test_decode_payload_policies() -> None:
    bad = _corrupt_crc(LOCATION_22)
    with pytest.raises(ChecksumError):
        decode_payload(bad, ident=None, transport="tcp", on_bad_checksum="raise")
    [msg] = decode_payload(bad, ident="7", transport="tcp", on_bad_checksum="flag")
    assert msg["checksum.valid"] is False
    assert msg["ident"] == "7"
    with pytest.raises(MalformedPacketError, match="unsupported protocol number 0x8a"):
        decode_payload(_unsupported(), ident=None, transport="tcp", on_bad_checksum="raise")
    assert decode_payload(LOGIN, ident=None, transport="tcp", on_bad_checksum="raise") == []
