"""The duplicate window: the digests of the latest records the hub stored.

:class:`RecentMessages` remembers the latest ``capacity`` record keys (64-bit hashes of
their JSON, see :mod:`~telebench.hub.pipeline`) in generations: keys go into the newest
generation until it holds ``capacity / GENERATIONS`` of them, then a new one starts, and
the oldest of more than ``GENERATIONS`` full ones is dropped whole. Two implementations,
one behaviour: ``_window.c`` (built with the package: flat tables of 8-byte keys, so a
lookup reads one cache line a generation and adding a key allocates nothing) and
:class:`GenerationSets` (Python sets: the reference, and the fallback where the C
extension is not built). Tests run both.

Examples
--------
>>> recent = RecentMessages(capacity=2)
>>> [recent.add(k) for k in (1, 2, 1, 3, 4, 1)]
[True, True, False, True, True, True]
>>> recent.add_many([4, 5, 5])
[False, True, False]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from itertools import repeat, starmap
from typing import Final, Protocol

__all__ = ["COMPILED", "GenerationSets", "KeySets", "RecentMessages"]


class KeySets(Protocol):
    """What both implementations offer."""

    capacity: int

    def add(self, key: int) -> bool: ...
    def add_many(self, keys: list[int]) -> list[bool]: ...
    def __contains__(self, key: object) -> bool: ...
    def __len__(self) -> int: ...


class GenerationSets:
    """The latest record digests, in a few generations of Python sets.

    Keys go into the newest generation; once it holds ``capacity / generations`` keys a
    new one starts, and beyond ``generations`` full ones the oldest leaves the window
    whole. So the window always knows the latest ``capacity`` keys, and forgets a key once
    about ``capacity + capacity / generations`` newer ones have come.

    Why generations: one set with a key in and a key out per record (the window until
    2026-12) had CPython rebuild its table of a million keys every 280,000 records, 50-60 ms
    each time, and every ack waited behind it. A generation's table is rebuilt only while
    it grows, and a dropped one is emptied a little at each call, so no call takes over
    about 15-25 ms. Looking in 3 sets costs 0.1-0.3 µs a key more than the one set did.

    >>> recent = GenerationSets(capacity=2)
    >>> [recent.add(k) for k in (1, 2, 1, 3, 4, 1)]
    [True, True, False, True, True, True]
    """

    def __init__(self, capacity: int, generations: int = 2) -> None:
        self.capacity = capacity
        self._full = max(1, min(generations, capacity))
        self._size = -(-capacity // self._full)  # keys a generation holds
        self._generations: deque[set[int]] = deque([set()])
        # Dropped generations, emptied two keys for each key added: freeing half a million
        # ints at once stalled the decoder process for 50-80 ms on a busy machine.
        self._dropped: list[set[int]] = []

    def add(self, key: int) -> bool:
        """Remember ``key``; ``False`` if it was already in the window (a duplicate)."""
        if key in self:
            return False
        self._insert((key,))
        return True

    def add_many(self, keys: list[int]) -> list[bool]:
        """:meth:`add` each key in order; which were new (one set operation when all are).

        >>> GenerationSets(capacity=3).add_many([1, 2, 1])
        [True, True, False]
        """
        if len(set(keys)) != len(keys) or not all(
            generation.isdisjoint(keys) for generation in self._generations
        ):
            return [self.add(key) for key in keys]
        self._insert(keys)
        return [True] * len(keys)

    def _insert(self, keys: Sequence[int]) -> None:
        generations = self._generations
        newest = generations[-1]
        newest.update(keys)
        if len(newest) >= self._size:
            generations.append(set())
            if len(generations) > self._full + 1:
                self._dropped.append(generations.popleft())
        if self._dropped:
            self._empty(2 * len(keys))

    def _empty(self, count: int) -> None:
        dropped = self._dropped[-1]
        # A loop in C: the cost is freeing the ints, not the loop around it.
        deque(starmap(dropped.pop, repeat((), min(count, len(dropped)))), maxlen=0)
        if not dropped:
            self._dropped.pop()

    def __contains__(self, key: object) -> bool:
        return any(key in generation for generation in self._generations)

    def __len__(self) -> int:
        return sum(len(generation) for generation in self._generations)


_Window: Callable[[int, int], KeySets] | None
try:
    from telebench.hub._window import Window as _Window
except ImportError:  # built without a C compiler
    _Window = None

#: Whether the C window is built (otherwise every window is :class:`GenerationSets`).
COMPILED: Final = _Window is not None


class RecentMessages:
    """The hub's duplicate window (see the module doc): C where built, else Python sets.

    ``compiled=False`` takes :class:`GenerationSets` even where the C one is built.

    >>> RecentMessages(3, compiled=False).add_many([7, 7])
    [True, False]
    """

    #: How many full generations the window keeps (besides the one filling).
    GENERATIONS: Final = 2

    def __init__(self, capacity: int = 1_000_000, *, compiled: bool = True) -> None:
        self.capacity = capacity
        make = _Window if compiled and _Window is not None else GenerationSets
        self.keys: KeySets = make(capacity, self.GENERATIONS)
        # The hot calls go straight to the implementation, with no call of ours between.
        self.add: Callable[[int], bool] = self.keys.add
        self.add_many: Callable[[list[int]], list[bool]] = self.keys.add_many

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def __len__(self) -> int:
        return len(self.keys)
