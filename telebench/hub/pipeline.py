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

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from telebench.model import Message

__all__ = ["Origin", "RecentMessages", "content_key", "prepare", "warm"]

_SERVER_FIELDS: Final = b',"server.timestamp":'


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a batch of records came from."""

    ident: str
    device_id: int | None
    channel_id: int
    protocol: str
    peer: str


class RecentMessages:
    """A bounded set of the latest record digests (oldest forgotten first).

    >>> recent = RecentMessages(capacity=2)
    >>> [recent.add(k) for k in (1, 2, 1, 3, 1)]
    [True, True, False, True, True]
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self._keys: set[int] = set()
        self._order: deque[int] = deque()

    def add(self, key: int) -> bool:
        """Remember ``key``; ``False`` if it was already in the window (a duplicate)."""
        if key in self._keys:
            return False
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self.capacity:
            self._keys.discard(self._order.popleft())
        return True

    def add_many(self, keys: list[int]) -> list[bool]:
        """:meth:`add` each key in order; which were new (one set operation when all are).

        >>> RecentMessages(capacity=3).add_many([1, 2, 1])
        [True, True, False]
        """
        known = self._keys
        if not known.isdisjoint(keys) or len(set(keys)) != len(keys):
            return [self.add(key) for key in keys]
        known.update(keys)
        order = self._order
        order.extend(keys)
        for _ in range(len(order) - self.capacity):
            known.discard(order.popleft())
        return [True] * len(keys)

    def __len__(self) -> int:
        return len(self._order)


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
    for message in messages:
        if message.get("timestamp") is None:
            message["timestamp"] = now
        if "ident" not in message:
            message["ident"] = origin.ident
    bodies = _bodies(messages)
    fresh = recent.add_many([hash(body) for body in bodies])
    if not all(fresh):
        bodies = [body for body, new in zip(bodies, fresh, strict=True) if new]
    if not bodies:
        return b"", 0
    suffix = (
        _SERVER_FIELDS
        + orjson.dumps(
            {
                "server.timestamp": now,
                "channel.id": origin.channel_id,
                "protocol.name": origin.protocol,
                "peer": origin.peer,
                "device.id": origin.device_id,
            }
        )[len(_SERVER_FIELDS) :]
    )
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
