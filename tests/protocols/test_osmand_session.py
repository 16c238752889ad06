"""OsmAnd HTTP session: framing, answers, pipelining, commands and errors."""

from __future__ import annotations

import pytest

from telebench.errors import FrameTooLargeError, FramingError, LocalProtocolError
from telebench.protocols import Role, new_session
from telebench.protocols.events import (
    Accept,
    ConnectionClosed,
    Records,
    Refuse,
    Rejected,
    SendCommand,
)
from telebench.protocols.osmand import Session, decode_payload
from tests.vectors import chunkings

GET = b"GET /?id=42&timestamp=1377177267&lat=60.0&lon=30.0&speed=10 HTTP/1.1\r\nHost: hub\r\n\r\n"
JSON_BODY = (
    b'{"device_id":"9","location":{"timestamp":"2021-07-21T08:06:34Z","coords":{"speed":-1}}}'
)
POST = (
    b"POST / HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(JSON_BODY)).encode() + b"\r\n\r\n" + JSON_BODY
)


@pytest.mark.parametrize(("name", "chunks"), list(chunkings(GET)))
def test_get_in_any_chunking(name: str, chunks: list[bytes]) -> None:
    session = Session()
    events = []
    for chunk in chunks:
        session.receive_data(chunk)
        events.extend(session.events())
    [event] = events
    assert isinstance(event, Records)
    assert event.messages[0] == {
        "ident": "42",
        "timestamp": 1377177267.0,
        "position.latitude": 60.0,
        "position.longitude": 30.0,
        "position.speed": 18.52,
        "position.valid": True,
    }
    assert session.send(Accept()) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: text/plain\r\n\r\n"
    )


def test_pipelined_requests_wait_for_the_answer() -> None:
    session = Session()
    session.receive_data(GET + POST)
    first = list(session.events())
    assert len(first) == 1  # the second request waits until the first is answered
    session.send(Accept())
    [second] = list(session.events())
    assert isinstance(second, Records)
    msg = second.messages[0]
    assert msg["ident"] == "9"
    assert "position.speed" not in msg  # negative speed means unknown


def test_missing_id_is_rejected_with_400_and_reason() -> None:
    session = Session()
    session.receive_data(b"GET /?lat=1&lon=2 HTTP/1.1\r\nHost: hub\r\n\r\n")
    [event] = list(session.events())
    assert isinstance(event, Rejected)
    assert event.code == "400"
    with pytest.raises(LocalProtocolError, match="only be refused"):
        session.send(Accept())


def test_refuse_answers_status_code() -> None:
    session = Session()
    session.receive_data(GET)
    list(session.events())
    assert session.send(Refuse(code="404")).startswith(b"HTTP/1.1 404 Not Found\r\n")


def test_rejected_answer_carries_the_reason() -> None:
    session = Session()
    session.receive_data(b"GET /?id=1&lat=north HTTP/1.1\r\nHost: hub\r\n\r\n")
    [event] = list(session.events())
    assert isinstance(event, Rejected)
    reply = session.send(Refuse())
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert reply.endswith(b"not a number (lat='north')")


def test_queued_command_rides_on_the_next_200() -> None:
    session = Session()
    assert session.send(SendCommand(text="reboot")) == b""
    session.receive_data(GET)
    list(session.events())
    assert session.send(Accept()).endswith(b"\r\n\r\nreboot")


def test_garbage_raises_framing_error() -> None:
    session = Session()
    session.receive_data(b"\x00\x01\x02 not http\r\n\r\n")
    with pytest.raises(FramingError, match="bad HTTP request"):
        list(session.events())


def test_eof_inside_a_request_is_a_framing_error() -> None:
    session = Session()
    session.receive_data(b"POST / HTTP/1.1\r\nHost: hub\r\nContent-Length: 10\r\n\r\n{}")
    session.receive_data(b"")
    with pytest.raises(FramingError):
        list(session.events())


def test_clean_close() -> None:
    session = Session()
    session.receive_data(b"")
    assert [type(e) for e in session.events()] == [ConnectionClosed]


def test_oversize_body_refused_before_buffering_it_whole() -> None:
    session = Session(max_frame_size=100)
    session.receive_data(b"POST / HTTP/1.1\r\nHost: hub\r\nContent-Length: 5000\r\n\r\n")
    session.receive_data(b"x" * 200)
    with pytest.raises(FrameTooLargeError, match="exceeds the maximum of 100"):
        list(session.events())


def test_no_client_role() -> None:
    with pytest.raises(LocalProtocolError, match="decode-only"):
        new_session("osmand", Role.CLIENT)


def test_decode_payload_reads_form_posts_and_bare_queries() -> None:
    form = b"POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nid=3&batt=50"
    assert decode_payload(form, ident=None, transport="http", on_bad_checksum="raise") == [
        {"ident": "3", "battery.level": 50.0}
    ]
    assert decode_payload(b"?lat=1&lon=2", ident="x", transport="http", on_bad_checksum="raise")[0][
        "ident"
    ] == ("x")
