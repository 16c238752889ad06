"""GT06 properties: decode(encode(m)) == m per packet type; bad input raises only our errors.

GT06 time has 1 s resolution and coordinates a 1/1 800 000 degree step, so the generated
messages use whole-second timestamps and coordinates on that grid (the encoder truncates
and rounds everything else).
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from telebench.errors import LocalProtocolError, ProtocolError
from telebench.model import Message
from telebench.protocols import Role
from telebench.protocols.events import Accept, Heartbeat, Identified, Records, Refuse, Rejected
from telebench.protocols.gt06 import (
    Session,
    build_alarm,
    build_command,
    build_command_reply,
    build_frame,
    build_location_12,
    build_location_22,
    build_login,
    build_status,
    decode_payload,
    parse_command,
    parse_login,
)
from telebench.protocols.gt06.location import (
    COURSE_ACC,
    DIFFERENTIAL,
    GPS_TRACKING,
    LAT_DIVISOR,
    LON_DIVISOR,
)

_T2000, _T2256 = 946_684_800, 9_025_008_000
idents = st.from_regex(r"\A[1-9][0-9]{14}\Z")
u8, u16 = st.integers(0, 0xFF), st.integers(0, 0xFFFF)


def _coordinate(divisor: int) -> st.SearchStrategy[float]:
    return st.tuples(st.integers(0, 0xFFFFFFFF), st.booleans()).map(
        lambda t: (-t[0] if t[1] else t[0]) / divisor
    )


gps_lbs = st.fixed_dictionaries(
    {
        "position.latitude": _coordinate(LAT_DIVISOR),
        "position.longitude": _coordinate(LON_DIVISOR),
        "position.speed": u8,
        "position.direction": st.integers(0, 0x3FF),
        "position.satellites": st.integers(0, 15),
        "position.valid": st.booleans(),
        "gsm.mcc": u16,
        "gsm.mnc": u8,
        "gsm.lac": u16,
        "gsm.cellid": st.integers(0, 0xFFFFFF),
    },
    optional={
        "timestamp": st.integers(_T2000, _T2256 - 1).map(float),
        DIFFERENTIAL: st.just(True),
        COURSE_ACC: st.booleans(),
    },
)
status = st.fixed_dictionaries(
    {
        "engine.blocked.status": st.booleans(),
        GPS_TRACKING: st.booleans(),
        "device.status.enum": st.integers(0, 7),
        "battery.charging.status": st.booleans(),
        "engine.ignition.status": st.booleans(),
        "armed.status": st.booleans(),
        "battery.level.enum": u8,
        "gsm.signal.level": u8,
    }
)
alarm = st.builds(lambda a: {"alarm.type": a, "alarm.event": a != 0}, u8)
location_22 = st.tuples(
    gps_lbs,
    st.fixed_dictionaries(
        {
            "engine.ignition.status": st.booleans(),
            "report.mode.enum": u8,
            "message.buffered.status": st.booleans(),
        },
        optional={"vehicle.mileage": st.integers(0, 0xFFFFFFFF).map(lambda m: m / 1000)},
    ),
).map(lambda t: {**t[0], **t[1]})


def _decode(frame: bytes, ident: str | None) -> Message:
    [msg] = decode_payload(frame, ident=ident, transport="tcp", on_bad_checksum="raise")
    return msg


def _with_ident(msg: dict[str, Any], ident: str | None) -> dict[str, Any]:
    return msg if ident is None else {"ident": ident, **msg}


@given(gps_lbs, st.none() | idents, u16)
def test_location_12_round_trip(msg: Message, ident: str | None, serial: int) -> None:
    assert _decode(build_location_12(msg, serial), ident) == _with_ident(msg, ident)


@given(location_22, st.none() | idents, u16)
def test_location_22_round_trip(msg: Message, ident: str | None, serial: int) -> None:
    frame = build_location_22(msg, serial)
    assert _decode(frame, ident) == _with_ident(msg, ident)
    assert build_location_22(_decode(frame, ident), serial) == frame


@given(gps_lbs, status, alarm, st.sampled_from([0x16, 0x26]), u8, u16)
def test_alarm_round_trip(
    gps: Message, state: Message, code: Message, protocol: int, language: int, serial: int
) -> None:
    msg = {**gps, **state, **code}
    frame = build_alarm(msg, serial, protocol=protocol, language=language)
    assert frame[3] == protocol
    assert _decode(frame, "1") == {"ident": "1", **msg}


@given(status, st.none() | alarm, st.none() | u8, u16)
def test_status_round_trip(
    state: Message, code: Message | None, language: int | None, serial: int
) -> None:
    msg = {**state, **(code or {})}
    if language is not None and code is None:
        msg |= {"alarm.type": 0, "alarm.event": False}  # the 5-byte form always has it
    frame = build_status(msg, serial, language=language)
    assert _decode(frame, None) == msg


@given(idents | st.from_regex(r"\A[1-9][0-9]{15}\Z"), u16, st.none() | u16, u16)
def test_login_round_trip(ident: str, serial: int, type_id: int | None, zone: int) -> None:
    frame = build_login(
        ident, serial, type_id=type_id, zone_language=None if type_id is None else zone
    )
    session = Session()
    session.receive_data(frame)
    assert list(session.events()) == [Identified(ident=ident)]
    info = parse_login(frame[4:-6])
    assert (info.ident, info.type_id) == (ident, type_id)


latin1 = st.text(st.characters(max_codepoint=0xFF), max_size=251)


@given(latin1, st.integers(0, 0xFFFFFFFF), u16, u16)
def test_command_round_trips(text: str, flag: int, serial: int, language: int) -> None:
    command = parse_command(build_command(text, flag, serial)[4:-6])
    assert (command.text, command.server_flag, command.language) == (text, flag, None)
    reply = parse_command(build_command_reply(text, flag, serial, language=language)[4:-6])
    assert (reply.text, reply.server_flag, reply.language) == (text, flag, language)


# --- bad input raises only telebench's protocol errors --------------------------------------

_VALID_FRAMES = [
    bytes.fromhex(h)
    for h in (
        "78780D01012345678901234500018CDD0D0A",
        "78781F120B081D112E10CF027AC7EB0C46584900148F01CC00287D001FB8000380810D0A",
        "787825160B0B0F0E241DCF027AC8870C4657E60014020901CC00287D001F726506040101003656A40D0A",
        "78780A134401040001000508450D0A",
        "787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A",
        "78781815100001A9584459443D53756363657373210002001891770D0A",
        "787815800F0001A9584459442C3030303030302300A0DCF10D0A",
        "787805010001D9DC0D0A",
    )
]
policies = st.sampled_from(["reject", "flag", "raise"])


def _drain(session: Session, data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        session.receive_data(data)
        session.receive_data(b"")
        for event in session.events():
            if session.role is Role.SERVER and isinstance(
                event, Identified | Records | Heartbeat | Rejected
            ):
                session.send(Refuse() if isinstance(event, Rejected) else Accept())


@given(st.binary(max_size=200), st.sampled_from(list(Role)), policies)
def test_random_bytes_raise_only_protocol_errors(data: bytes, role: Role, policy: Any) -> None:
    _drain(Session(role, on_bad_checksum=policy), data)
    _drain(Session(role, on_bad_checksum=policy), b"\x78\x78" + data)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid frame with a few bytes replaced, cut or inserted; the CRC is often repaired
    so the mutation reaches the packet parsers."""
    frame = bytearray(draw(st.sampled_from(_VALID_FRAMES)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(frame) - 1))
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        if action == "replace":
            frame[i] = draw(u8)
        elif action == "delete" and len(frame) > 1:
            del frame[i]
        else:
            frame.insert(i, draw(u8))
    if draw(st.booleans()) and len(frame) > 10 and bytes(frame[:2]) in (b"xx", b"yy"):
        header = 3 if frame[0] == 0x78 else 4
        proto, content = frame[header], bytes(frame[header + 1 : -6])
        return build_frame(proto, content, int.from_bytes(frame[-6:-4]))
    return bytes(frame)


@given(mutated_frames(), st.sampled_from(list(Role)), policies)
def test_mutated_frames_raise_only_protocol_errors(frame: bytes, role: Role, policy: Any) -> None:
    _drain(Session(role, on_bad_checksum=policy), frame)
    with contextlib.suppress(ProtocolError):
        decode_payload(frame, ident=None, transport="tcp", on_bad_checksum="flag")


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)
keys = st.sampled_from(
    [
        "timestamp",
        "position.latitude",
        "position.longitude",
        "position.speed",
        "position.direction",
        "position.satellites",
        "gsm.mcc",
        "gsm.mnc",
        "gsm.lac",
        "gsm.cellid",
        "report.mode.enum",
        "vehicle.mileage",
        "device.status.enum",
        "battery.level.enum",
        "gsm.signal.level",
        "alarm.type",
    ]
)


@given(st.dictionaries(keys, values, max_size=6))
def test_encoders_raise_only_local_protocol_errors(msg: Message) -> None:
    for build in (build_location_12, build_location_22, build_alarm, build_status):
        with contextlib.suppress(LocalProtocolError):
            frame = build(msg, 1)
            assert decode_payload(frame, ident=None, transport="tcp", on_bad_checksum="raise")
