"""Shared by the GT06 session tests: sample frames and feeding a session."""

from __future__ import annotations

from telebench.protocols.events import Event
from telebench.protocols.gt06 import Session, build_frame

IMEI = "123456789012345"
LOGIN = bytes.fromhex("78780D01012345678901234500018CDD0D0A")
LOCATION_22 = bytes.fromhex(
    "787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A"
)


def events(session: Session, data: bytes) -> list[Event]:
    session.receive_data(data)
    return list(session.events())


def corrupt_crc(frame: bytes) -> bytes:
    return frame[:-4] + bytes((frame[-4] ^ 0xFF,)) + frame[-3:]


def unsupported(serial: int = 9) -> bytes:
    return build_frame(0x8A, b"", serial)  # time request (GK310): not handled
