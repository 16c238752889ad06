"""A tracker's black box: records stay in memory until the server acks them.

Records are taken in packets (``take``), one packet in flight at a time. An ack removes
the first ``count`` records of the packet; the rest, like a packet whose ack never came
(``requeue``), go back to memory and are sent again. ``newest_first`` sends the most
recent records first, as Teltonika's "records sending order" option does.

Examples
--------
>>> memory = DeviceMemory()
>>> memory.extend([{"timestamp": float(t)} for t in range(5)])
>>> batch = memory.take(3)
>>> [m["timestamp"] for m in batch.records], batch.fresh
([0.0, 1.0, 2.0], 3)
>>> memory.ack(2), len(memory)
(2, 3)
>>> again = memory.take(10)
>>> [m["timestamp"] for m in again.records], again.fresh
([2.0, 3.0, 4.0], 2)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from telebench.errors import SimulationError
from telebench.model import Message

__all__ = ["Batch", "DeviceMemory"]

# One stored record and whether it was sent before (a resend is not a new record).
_Entry = tuple[Message, bool]


@dataclass(frozen=True)
class Batch:
    """The records of one packet, in time order; ``fresh`` were never sent before."""

    records: tuple[Message, ...]
    fresh: int


class DeviceMemory:
    """Records not yet acked: waiting ones plus the packet in flight (module doc)."""

    def __init__(self, *, newest_first: bool = False) -> None:
        self.newest_first = newest_first
        self._waiting: deque[_Entry] = deque()
        self._flight: list[_Entry] = []

    def __len__(self) -> int:
        return len(self._waiting) + len(self._flight)

    @property
    def waiting(self) -> int:
        """Records not in flight."""
        return len(self._waiting)

    @property
    def in_flight(self) -> int:
        """Records of the packet awaiting its ack (0 when none)."""
        return len(self._flight)

    @property
    def sent_unacked(self) -> int:
        """Records sent at least once and still not acked (lost if the run ends now)."""
        return len(self._flight) + sum(1 for _, sent in self._waiting if sent)

    def add(self, record: Message) -> None:
        """Store a new record."""
        self._waiting.append((record, False))

    def extend(self, records: Iterable[Message]) -> None:
        """Store new records, oldest first."""
        self._waiting.extend((r, False) for r in records)

    def peek(self, limit: int) -> list[Message]:
        """The records the next ``take(limit)`` would send (not in time order if newest first)."""
        if self.newest_first:
            return [self._waiting[-1 - i][0] for i in range(min(limit, len(self._waiting)))]
        return [self._waiting[i][0] for i in range(min(limit, len(self._waiting)))]

    def take(self, limit: int) -> Batch:
        """Put up to ``limit`` records in flight (raises if a packet is already in flight)."""
        if self._flight:
            raise SimulationError("a packet is already in flight: ack or requeue it first")
        count = min(limit, len(self._waiting))
        pop = self._waiting.pop if self.newest_first else self._waiting.popleft
        taken = [pop() for _ in range(count)]
        if self.newest_first:
            taken.reverse()
        self._flight = taken
        fresh = sum(1 for _, sent in taken if not sent)
        return Batch(tuple(r for r, _ in taken), fresh)

    def ack(self, count: int) -> int:
        """The server stored the first ``count`` records in flight; resend the rest.

        Returns how many records left memory.
        """
        if count < 0 or count > len(self._flight):
            raise SimulationError(f"ack of {count} records for a packet of {len(self._flight)}")
        rest = self._flight[count:]
        self._flight = rest
        self.requeue()
        return count

    def requeue(self) -> None:
        """The packet in flight was not acked: keep its records for a resend."""
        flight = [(record, True) for record, _ in self._flight]
        self._flight = []
        if self.newest_first:
            self._waiting.extend(flight)
        else:
            self._waiting.extendleft(reversed(flight))
