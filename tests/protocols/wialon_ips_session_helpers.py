"""Shared by the Wialon IPS session tests: sample lines, v2.0 CRCs, feeding a session."""

from __future__ import annotations

from telebench.protocols.events import Accept, Event
from telebench.protocols.wialon_ips import Session
from telebench.protocols.wialon_ips.packets import crc_text

IMEI = "868204002602414"
LOGIN_V1 = b"#L#123456789012345;test\r\n"
LOGIN_V2 = b"#L#2.0;868204002602414;NA;8E08\r\n"
SD_V1 = b"#SD#270413;205601;5544.6025;N;03739.6834;E;1;2;3;4\r\n"
D_BODY = "270413;205601;5544.6025;N;03739.6834;E;1;2;3;4;0.0;0;0;14.77,0.02,3.6;NA;fuel:2:45.8"


def v2(kind: str, body: str, sep: str = ";") -> bytes:
    """A v2.0 line with a correct CRC."""
    covered = (body + sep).encode()
    return f"#{kind}#".encode() + covered + crc_text(covered).encode() + b"\r\n"


def events(session: Session, *chunks: bytes) -> list[Event]:
    out: list[Event] = []
    for chunk in chunks:
        session.receive_data(chunk)
        out.extend(session.events())
    return out


def logged_in(login: bytes = LOGIN_V2, **kw: object) -> Session:
    session = Session(**kw)  # type: ignore[arg-type]
    events(session, login)
    assert session.send(Accept()) == b"#AL#1\r\n"
    return session


def one(session: Session, data: bytes) -> Event:
    [event] = events(session, data)
    return event
