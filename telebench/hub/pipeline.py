"""From decoded messages to the NDJSON lines the hub makes durable.

Every stored message gets the hub's fields (flespi's always-present keys): ``ident``,
``timestamp`` (the arrival time when the device sent none), ``server.timestamp``,
``channel.id``, ``protocol.name``, ``peer`` and ``device.id``.

Duplicates. A device that lost an ack resends the same records; they must not be stored
twice. A record's identity is a 64-bit hash of what the device sent (its JSON, before the
hub's fields), remembered in :class:`RecentMessages`, a bounded window of the
latest digests that the hub warms from the WAL at start-up. Compaction drops any duplicate
that slips past the window (a resend long after the window moved on).

Examples
--------
>>> origin = Origin(ident="1", device_id=7, channel_id=1, protocol="gt06", peer="127.0.0.1:5")
>>> recent = RecentMessages(capacity=10)
>>> payload, fresh = prepare([{"timestamp": 5.0, "position.speed": 12.0}], origin, 9.0, recent)
>>> payload.decode().strip()  # doctest: +NORMALIZE_WHITESPACE
'{"timestamp":5.0,"position.speed":12.0,"ident":"1","server.timestamp":9.0,"channel.id":1,"protocol.name":"gt06","peer":"127.0.0.1:5","device.id":7}'
>>> prepare([{"timestamp": 5.0, "position.speed": 12.0}], origin, 10.0, recent)
(b'', 0)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from telebench.hub.window import RecentMessages
from telebench.model import Message
from telebench.protocols import decode_raw, raw_bodies

__all__ = [
    "Origin",
    "RecentMessages",
    "assemble",
    "content_key",
    "finish",
    "hub_fields",
    "origin_fields",
    "prepare",
    "prepare_raw",
    "warm",
]

_SERVER_FIELDS: Final = b',"server.timestamp":'


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a batch of records came from."""

    ident: str
    device_id: int | None
    channel_id: int
    protocol: str
    peer: str


#: An origin's fields in :class:`Origin`'s order (see :func:`origin_fields`).
OriginFields = tuple[str, "int | None", int, str, str]


def content_key(line: bytes) -> int:
    """The key of a stored NDJSON line, the hub's fields stripped (for warming).

    It is the key :func:`prepare` gave the record: the hash of the JSON object's inside.

    >>> line = b'{"ident":"1","timestamp":5.0,"server.timestamp":9.0,"peer":"x"}'
    >>> content_key(line) == hash(b'"ident":"1","timestamp":5.0')
    True
    """
    cut = line.rfind(_SERVER_FIELDS)
    return hash(line[1:cut] if cut > 0 else line.rstrip()[1:-1])


def prepare(
    messages: Sequence[Message], origin: Origin, now: float, recent: RecentMessages
) -> tuple[bytes, int]:
    """NDJSON of the records not seen before, and how many there are.

    One ``orjson`` call encodes the whole packet; each record's key is the hash of its
    JSON (a 64-bit SipHash, the same for the same bytes within one process: the window is
    rebuilt by hashing the WAL at start-up), and the hub's fields are spliced in by one join.
    """
    return assemble(messages, origin.ident, hub_fields(origin_fields(origin)), now, recent)


def origin_fields(origin: Origin) -> OriginFields:
    """``origin`` as a plain tuple: how decoder processes receive it, and the cache's key.

    >>> origin_fields(Origin("1", None, 2, "gt06", "p"))
    ('1', None, 2, 'gt06', 'p')
    """
    return origin.ident, origin.device_id, origin.channel_id, origin.protocol, origin.peer


def hub_fields(fields: OriginFields) -> bytes:
    """The JSON that ends each record of an origin after ``server.timestamp``'s value.

    Encoded once per origin (a connection), not once per packet; ``fields`` is
    :func:`origin_fields` of the origin.

    >>> tail = hub_fields(("1", None, 2, "gt06", "p"))
    >>> tail
    b',"channel.id":2,"protocol.name":"gt06","peer":"p","device.id":null}'
    >>> hub_fields(origin_fields(Origin("1", None, 2, "gt06", "p"))) is tail
    True
    """
    tail = _tails.get(fields)
    if tail is None:
        if len(_tails) >= _TAILS_MAX:
            _tails.clear()
        _, device_id, channel_id, protocol, peer = fields
        encoded = {
            "channel.id": channel_id,
            "protocol.name": protocol,
            "peer": peer,
            "device.id": device_id,
        }
        tail = _tails[fields] = b"," + orjson.dumps(encoded)[1:]
    return tail


_tails: dict[OriginFields, bytes] = {}
_TAILS_MAX: Final = 1 << 16  # a connection's origin each: room for a big fleet


def assemble(
    messages: Sequence[Message], ident: str, tail: bytes, now: float, recent: RecentMessages
) -> tuple[bytes, int]:
    """:func:`prepare` with the origin's ident and :func:`hub_fields` given.

    ``server.timestamp`` is ``now`` as ``orjson`` writes it inside an object, so a record
    reads the same whichever path wrote it.
    """
    for message in messages:
        if message.get("timestamp") is None:
            message["timestamp"] = now
        if "ident" not in message:
            message["ident"] = ident
    return finish(_bodies(messages), tail, now, recent)


def prepare_raw(
    protocol: str,
    data: bytes,
    offset: int,
    ident: str | None,
    fields: OriginFields,
    now: float,
    recent: RecentMessages,
    *,
    compiled: bool = True,
) -> tuple[bytes, int]:
    """:func:`prepare` of records a session left undecoded (``RawRecords``' parts).

    Straight from bytes to JSON where the protocol has a compiled path
    (:func:`~telebench.protocols.raw_bodies`, the same bytes out), else decoded first;
    ``compiled=False`` always decodes first (the reference, for tests and benchmarks).
    ``ident`` is the one the session knew (``None``: the records carry theirs).
    Raises the :class:`~telebench.errors.RemoteProtocolError` the session would have.

    >>> from telebench.protocols.teltonika import build_avl_packet
    >>> packet = build_avl_packet(0x8E, [{"timestamp": 1.0}])
    >>> fields = ("1", 7, 1, "teltonika", "127.0.0.1:5")
    >>> payload, fresh = prepare_raw("teltonika", packet[8:-4], 8, "1", fields, 2.0,
    ...                              RecentMessages())
    >>> fresh, payload[:30]
    (1, b'{"ident":"1","timestamp":1.0,"')
    """
    tail = hub_fields(fields)
    if ident is not None and compiled:
        bodies = raw_bodies(protocol, data, ident_json=orjson.dumps(ident))
        if bodies is not None:
            return finish(bodies, tail, now, recent)
    messages = decode_raw(protocol, data, ident=ident, offset=offset)
    return assemble(messages, fields[0], tail, now, recent)


def finish(
    bodies: list[bytes], tail: bytes, now: float, recent: RecentMessages
) -> tuple[bytes, int]:
    """:func:`assemble` from the records' JSON without braces (``ident`` and ``timestamp``
    already in): resends dropped, the hub's fields spliced in.

    >>> finish([b'"ident":"1","timestamp":5.0'], b',"peer":"p"}', 9.0, RecentMessages())
    (b'{"ident":"1","timestamp":5.0,"server.timestamp":9.0,"peer":"p"}\\n', 1)
    """
    fresh = recent.add_many([hash(body) for body in bodies])
    if not all(fresh):
        bodies = [body for body, new in zip(bodies, fresh, strict=True) if new]
    if not bodies:
        return b"", 0
    suffix = _SERVER_FIELDS + orjson.dumps(now) + tail
    return b"{" + (suffix + b"\n{").join(bodies) + suffix + b"\n", len(bodies)


def _bodies(messages: Sequence[Message]) -> list[bytes]:
    """Each message's JSON without its braces, from one ``orjson`` call when that is exact.

    Records are flat objects, so each boundary in the array is one ``},{``; a count of
    exactly one fewer than the records means no string or nested value holds one.
    """
    inner = orjson.dumps(messages)[2:-2]
    bodies = inner.split(b"},{")
    if len(bodies) == len(messages):
        return bodies
    return [orjson.dumps(message)[1:-1] for message in messages]


def warm(recent: RecentMessages, payloads: Iterable[bytes]) -> int:
    """Remember the digests of already durable NDJSON payloads; returns how many."""
    count = 0
    for payload in payloads:
        for line in payload.splitlines():
            if line:
                recent.add(content_key(line))
                count += 1
    return count
