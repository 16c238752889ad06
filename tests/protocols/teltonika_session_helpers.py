"""Shared by the Teltonika session tests: a sample record, its packets, feeding a session."""

from __future__ import annotations

from telebench.model import Message
from telebench.protocols.events import Event
from telebench.protocols.teltonika import Session
from telebench.protocols.teltonika.packets import (
    build_avl_packet,
    build_imei_message,
    build_udp_datagram,
)

IMEI = "356307042441013"
LOGIN = build_imei_message(IMEI)
MSG: Message = {
    "timestamp": 1767225600.5,
    "event.priority.enum": 1,
    "position.longitude": 25.2797,
    "position.latitude": 54.6872,
    "position.altitude": -12,
    "position.direction": 45,
    "position.satellites": 11,
    "position.speed": 42,
    "event.enum": 0,
    "engine.ignition.status": True,
    "external.powersource.voltage": 13.812,
    "y.acceleration": -0.222,
    "din.1": True,
    "din.3": True,
    "dout.2": False,
}
DECODED: Message = {
    **MSG,
    "ident": IMEI,
    "position.valid": True,
    "din": 5,
    "dout": 0,
}
PACKET_8E = build_avl_packet(0x8E, [MSG, MSG])
BAD_CRC = PACKET_8E[:-1] + bytes([PACKET_8E[-1] ^ 1])


def events_of(session: Session, *chunks: bytes) -> list[Event]:
    for chunk in chunks:
        session.receive_data(chunk)
    return list(session.events())


def datagram(*messages: Message, avl_packet_id: int = 7, codec: int = 0x8E) -> bytes:
    return build_udp_datagram(
        codec, list(messages), imei=IMEI, packet_id=0xCAFE, avl_packet_id=avl_packet_id
    )
