"""Wialon IPS client sessions: login, replies, sends, refusals, pairwise with a hub."""

from __future__ import annotations

import pytest

from telebench.errors import ConfigError, LocalProtocolError
from telebench.protocols import Role, State, decode, new_session
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
    Refuse,
    Rejected,
    SendCommand,
    SendCommandResponse,
    SendHeartbeat,
    SendRecords,
)
from telebench.protocols.wialon_ips import Session, build_login
from telebench.protocols.wialon_ips.packets import crc_text
from tests.protocols.wialon_ips_session_helpers import IMEI, LOGIN_V1, LOGIN_V2, events, one

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
