"""Wialon IPS properties: every packet type round-trips; garbage raises only our errors."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from telebench.errors import ProtocolError
from telebench.model import Message
from telebench.protocols import Role
from telebench.protocols.events import (
    Accept,
    CommandRequest,
    Event,
    Identified,
    Login,
    LoginAnswer,
    Records,
    RecordsAck,
    Refuse,
    Rejected,
    SendCommand,
    SendRecords,
)
from telebench.protocols.wialon_ips import (
    Session,
    build_answer,
    build_black_box,
    build_data,
    build_short_data,
    decode_payload,
    parse_black_box,
    parse_data,
    parse_login,
    parse_short_data,
)
from telebench.protocols.wialon_ips.packets import build_login
from telebench.protocols.wialon_ips.paramfield import WIRE_PARAMS

SEPARATORS = ";,|\r\n:"
# Text a field can carry: no separators, no surrogates; "NA" means "not available".
field_text = st.text(
    alphabet=st.characters(blacklist_characters=SEPARATORS, blacklist_categories=("Cs",)),
    max_size=12,
).filter(lambda t: t != "NA")
value_text = st.text(  # a string param value may hold ':'
    alphabet=st.characters(blacklist_characters=";,|\r\n", blacklist_categories=("Cs",)),
    max_size=12,
).filter(lambda t: t != "NA")
names = field_text.filter(lambda t: t != "" and t not in WIRE_PARAMS)
finite = st.floats(allow_nan=False, allow_infinity=False)
number = st.one_of(st.integers(-(10**12), 10**12), finite)
timestamps = st.one_of(
    st.integers(946_684_800, 4_102_444_799).map(float),
    st.floats(946_684_800, 4_102_444_799.9),
)
custom_values = st.one_of(st.booleans(), st.integers(-(2**63), 2**63), finite, value_text)

sd_messages = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": timestamps,
        "position.latitude": st.floats(-90, 90),
        "position.longitude": st.floats(-180, 180),
        "position.speed": number,
        "position.direction": number,
        "position.altitude": number,
        "position.satellites": st.integers(0, 64),
    },
)
d_extra = st.fixed_dictionaries(
    {},
    optional={
        "position.hdop": number,
        "din": st.integers(0, 2**40),
        "dout": st.integers(0, 2**40),
        "ain.1": number,
        "ain.3": number,
        "ibutton.code": field_text,
        "external.powersource.voltage": number,
        "battery.level": number,
        "engine.ignition.status": st.booleans(),
        "alarm.event": st.booleans(),
    },
)
customs = st.dictionaries(names.map(lambda n: f"custom.{n}"), custom_values, max_size=6)


@st.composite
def d_messages(draw: st.DrawFn) -> Message:
    return {**draw(sd_messages), **draw(d_extra), **draw(customs)}


def expected(msg: Message) -> Message:
    """What the decoder returns: customs bools come back as integers, position.valid added."""
    out: Message = {}
    for key, value in msg.items():
        out[key] = int(value) if key.startswith("custom.") and isinstance(value, bool) else value
    if "position.latitude" in msg and "position.longitude" in msg:
        out["position.valid"] = True
    return out


def assert_same(got: Message, want: Message) -> None:
    """Exact equality, types included; coordinates within (-1°, 1°) may be 1 ulp off (a few
    floats there are reachable by no DDMM.MMMM text, fields.py docstring)."""
    assert got.keys() == want.keys()
    for key, value in want.items():
        if key in ("position.latitude", "position.longitude"):
            assert isinstance(value, float)
            got_value = got[key]
            assert isinstance(got_value, float)
            assert got_value == value or (
                abs(value) < 1 and abs(got_value - value) <= math.ulp(value)
            ), (key, value, got_value)
        else:
            assert got[key] == value, key
            assert type(got[key]) is type(value), key


def _body(line: bytes, version: str) -> str:
    text = line.decode()[line.index(b"#", 1) + 1 : -2]
    return (
        text.rpartition(";" if not line.startswith(b"#B#") else "|")[0]
        if version == "2.0"
        else text
    )


@given(d_messages(), st.sampled_from(["1.1", "2.0"]))
def test_data_round_trip(msg: Message, version: str) -> None:
    line = build_data(msg, version=version)
    assert_same(parse_data(_body(line, version)), expected(msg))


@given(sd_messages, st.sampled_from(["1.1", "2.0"]))
def test_short_data_round_trip(msg: Message, version: str) -> None:
    line = build_short_data(msg, version=version)
    assert_same(parse_short_data(_body(line, version)), expected(msg))


@settings(max_examples=50)
@given(st.lists(st.one_of(sd_messages, d_messages()), min_size=1, max_size=4), st.booleans())
def test_black_box_round_trip(msgs: list[Message], short: bool) -> None:
    if short:
        msgs = [{k: v for k, v in m.items() if not _extended_key(k)} for m in msgs]
    for version in ("1.1", "2.0"):
        line = build_black_box(msgs, version=version, short=short)
        got = parse_black_box(_body(line, version))
        assert len(got) == len(msgs)
        for one, msg in zip(got, msgs, strict=True):
            assert_same(one, expected(msg))


def _extended_key(key: str) -> bool:
    return key not in (
        "timestamp",
        "position.latitude",
        "position.longitude",
        "position.speed",
        "position.direction",
        "position.altitude",
        "position.satellites",
    )


idents = field_text.filter(lambda t: t != "" and "#" not in t)


@settings(max_examples=60)
@given(
    st.sampled_from(["1.1", "2.0"]),
    idents,
    st.one_of(st.none(), field_text),
    st.lists(st.one_of(sd_messages, d_messages()), min_size=1, max_size=3),
    st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",))),
)
def test_device_and_hub_round_trip(
    version: str, ident: str, password: str | None, msgs: list[Message], text: str
) -> None:
    """Every packet type through a client session into a server session and back."""
    device, hub = Session(Role.CLIENT, version=version), Session()
    [login] = _feed(hub, device.send(Login(ident=ident, password=password)))
    assert login == Identified(ident=ident, password=password, protocol_version=version)
    assert _feed(device, hub.send(Accept())) == [LoginAnswer(accepted=True, code="1")]
    [records] = _feed(hub, device.send(SendRecords(messages=tuple(msgs))))
    assert isinstance(records, Records)
    for got, msg in zip(records.messages, msgs, strict=True):
        assert_same(got, {**expected(msg), "ident": ident})
    count = len(msgs) if len(msgs) > 1 else 1
    assert _feed(device, hub.send(Accept())) == [RecordsAck(count=count, code=str(count))]
    [driver] = _feed(hub, device.send(SendRecords(messages=({"driver.message": text},))))
    assert driver == Records(messages=({"ident": ident, "driver.message": text},))
    hub.send(Accept())
    assert _feed(device, hub.send(SendCommand(text=text))) == [
        CommandRequest(text=text, ident=ident)
    ]


def _feed(session: Session, data: bytes) -> list[Event]:
    session.receive_data(data)
    return list(session.events())


@given(idents, st.one_of(st.none(), field_text))
def test_login_round_trip(ident: str, password: str | None) -> None:
    for version in ("1.1", "2.0"):
        line = build_login(ident, password, version=version)
        login = parse_login(line.decode()[3:-2])
        assert (login.ident, login.password, login.version) == (ident, password, version)


@given(
    st.sampled_from(["AL", "ASD", "AD", "AB", "AM"]),
    st.one_of(
        st.sampled_from(["1", "0", "01", "10", "-1", "16", ""]), st.integers(0, 999).map(str)
    ),
)
def test_answer_round_trip(kind: str, code: str) -> None:
    device = Session(Role.CLIENT)
    [event] = _feed(device, build_answer(kind, code))
    if kind == "AL":
        assert event == LoginAnswer(accepted=code == "1", code=code)
    else:
        count = int(code) if kind == "AB" and code.isdigit() else int(code == "1")
        assert event == RecordsAck(count=count, code=code)


# --- garbage -------------------------------------------------------------------------------


def _drain(session: Session, data: bytes, *, answer: bool = True) -> None:
    with contextlib.suppress(ProtocolError):
        session.receive_data(data)
        for event in session.events():
            if answer and session.pending:
                session.send(Refuse() if isinstance(event, Rejected) else Accept())
        session.receive_data(b"")
        list(session.events())


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    _drain(Session(), data)
    _drain(Session(), b"#" + data)
    _drain(Session(), b"#D#" + data + b"\r\n")
    _drain(Session(Role.CLIENT), b"#" + data + b"\r\n", answer=False)
    _drain(Session(transport="udp"), data)
    _drain(Session(transport="udp"), b"2.0;1#D#" + data)
    for transport in ("tcp", "udp"):
        with contextlib.suppress(ProtocolError):
            decode_payload(data, ident=None, transport=transport, on_bad_checksum="flag")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    device = Session(Role.CLIENT, version=draw(st.sampled_from(["1.1", "2.0"])))
    stream = bytearray(device.send(Login(ident="868204002602414")))
    stream += device.send(SendRecords(messages=(draw(d_messages()),)))
    stream += device.send(SendRecords(messages=(draw(sd_messages), draw(d_messages()))))
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(stream) - 1))
        stream[index] = draw(st.integers(0, 255))
    return bytes(stream)


@settings(max_examples=150)
@given(mutated(), st.sampled_from(["reject", "flag", "raise"]))
def test_mutated_traffic_raises_only_protocol_errors(stream: bytes, policy: Any) -> None:
    _drain(Session(on_bad_checksum=policy), stream)
