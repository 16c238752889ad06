"""Group commit: tickets settle after the fsync, in order; an empty payload is a barrier."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from telebench.hub.durable import GroupCommit, Ticket
from telebench.store.wal import WriteAheadLog


def test_tickets_settle_in_order_and_an_empty_payload_writes_nothing(tmp_path: Path) -> None:
    async def main() -> tuple[list[tuple[int, int]], list[tuple[int, bytes]], int]:
        wal = WriteAheadLog(tmp_path / "wal")
        commit = GroupCommit(wal, asyncio.get_running_loop())
        settled: list[tuple[int, int]] = []
        done = asyncio.Event()

        def on_done(index: int) -> object:
            def call(ticket: Ticket) -> None:
                settled.append((index, ticket.seq))
                if len(settled) == 3:
                    done.set()

            return call

        commit.add(b'{"a":1}\n', on_done(0))  # type: ignore[arg-type]
        commit.add(b"", on_done(1))  # type: ignore[arg-type]
        commit.add(b'{"a":2}\n', on_done(2))  # type: ignore[arg-type]
        await asyncio.wait_for(done.wait(), 10)
        seq = await commit.submit(b"")
        commit.close()
        entries = commit.take_unflushed()
        wal.close()
        return settled, entries, seq

    settled, entries, seq = asyncio.run(main())
    assert settled == [(0, 1), (1, 1), (2, 2)]
    assert entries == [(1, b'{"a":1}\n'), (2, b'{"a":2}\n')]
    assert seq == 2
    with WriteAheadLog(tmp_path / "wal") as wal:
        assert [s for s, _ in wal.replay()] == [1, 2]


def test_a_closed_commit_fails_tickets_at_once(tmp_path: Path) -> None:
    async def main() -> Ticket:
        wal = WriteAheadLog(tmp_path / "wal")
        commit = GroupCommit(wal, asyncio.get_running_loop())
        commit.close()
        ticket = commit.add(b'{"a":1}\n')
        wal.close()
        return ticket

    ticket = asyncio.run(main())
    assert ticket.done
    assert ticket.error is not None
    assert "stopping" in str(ticket.error)


def test_settle_acks_finished_rounds_without_waiting_for_the_loop(tmp_path: Path) -> None:
    # A loop busy reading sockets runs no callbacks: a connection settles rounds itself.
    loop = asyncio.new_event_loop()
    wal = WriteAheadLog(tmp_path / "wal")
    commit = GroupCommit(wal, loop)
    settled: list[int] = []
    first = commit.add(b'{"a":1}\n', lambda ticket: settled.append(ticket.seq))
    second = commit.add(b'{"a":2}\n', lambda ticket: settled.append(ticket.seq))
    deadline = time.monotonic() + 10
    while not second.done and time.monotonic() < deadline:
        commit.settle()  # the loop never runs here, so only this call can settle them
        time.sleep(0.001)
    assert first.done
    assert second.done
    assert settled == [1, 2]
    commit.settle()  # nothing left: settling twice calls nobody again
    assert settled == [1, 2]
    commit.close()
    wal.close()
    loop.close()
