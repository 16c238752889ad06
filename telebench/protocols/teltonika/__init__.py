"""Teltonika FM devices: Codec 8, 8 Extended and 16 AVL data, Codec 12/13/14 commands.

Protocols.md §3. TCP (IMEI login, ``00000000``-framed packets with a CRC-16/ARC) and UDP
(one AVL packet per datagram, no CRC). Modules: :mod:`.framing` (cutting TCP frames, the
packet envelope), :mod:`.avl` (records of Codec 8/8E/16), :mod:`.avl_json` (the same
records straight to JSON, in C), :mod:`.io_elements` (the AVL id table from the parameter
registry), :mod:`.commands` (Codec 12/13/14), :mod:`.packets`
(every packet's ``build_*``/``parse_*`` and the dispatch table) and :mod:`.session`.

Examples
--------
>>> payload = bytes.fromhex(
...     "000000000000002808010000016B40D9AD80010000000000000000000000000000000103021503010101"
...     "425E10000001"
...     "0000F22A")
>>> [msg] = decode_payload(payload, ident="356307042441013", transport="tcp",
...                        on_bad_checksum="raise")
>>> msg["ident"], msg["timestamp"], msg["external.powersource.voltage"]
('356307042441013', 1560161136.0, 24.08)
"""

from __future__ import annotations

from typing import Literal

from telebench.model import Message
from telebench.protocols._session import decode_stream
from telebench.protocols.teltonika.avl import build_avl_data, parse_avl_data
from telebench.protocols.teltonika.avl_json import record_bodies as raw_record_bodies
from telebench.protocols.teltonika.commands import (
    Command,
    build_codec12,
    build_codec13,
    build_codec14,
    parse_command,
)
from telebench.protocols.teltonika.packets import (
    build_avl_packet,
    build_imei_message,
    build_records_ack,
    build_udp_ack,
    build_udp_datagram,
    parse_udp_datagram,
)
from telebench.protocols.teltonika.session import TeltonikaSession

__all__ = [
    "Command",
    "Session",
    "TeltonikaSession",
    "build_avl_data",
    "build_avl_packet",
    "build_codec12",
    "build_codec13",
    "build_codec14",
    "build_imei_message",
    "build_records_ack",
    "build_udp_ack",
    "build_udp_datagram",
    "decode_payload",
    "decode_raw_records",
    "parse_avl_data",
    "parse_command",
    "parse_udp_datagram",
    "raw_record_bodies",
]

Session = TeltonikaSession


def decode_payload(
    payload: bytes,
    *,
    ident: str | None,
    transport: str,
    on_bad_checksum: Literal["raise", "flag"],
) -> list[Message]:
    """The messages of TCP frames in a row (login, packets, pings) or of one UDP datagram.

    A login yields no message but names the ident of the packets after it; ``ident``
    names it when there is no login. Command frames carry no messages (``[]``). A packet
    that cannot be accepted raises its error.

    Examples
    --------
    >>> decode_payload(bytes.fromhex("000F333536333037303432343431303133"), ident=None,
    ...                transport="tcp", on_bad_checksum="raise")
    []
    """
    session = TeltonikaSession(transport=transport, on_bad_checksum=on_bad_checksum, ident=ident)
    return decode_stream(session, payload)


def decode_raw_records(data: bytes, *, ident: str | None, offset: int) -> list[Message]:
    """The messages of a ``RawRecords`` event's AVL data (codec id .. number of data 2).

    Raises :class:`~telebench.errors.MalformedPacketError` as the inline decoder would.

    Examples
    --------
    >>> decode_raw_records(bytes.fromhex("080100"), ident="1", offset=8)
    Traceback (most recent call last):
    ...
    telebench.errors.MalformedPacketError: teltonika: ...
    """
    return parse_avl_data(data, ident=ident, offset=offset)
