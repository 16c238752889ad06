"""The black box: records leave memory only when acked."""

from __future__ import annotations

import pytest

from simulators.net.memory import DeviceMemory
from telebench.errors import SimulationError


def _records(n: int) -> list[dict[str, float | int | str | bool | None]]:
    return [{"timestamp": float(t)} for t in range(n)]


def test_partial_ack_resends_the_rest_first() -> None:
    memory = DeviceMemory()
    memory.extend(_records(6))
    assert memory.take(4).fresh == 4
    assert memory.ack(1) == 1
    batch = memory.take(4)
    assert [m["timestamp"] for m in batch.records] == [1.0, 2.0, 3.0, 4.0]
    assert batch.fresh == 1  # only record 4 is new
    assert memory.sent_unacked == 4


def test_requeue_keeps_everything_and_one_packet_in_flight() -> None:
    memory = DeviceMemory()
    memory.extend(_records(3))
    memory.take(2)
    with pytest.raises(SimulationError, match="already in flight"):
        memory.take(1)
    memory.requeue()
    assert len(memory) == 3
    assert memory.in_flight == 0
    assert memory.sent_unacked == 2
    memory.take(1)
    with pytest.raises(SimulationError, match="ack of 5"):
        memory.ack(5)


def test_newest_first_sends_the_latest_records_first() -> None:
    memory = DeviceMemory(newest_first=True)
    memory.extend(_records(5))
    batch = memory.take(2)
    assert [m["timestamp"] for m in batch.records] == [3.0, 4.0]
    memory.requeue()  # a lost ack: the same newest records go again
    assert [m["timestamp"] for m in memory.peek(2)] == [4.0, 3.0]
    memory.take(2)
    memory.ack(2)
    assert [m["timestamp"] for m in memory.take(5).records] == [0.0, 1.0, 2.0]
