"""The session contract, checked the same way for every protocol with both roles.

A device (client role) and the hub (server role) talk through their bytes only: the login is
answered, every packet is acked after the hub "stores" it, the decoded messages equal what the
device meant to send, and nothing is answered before the hub says so.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebench.errors import LocalProtocolError, ProtocolError
from telebench.protocols import Role, Session, new_session
from telebench.protocols.events import (
    Accept,
    Event,
    Identified,
    Login,
    LoginAnswer,
    Records,
    RecordsAck,
    Refuse,
    Rejected,
    SendRecords,
)
from telebench.protocols.samples import sample_messages

IDENT = "352093086403655"
PAIRS = [
    ("teltonika", {"codec": 0x8E}),
    ("teltonika", {"codec": 0x08}),
    ("teltonika", {"codec": 0x10}),
    ("wialon_ips", {"version": "2.0"}),
    ("wialon_ips", {"version": "1.1"}),
    ("gt06", {"location_protocol": 0x22}),
    ("gt06", {"location_protocol": 0x12}),
]
IDS = [f"{p}-{next(iter(o.values()))}" for p, o in PAIRS]


def _pair(protocol: str, options: dict[str, object]) -> tuple[Session, Session]:
    return new_session(protocol, Role.CLIENT, options=options), new_session(protocol)


def _events(session: Session, data: bytes) -> list[Event]:
    session.receive_data(data)
    return list(session.events())


def _login(device: Session, hub: Session) -> None:
    [identified] = _events(hub, device.send(Login(ident=IDENT)))
    assert isinstance(identified, Identified)
    assert identified.ident == IDENT
    [answer] = _events(device, hub.send(Accept()))
    assert answer == LoginAnswer(accepted=True, code=answer.code)


def _expected(
    protocol: str, options: dict[str, object], msg: dict[str, object]
) -> dict[str, object]:
    """What the hub decodes: the device's message plus the ident and derived keys."""
    out = {**msg, "ident": IDENT}
    if protocol == "teltonika":
        out["position.valid"] = True
        out["din"] = 1
        if options["codec"] != 0x10:
            out.pop("event.generation.enum", None)
    if protocol == "wialon_ips":
        out["position.valid"] = True
    if protocol == "gt06" and options.get("location_protocol") == 0x12:
        # 0x12 carries only the GPS and cell blocks: no ACC / upload mode / re-upload bytes.
        for key in ("engine.ignition.status", "report.mode.enum", "message.buffered.status"):
            out.pop(key, None)
    return out


@pytest.mark.parametrize(("protocol", "options"), PAIRS, ids=IDS)
def test_device_and_hub_agree_on_every_message(protocol: str, options: dict[str, object]) -> None:
    device, hub = _pair(protocol, options)
    _login(device, hub)
    sent = sample_messages(protocol, 5)
    events = _events(hub, device.send(SendRecords(messages=tuple(sent))))
    received = [m for e in events if isinstance(e, Records) for m in e.messages]
    assert received == [_expected(protocol, options, m) for m in sent]
    acks: list[Event] = []
    for _ in events:  # the hub acks only now, after "storing" each packet
        acks += _events(device, hub.send(Accept()))
    assert sum(a.count for a in acks if isinstance(a, RecordsAck)) == len(sent)


@pytest.mark.parametrize(("protocol", "options"), PAIRS, ids=IDS)
def test_nothing_is_answered_unasked(protocol: str, options: dict[str, object]) -> None:
    device, hub = _pair(protocol, options)
    hub.receive_data(device.send(Login(ident=IDENT)))
    list(hub.events())
    assert hub.pending == 1
    hub.send(Accept())
    assert hub.pending == 0
    with pytest.raises(LocalProtocolError, match="no received event awaits an answer"):
        hub.send(Accept())


@pytest.mark.parametrize(("protocol", "options"), PAIRS, ids=IDS)
def test_refused_login_is_reported_to_the_device(protocol: str, options: dict[str, object]) -> None:
    device, hub = _pair(protocol, options)
    _events(hub, device.send(Login(ident=IDENT)))
    reply = hub.send(Refuse())
    if protocol == "gt06":
        assert reply == b""  # GT06 has no negative login answer: the hub closes
        return
    [answer] = _events(device, reply)
    assert isinstance(answer, LoginAnswer)
    assert not answer.accepted


@pytest.mark.parametrize("protocol", ["teltonika", "wialon_ips", "gt06", "osmand"])
@settings(max_examples=150)
@given(data=st.binary(max_size=200))
def test_random_bytes_raise_only_protocol_errors(protocol: str, data: bytes) -> None:
    hub = new_session(protocol)
    with contextlib.suppress(ProtocolError):
        hub.receive_data(data)
        list(hub.events())
        hub.receive_data(b"")
        list(hub.events())


@pytest.mark.parametrize(("protocol", "options"), PAIRS, ids=IDS)
@settings(max_examples=100)
@given(data=st.data())
def test_mutated_traffic_raises_only_protocol_errors(
    protocol: str, options: dict[str, object], data: st.DataObject
) -> None:
    device, _ = _pair(protocol, options)
    stream = bytearray(device.send(Login(ident=IDENT)))
    stream += device.send(SendRecords(messages=tuple(sample_messages(protocol, 3))))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(stream) - 1))
        stream[index] = data.draw(st.integers(0, 255))
    hub = new_session(protocol)
    with contextlib.suppress(ProtocolError):
        hub.receive_data(bytes(stream))
        for event in hub.events():
            if hub.pending:
                hub.send(Refuse() if isinstance(event, Rejected) else Accept())
        hub.receive_data(b"")
        list(hub.events())
