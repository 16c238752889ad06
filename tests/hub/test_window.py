"""The duplicate window: both implementations (C and Python sets) behave as one.

Every behaviour test runs on each; a differential test feeds both the same random calls and
compares every answer and size.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebench.hub import window
from telebench.hub.window import GenerationSets, RecentMessages

IMPLEMENTATIONS = [
    pytest.param(False, id="python-sets"),
    pytest.param(
        True,
        id="c",
        marks=pytest.mark.skipif(not window.COMPILED, reason="C extension not built"),
    ),
]
KEYS = st.integers(-(2**63), 2**63 - 1) | st.integers(0, 15)


def test_the_c_window_is_built() -> None:
    """``make test`` builds it (gcc); only an explicit opt-out runs without it."""
    if os.environ.get("TELEBENCH_PURE_PYTHON") == "1":
        pytest.skip("TELEBENCH_PURE_PYTHON=1: the Python path only")
    assert window.COMPILED, "telebench/hub/_window.c was not compiled"
    assert not isinstance(RecentMessages(4).keys, GenerationSets)


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS)
def test_the_window_knows_the_latest_keys_and_forgets_a_generation_at_a_time(
    compiled: bool,
) -> None:
    assert RecentMessages.GENERATIONS == 2
    recent = RecentMessages(capacity=8, compiled=compiled)  # 2 generations of 4, one filling
    assert [recent.add(key) for key in range(12)] == [True] * 12
    # 0 to 3 went together, with their generation; the latest 8 are all known.
    assert len(recent) == 8
    assert [key in recent for key in range(12)] == [False] * 4 + [True] * 8
    assert recent.add_many([3, 11, 12]) == [True, False, True]
    assert "a string" not in recent  # never a key, never found
    assert 2**70 not in recent


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS)
@given(st.integers(1, 12), st.lists(st.lists(KEYS, max_size=5)))
def test_the_window_never_forgets_its_capacity_nor_invents_a_key(
    compiled: bool, capacity: int, packets: list[list[int]]
) -> None:
    recent = RecentMessages(capacity, compiled=compiled)
    full = min(RecentMessages.GENERATIONS, capacity)  # generations kept besides the filling one
    size, batch = -(-capacity // full), 0  # keys a generation holds; the largest packet
    accepted: list[int] = []  # every key the window took as new, oldest first
    for keys in packets:
        batch = max(batch, len(keys))
        answers = recent.add_many(keys)
        for key, new in zip(keys, answers, strict=True):
            if key in accepted[-capacity:]:
                assert not new  # one of the latest `capacity`: a duplicate
            elif key not in accepted:
                assert new  # never seen
            if new:
                accepted.append(key)
        # Bounded: each generation stops taking keys once full (a packet may overfill it).
        assert len(recent) <= (full + 1) * (size + batch)


@pytest.mark.skipif(not window.COMPILED, reason="C extension not built")
@given(
    st.integers(1, 40),
    st.lists(st.one_of(KEYS.map(lambda k: [k]), st.lists(KEYS, max_size=60)), max_size=40),
)
def test_c_and_python_give_the_same_answers(capacity: int, calls: list[list[int]]) -> None:
    """Single adds and packets (repeats, overfilling ones: the C tables grow) alike."""
    c, py = RecentMessages(capacity), RecentMessages(capacity, compiled=False)
    for keys in calls:
        if len(keys) == 1:
            assert c.add(keys[0]) == py.add(keys[0])
        else:
            assert c.add_many(keys) == py.add_many(keys)
        assert len(c) == len(py)
    probe = {k for keys in calls for k in keys}
    assert {k for k in probe if k in c} == {k for k in probe if k in py}


@pytest.mark.skipif(not window.COMPILED, reason="C extension not built")
def test_a_million_keys_stay_a_million() -> None:
    """The hub's size: 1,000,000 keys in, the latest 1,000,000 known, then rotation."""
    recent = RecentMessages(1_000_000)
    keys = list(range(1, 1_000_001))
    for start in range(0, len(keys), 1000):
        assert recent.add_many(keys[start : start + 1000]) == [True] * 1000
    assert len(recent) == 1_000_000
    assert recent.add_many([1, 500_000, 1_000_000, 0]) == [False, False, False, True]
    recent.add_many(list(range(-1, -500_001, -1)))  # one more generation: 1..500,000 leave
    assert [1 in recent, 500_001 in recent, -500_000 in recent] == [False, True, True]


@pytest.mark.skipif(not window.COMPILED, reason="C extension not built")
def test_the_c_window_takes_64_bit_ints_only() -> None:
    """Keys are ``hash()`` values; anything else is a caller's bug, said at once."""
    recent = RecentMessages(4)
    with pytest.raises(OverflowError):
        recent.add(2**64)
    with pytest.raises(TypeError):
        recent.add_many([1, "x"])  # type: ignore[list-item]
    assert len(recent) == 0  # nothing of a refused call was added
