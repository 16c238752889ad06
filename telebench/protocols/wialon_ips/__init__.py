"""Wialon IPS 1.1 and 2.0 (Gurtam's open text protocol), protocols.md §4.

ASCII lines ``#TYPE#body\\r\\n`` over TCP (or one per UDP datagram, prefixed by the IMEI):
login ``#L#``, short and extended data ``#SD#`` / ``#D#``, black box ``#B#``, ping
``#P#`` and driver messages ``#M#``; version 2.0 adds a CRC-16/ARC to each line.

* :mod:`~telebench.protocols.wialon_ips.framing`: cutting lines and datagrams;
* :mod:`~telebench.protocols.wialon_ips.fields` / :mod:`~telebench.protocols.wialon_ips.formats`:
  the field codecs (time, coordinates, numbers, params) and their rules;
* :mod:`~telebench.protocols.wialon_ips.packets`: ``parse_*`` / ``build_*`` per packet;
* :mod:`~telebench.protocols.wialon_ips.session`: the state machine for both roles.

Examples
--------
>>> decode_payload(b"#L#123456789012345;test\\r\\n#SD#270413;205601;5544.6025;N;"
...                b"03739.6834;E;1;2;3;4\\r\\n", ident=None, transport="tcp",
...                on_bad_checksum="raise")[0]["ident"]
'123456789012345'
"""

from __future__ import annotations

from typing import Literal

from telebench.model import Message
from telebench.protocols._session import decode_stream
from telebench.protocols.wialon_ips.packets import (
    LoginPacket,
    build_answer,
    build_black_box,
    build_data,
    build_login,
    build_message,
    build_ping,
    build_short_data,
    build_udp,
    parse_black_box,
    parse_data,
    parse_login,
    parse_message,
    parse_short_data,
)
from telebench.protocols.wialon_ips.session import WialonSession

__all__ = [
    "LoginPacket",
    "Session",
    "WialonSession",
    "build_answer",
    "build_black_box",
    "build_data",
    "build_login",
    "build_message",
    "build_ping",
    "build_short_data",
    "build_udp",
    "decode_payload",
    "parse_black_box",
    "parse_data",
    "parse_login",
    "parse_message",
    "parse_short_data",
]

Session = WialonSession


def decode_payload(
    payload: bytes,
    *,
    ident: str | None,
    transport: str,
    on_bad_checksum: Literal["raise", "flag"],
) -> list[Message]:
    """The messages of Wialon IPS lines (TCP, several in a row) or of one UDP datagram.

    A login or ping yields ``[]``; a login's IMEI (or the UDP prefix) becomes the
    messages' ``ident``, else ``ident``. A packet with a bad field raises its
    :class:`~telebench.errors.MalformedPacketError`.

    Examples
    --------
    >>> decode_payload(b"2.0;99#P#", ident=None, transport="udp", on_bad_checksum="raise")
    []
    """
    session = WialonSession(transport=transport, on_bad_checksum=on_bad_checksum, ident=ident)
    return decode_stream(session, payload)
