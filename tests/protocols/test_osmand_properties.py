"""OsmAnd properties: query round trip; arbitrary bytes raise only our protocol errors."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from telebench.errors import ProtocolError
from telebench.protocols.osmand import Session, build_query, decode_payload
from telebench.protocols.osmand.packets import parse_query

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
messages = st.fixed_dictionaries(
    {"ident": st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=20)},
    optional={
        "timestamp": st.integers(0, 2**31 - 2).map(float),
        "position.latitude": st.floats(-90, 90),
        "position.longitude": st.floats(-180, 180),
        "position.altitude": finite,
        "position.direction": st.floats(0, 360),
        "battery.level": st.floats(0, 100),
        "engine.ignition.status": st.booleans(),
        "custom.rpm": st.floats(0, 10_000),
        "custom.driver": st.text(alphabet="abcxyz", min_size=1),
    },
)


@given(messages)
def test_query_round_trip(msg: dict[str, object]) -> None:
    decoded = parse_query(build_query(msg))  # type: ignore[arg-type]
    if "position.latitude" in msg and "position.longitude" in msg:
        msg = {**msg, "position.valid": True}
    assert decoded == msg


@given(st.binary(max_size=300))
def test_random_payload_raises_only_protocol_errors(payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_payload(payload, ident=None, transport="http", on_bad_checksum="raise")


@given(st.binary(max_size=300))
def test_random_stream_raises_only_protocol_errors(payload: bytes) -> None:
    session = Session()
    with contextlib.suppress(ProtocolError):
        session.receive_data(b"GET /?" + payload + b" HTTP/1.1\r\nHost: h\r\n\r\n")
        session.receive_data(b"")
        list(session.events())
