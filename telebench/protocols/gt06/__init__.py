"""GT06 / Concox binary protocol over TCP, both roles (protocols.md §5).

``framing`` cuts and builds frames, ``location`` maps the GPS/LBS/status blocks to
message parameters, ``packets`` holds one ``parse_*``/``build_*`` pair per packet type
(the command pair in ``commands``) and ``session`` the state machine.

Examples
--------
>>> frame = bytes.fromhex("78780A134401040001000508450D0A")
>>> decode_payload(frame, ident="353413532150362", transport="tcp",
...                on_bad_checksum="raise")[0]["gsm.signal.level"]
4
"""

from __future__ import annotations

from typing import Literal

from telebench.errors import ConfigError
from telebench.model import Message
from telebench.protocols._session import decode_stream
from telebench.protocols.gt06.framing import build_frame, build_reply
from telebench.protocols.gt06.packets import (
    CommandText,
    LoginInfo,
    build_alarm,
    build_command,
    build_command_reply,
    build_location_12,
    build_location_22,
    build_login,
    build_status,
    parse_alarm,
    parse_command,
    parse_location_12,
    parse_location_22,
    parse_login,
    parse_status,
)
from telebench.protocols.gt06.session import Gt06Session

__all__ = [
    "CommandText",
    "LoginInfo",
    "Session",
    "build_alarm",
    "build_command",
    "build_command_reply",
    "build_frame",
    "build_location_12",
    "build_location_22",
    "build_login",
    "build_reply",
    "build_status",
    "decode_payload",
    "parse_alarm",
    "parse_command",
    "parse_location_12",
    "parse_location_22",
    "parse_login",
    "parse_status",
]

Session = Gt06Session


def decode_payload(
    payload: bytes,
    *,
    ident: str | None,
    transport: str,
    on_bad_checksum: Literal["raise", "flag"],
) -> list[Message]:
    """The messages of one or more GT06 frames in a row (a capture of one connection).

    Logins yield no message but set the ident of the messages after them; ``ident``
    supplies it before any login. Status packets (0x13) yield their status message.

    Examples
    --------
    >>> frames = bytes.fromhex("78780D01012345678901234500018CDD0D0A"
    ...     "78781F120B081D112E10CF027AC7EB0C46584900148F01CC00287D001FB8000380810D0A")
    >>> [m["ident"] for m in decode_payload(frames, ident=None, transport="tcp",
    ...                                     on_bad_checksum="raise")]
    ['123456789012345']
    """
    if transport != "tcp":
        raise ConfigError(f"gt06 runs over tcp, not {transport!r}")
    session = Gt06Session(ident=ident, on_bad_checksum=on_bad_checksum)
    return decode_stream(session, payload)
