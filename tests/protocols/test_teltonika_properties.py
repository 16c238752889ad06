"""Teltonika properties: decode(encode(m)) == m for every packet type; garbage and mutated
frames raise only our protocol errors.

Messages are generated from raw wire values (``value = raw / divisor``), so they sit on
the wire resolution and the round trip is exact.
"""

from __future__ import annotations

import contextlib
import string
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from telebench.errors import MalformedPacketError, ProtocolError
from telebench.model import Message
from telebench.params import teltonika_io_sources
from telebench.protocols import Role
from telebench.protocols.events import Accept, Login, Records, SendRecords
from telebench.protocols.teltonika import (
    Command,
    Session,
    build_avl_data,
    decode_payload,
    parse_avl_data,
    parse_command,
    parse_udp_datagram,
)
from telebench.protocols.teltonika.commands import build_command_data
from telebench.protocols.teltonika.framing import build_tcp_frame
from telebench.protocols.teltonika.packets import (
    build_imei_message,
    build_records_ack,
    build_udp_ack,
    build_udp_datagram,
    parse_imei_message,
    parse_records_ack,
    parse_udp_ack,
)

IMEI = "356307042441013"
REGISTRY = {avl_id: (param, src) for avl_id, param, src in teltonika_io_sources()}
DIN = {"din.1": 1, "din.2": 2, "din.3": 4}
DOUT = {"dout.1": 1, "dout.2": 2}


def blobs(max_size: int) -> st.SearchStrategy[bytes]:
    """Bytes drawn as integers: with ``python -bb``, Hypothesis's choice cache warns when a
    bytes choice meets an int choice at the same position of another run."""
    return st.lists(st.integers(0, 255), max_size=max_size).map(bytes)


def _scaled(raw: int, divisor: int) -> int | float:
    return raw / divisor if divisor != 1 else raw


def _io_value(avl_id: int) -> st.SearchStrategy[Any]:
    """Values of one registry parameter, on its wire resolution."""
    param, src = REGISTRY[avl_id]
    if param.type == "boolean":
        return st.booleans()
    if param.type == "string":
        if param.name == "vehicle.vin":
            return st.text(alphabet=string.ascii_uppercase + string.digits, max_size=20)
        return blobs(40).map(lambda b: b.hex().upper())
    assert src.size is not None
    bits = 8 * src.size
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if src.signed else (0, (1 << bits) - 1)
    return st.integers(low, high).map(lambda raw: _scaled(raw, src.divisor))


def _is_variable(avl_id: int) -> bool:
    return REGISTRY[avl_id][1].size not in (1, 2, 4, 8)


@st.composite
def records(draw: st.DrawFn, codec: int) -> Message:
    """A message the codec can carry; its IO spans every registry kind."""
    max_id = 0xFF if codec == 0x08 else 0xFFFF
    msg: Message = {
        "timestamp": draw(st.integers(0, 1 << 42)) / 1000,
        "event.priority.enum": draw(st.integers(0, 255)),
        "position.longitude": draw(st.integers(-(1 << 31), (1 << 31) - 1)) / 10**7,
        "position.latitude": draw(st.integers(-(1 << 31), (1 << 31) - 1)) / 10**7,
        "position.altitude": draw(st.integers(-(1 << 15), (1 << 15) - 1)),
        "position.direction": draw(st.integers(0, 0xFFFF)),
        "position.satellites": draw(st.integers(0, 255)),
        "position.speed": draw(st.integers(0, 0xFFFF)),
        "event.enum": draw(st.integers(0, max_id)),
    }
    if codec == 0x10:
        msg["event.generation.enum"] = draw(st.integers(0, 255))
    usable = sorted(i for i in REGISTRY if i <= max_id and (codec == 0x8E or not _is_variable(i)))
    for avl_id in draw(st.lists(st.sampled_from(usable), max_size=12, unique=True)):
        msg[REGISTRY[avl_id][0].name] = draw(_io_value(avl_id))
    unknown = st.integers(0, max_id).filter(lambda i: i not in REGISTRY)
    for avl_id in draw(st.lists(unknown, max_size=4, unique=True)):
        if codec == 0x8E and draw(st.booleans()):
            msg[f"custom.param.{avl_id}"] = draw(blobs(20)).hex().upper()
        else:
            msg[f"custom.param.{avl_id}"] = draw(st.integers(0, (1 << 64) - 1))
    return msg


def decoded(msg: Message, ident: str | None = None) -> Message:
    """What decoding ``msg`` must give: the message plus the derived keys."""
    out = dict(msg)
    if ident is not None:
        out["ident"] = ident
    out["position.valid"] = msg["position.satellites"] != 0
    for mask, bits in (("din", DIN), ("dout", DOUT)):
        if any(name in msg for name in bits):
            out[mask] = sum(bit for name, bit in bits.items() if msg.get(name))
    return out


CODECS = st.sampled_from([0x08, 0x8E, 0x10])


@given(st.data())
def test_avl_data_round_trip(data: st.DataObject) -> None:
    codec = data.draw(CODECS)
    msgs = data.draw(st.lists(records(codec), min_size=1, max_size=4))
    assert parse_avl_data(build_avl_data(codec, msgs)) == [decoded(m) for m in msgs]


@given(st.data())
def test_tcp_session_round_trip(data: st.DataObject) -> None:
    codec = data.draw(CODECS)
    msgs = tuple(data.draw(st.lists(records(codec), min_size=1, max_size=3)))
    client, server = Session(Role.CLIENT, codec=codec), Session()
    server.receive_data(client.send(Login(ident=IMEI)))
    [_login] = server.events()
    client.receive_data(server.send(Accept()))
    list(client.events())
    server.receive_data(client.send(SendRecords(messages=msgs)))
    assert list(server.events()) == [Records(messages=tuple(decoded(m, IMEI) for m in msgs))]


@given(
    st.data(),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFF),
    st.from_regex(r"[0-9]{1,20}", fullmatch=True),
)
def test_udp_datagram_round_trip(
    data: st.DataObject, packet_id: int, avl_packet_id: int, imei: str
) -> None:
    codec = data.draw(CODECS)
    msgs = data.draw(st.lists(records(codec), min_size=1, max_size=3))
    dgram = build_udp_datagram(
        codec, msgs, imei=imei, packet_id=packet_id, avl_packet_id=avl_packet_id
    )
    header, got = parse_udp_datagram(dgram)
    assert (header.packet_id, header.avl_packet_id, header.imei) == (packet_id, avl_packet_id, imei)
    assert got == [decoded(m, imei) for m in msgs]
    assert parse_udp_ack(build_udp_ack(packet_id, avl_packet_id, len(msgs))) == (
        packet_id,
        avl_packet_id,
        len(msgs),
    )


latin1 = st.text(alphabet=st.characters(max_codepoint=255), max_size=300)


@given(
    st.sampled_from([0x0C, 0x0D, 0x0E]),
    st.sampled_from([0x05, 0x06, 0x11]),
    latin1,
    st.from_regex(r"[1-9][0-9]{14}", fullmatch=True),
    st.integers(0, 0xFFFFFFFF),
)
def test_command_round_trip(codec: int, type_: int, text: str, imei: str, ts: int) -> None:
    data = build_command_data(codec, type_, text, imei=imei, timestamp=ts)
    assert parse_command(data) == Command(
        codec=codec,
        type=type_,
        text=text,
        imei=imei if codec == 0x0E else None,
        timestamp=ts if codec == 0x0D else None,
    )


@given(st.from_regex(r"[0-9]{1,32}", fullmatch=True), st.integers(0, 0xFFFFFFFF))
def test_login_and_ack_round_trip(imei: str, count: int) -> None:
    assert parse_imei_message(build_imei_message(imei)) == imei
    assert parse_records_ack(build_records_ack(count)) == count


# --- garbage only ever raises ProtocolError ---------------------------------------------------


def drain(session: Session, *chunks: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        for chunk in chunks:
            session.receive_data(chunk)
            for _event in session.events():
                if session.pending:
                    session.send(Accept() if isinstance(_event, Records) else _refuse())
        session.receive_data(b"")
        list(session.events())


def _refuse() -> Any:
    from telebench.protocols.events import Refuse

    return Refuse()


@given(st.binary(max_size=300), st.sampled_from(["tcp", "udp"]))
def test_random_bytes_raise_only_protocol_errors(payload: bytes, transport: str) -> None:
    drain(Session(transport=transport), payload)
    drain(Session(transport=transport), b"\x00\x0f" + IMEI.encode() + payload)
    drain(Session(transport=transport), b"\x00\x00\x00\x00" + payload)
    drain(Session(Role.CLIENT, transport=transport, ident=IMEI), payload)
    with contextlib.suppress(ProtocolError):
        decode_payload(payload, ident=None, transport=transport, on_bad_checksum="flag")


@given(st.binary(max_size=300))
def test_random_answers_to_a_client_raise_only_protocol_errors(payload: bytes) -> None:
    client = Session(Role.CLIENT)
    client.send(Login(ident=IMEI))
    drain(client, payload)
    client = Session(Role.CLIENT, ident=IMEI)
    client.send(SendRecords(messages=({"timestamp": 0.0},)))
    drain(client, payload)


def _mutate(data: st.DataObject, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        at = data.draw(st.integers(0, max(0, len(out) - 1)))
        if kind == "flip" and out:
            out[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "insert":
            out.insert(at, data.draw(st.integers(0, 255)))
        elif out:
            del out[at]
    return bytes(out)


@given(st.data())
def test_mutated_frames_raise_only_protocol_errors(data: st.DataObject) -> None:
    codec = data.draw(CODECS)
    msgs = data.draw(st.lists(records(codec), min_size=1, max_size=3))
    avl = build_avl_data(codec, msgs)
    mutated = _mutate(data, avl)
    with contextlib.suppress(MalformedPacketError):
        parse_avl_data(mutated)
    # Re-framed with a valid length and CRC, the mutation reaches the record parser.
    drain(Session(), build_tcp_frame(mutated))
    drain(Session(), _mutate(data, build_tcp_frame(avl)))
    dgram = build_udp_datagram(codec, msgs, imei=IMEI, packet_id=1, avl_packet_id=2)
    drain(Session(transport="udp"), _mutate(data, dgram))
    command = build_tcp_frame(_mutate(data, build_command_data(0x0E, 0x05, "getver", imei=IMEI)))
    drain(Session(Role.CLIENT, ident=IMEI), command)
    drain(Session(), command)
