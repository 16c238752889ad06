"""Sans-IO tracker protocol codecs: bytes in, events out, reply bytes returned.

One sub-package per protocol (``teltonika``, ``wialon_ips``, ``gt06``, ``osmand``), each
with the same layout: ``framing`` (bytes to frames), ``packets`` (pure ``parse_*`` /
``build_*`` per packet type) and ``session`` (the state machine, see
:mod:`telebench.protocols._session`). Each package exposes ``decode_payload`` and a
``Session`` class; this module dispatches to them by protocol key.

Examples
--------
>>> from telebench.protocols import decode
>>> decode("wialon_ips", b"#L#123456789012345;test\\r\\n")
[]
>>> msgs = decode("wialon_ips", b"#SD#270413;205601;5544.6025;N;03739.6834;E;1;2;3;4\\r\\n",
...               ident="123456789012345")
>>> msgs[0]["position.latitude"], msgs[0]["timestamp"]
(55.743375, 1367096161.0)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Final, Literal, cast

from telebench.errors import ConfigError
from telebench.model import Message
from telebench.protocols._session import ChecksumPolicy, Role, Session, State
from telebench.protocols.events import RawRecords

__all__ = [
    "PROTOCOLS",
    "ChecksumPolicy",
    "Role",
    "Session",
    "State",
    "Transport",
    "decode",
    "decode_raw",
    "decode_records",
    "new_session",
    "protocol_module",
    "raw_bodies",
]

Transport = Literal["tcp", "udp", "http"]

#: Protocol key -> transports it supports. The key names the sub-package, the vector file,
#: the CLI flag and the Parquet partition.
PROTOCOLS: Final[dict[str, tuple[Transport, ...]]] = {
    "teltonika": ("tcp", "udp"),
    "wialon_ips": ("tcp", "udp"),
    "gt06": ("tcp",),
    "osmand": ("http",),
}


def protocol_module(protocol: str) -> ModuleType:
    """The codec package of ``protocol``; raises ``ConfigError`` naming the known keys.

    Examples
    --------
    >>> protocol_module("gt06").__name__
    'telebench.protocols.gt06'
    """
    if protocol not in PROTOCOLS:
        known = ", ".join(sorted(PROTOCOLS))
        raise ConfigError(f"unknown protocol {protocol!r}; known protocols: {known}")
    return importlib.import_module(f"telebench.protocols.{protocol}")


def _check_transport(protocol: str, transport: str) -> None:
    if transport not in PROTOCOLS[protocol]:
        allowed = ", ".join(PROTOCOLS[protocol])
        raise ConfigError(
            f"protocol {protocol!r} does not run over {transport!r}; it supports: {allowed}"
        )


def decode(
    protocol: str,
    payload: bytes,
    *,
    ident: str | None = None,
    transport: Transport | None = None,
    on_bad_checksum: Literal["raise", "flag"] = "raise",
) -> list[Message]:
    """Decode the messages one frame, datagram, line or HTTP request carries.

    Several complete frames in a row are decoded too (a capture of one connection).
    A login or ping yields ``[]``; a status heartbeat that carries parameters (GT06 0x13)
    yields its message (without ``timestamp``: the device sends none). A login's ident is
    applied to the messages after it, and ``ident`` supplies it when the payload has none.

    Parameters
    ----------
    protocol:
        ``teltonika``, ``wialon_ips``, ``gt06`` or ``osmand``.
    payload:
        The raw bytes (for OsmAnd: the whole HTTP request, or just its query string).
    ident:
        Device ident for frames that do not carry one.
    transport:
        ``tcp`` (default for binary and text protocols), ``udp`` or ``http``.
    on_bad_checksum:
        ``raise`` a :class:`~telebench.errors.ChecksumError`, or ``flag`` the messages with
        ``checksum.valid = False``.

    Raises
    ------
    telebench.errors.RemoteProtocolError
        On malformed input, naming the protocol, the byte offset and a hex excerpt.

    Examples
    --------
    >>> frame = bytes.fromhex("78780A134401040001000508450D0A")
    >>> decode("gt06", frame, ident="353413532150362")[0]["gsm.signal.level"]
    4
    """
    module = protocol_module(protocol)
    chosen: Transport = transport or PROTOCOLS[protocol][0]
    _check_transport(protocol, chosen)
    decoder = cast(Callable[..., list[Message]], module.decode_payload)
    return decoder(payload, ident=ident, transport=chosen, on_bad_checksum=on_bad_checksum)


def new_session(
    protocol: str,
    role: Role = Role.SERVER,
    *,
    transport: Transport | None = None,
    options: Mapping[str, object] | None = None,
) -> Session:
    """Create a session for ``protocol`` (server role: the hub's; client role: a device's).

    ``options`` are the protocol's own session options (Teltonika ``codec``, Wialon IPS
    ``version``, GT06 ``location_protocol``, and the common ``max_frame_size``,
    ``on_bad_checksum``, ``ident``).

    Examples
    --------
    >>> s = new_session("wialon_ips")
    >>> s.receive_data(b"#L#123456789012345;test\\r\\n")
    >>> [type(e).__name__ for e in s.events()]
    ['Identified']
    """
    module = protocol_module(protocol)
    chosen: Transport = transport or PROTOCOLS[protocol][0]
    _check_transport(protocol, chosen)
    factory = cast("Callable[..., Session]", module.Session)
    return factory(role, transport=chosen, **(options or {}))


def decode_records(event: RawRecords) -> list[Message]:
    """Decode the records a session left undecoded (``defer_records``), by its protocol.

    A pure function of the event, so it runs anywhere, another process included, and
    raises the same :class:`~telebench.errors.RemoteProtocolError` the session would have.

    Examples
    --------
    >>> from telebench.protocols.teltonika import build_avl_packet
    >>> server = new_session("teltonika", options={"defer_records": True})
    >>> server.receive_data(bytes.fromhex("000F333536333037303432343431303133"))
    >>> login = list(server.events())
    >>> server.receive_data(build_avl_packet(0x8E, [{"timestamp": 1.0, "position.speed": 3.0}]))
    >>> [raw] = server.events()
    >>> raw.count, decode_records(raw)[0]["position.speed"]
    (1, 3)
    """
    return decode_raw(event.protocol, event.data, ident=event.ident, offset=event.offset)


RecordsDecoder = Callable[..., list[Message]]
_raw_decoders: dict[str, RecordsDecoder] = {}


def decode_raw(protocol: str, data: bytes, *, ident: str | None, offset: int) -> list[Message]:
    """:func:`decode_records` of a packet's parts, for callers that have no event.

    The decoder process's path: an event, a module lookup and a ``typing.cast`` generic
    built at run time cost it about 4 µs a packet, some 5% of its work on a packet.

    >>> decode_raw("teltonika", bytes.fromhex("080100"), ident="1", offset=8)
    Traceback (most recent call last):
    ...
    telebench.errors.MalformedPacketError: teltonika: ...
    """
    decoder = _raw_decoders.get(protocol)
    if decoder is None:
        module = protocol_module(protocol)
        decoder = _raw_decoders[protocol] = cast("RecordsDecoder", module.decode_raw_records)
    return decoder(data, ident=ident, offset=offset)


BodiesEncoder = Callable[[bytes, "bytes | None"], "list[bytes] | None"]
_raw_encoders: dict[str, BodiesEncoder | None] = {}


def raw_bodies(protocol: str, data: bytes, *, ident_json: bytes | None) -> list[bytes] | None:
    """Each record of :func:`decode_raw`'s packet as JSON without braces, or ``None``.

    A protocol may offer a compiled path straight from bytes to JSON (Teltonika does,
    ``raw_record_bodies``); its output is byte for byte ``orjson`` of :func:`decode_raw`'s
    messages, ``ident`` (given as JSON) first. ``None`` says: take :func:`decode_raw`
    (no such path, or a packet it does not cover, malformed ones included).

    >>> data = bytes.fromhex("08010000016B40D9AD800100000000000000000000000000000001"
    ...                      "03021503010101425E10000001")
    >>> bodies = raw_bodies("teltonika", data, ident_json=b'"1"')
    >>> bodies is None or bodies[0].startswith(b'"ident":"1","timestamp":1560161136.0,')
    True
    >>> raw_bodies("gt06", b"", ident_json=None) is None
    True
    """
    if protocol not in _raw_encoders:
        found = getattr(protocol_module(protocol), "raw_record_bodies", None)
        _raw_encoders[protocol] = cast("BodiesEncoder | None", found)
    encoder = _raw_encoders[protocol]
    return None if encoder is None else encoder(data, ident_json)
