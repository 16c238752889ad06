"""From decoded messages to the NDJSON lines the hub makes durable.

Every stored message gets the hub's fields (flespi's always-present keys): ``ident``,
``timestamp`` (the arrival time when the device sent none), ``server.timestamp``,
``channel.id``, ``protocol.name``, ``peer`` and ``device.id``.

Duplicates. A device that lost an ack resends the same records; they must not be stored
twice. A record's identity is a 64-bit BLAKE2b digest of what the device sent (its JSON,
before the hub's fields), remembered in :class:`RecentMessages`, a bounded window of the
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

import hashlib
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

    def __len__(self) -> int:
        return len(self._order)


def _digest(body: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(body, digest_size=8).digest(), "big")


def content_key(line: bytes) -> int:
    """The digest of a stored NDJSON line, the hub's fields stripped (for warming)."""
    cut = line.rfind(_SERVER_FIELDS)
    return _digest(line[:cut] + b"}" if cut > 0 else line)


def prepare(
    messages: Sequence[Message], origin: Origin, now: float, recent: RecentMessages
) -> tuple[bytes, int]:
    """NDJSON of the records not seen before, and how many there are."""
    suffix = (
        b","
        + orjson.dumps(
            {
                "server.timestamp": now,
                "channel.id": origin.channel_id,
                "protocol.name": origin.protocol,
                "peer": origin.peer,
                "device.id": origin.device_id,
            }
        )[1:]
    )
    lines: list[bytes] = []
    for message in messages:
        if message.get("timestamp") is None:
            message["timestamp"] = now
        if "ident" not in message:
            message["ident"] = origin.ident
        body = orjson.dumps(message)
        if recent.add(_digest(body)):
            lines.append(body[:-1] + suffix)
    if not lines:
        return b"", 0
    lines.append(b"")
    return b"\n".join(lines), len(lines) - 1


def warm(recent: RecentMessages, payloads: Iterable[bytes]) -> int:
    """Remember the digests of already durable NDJSON payloads; returns how many."""
    count = 0
    for payload in payloads:
        for line in payload.splitlines():
            if line:
                recent.add(content_key(line))
                count += 1
    return count
