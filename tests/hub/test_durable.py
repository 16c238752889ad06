"""Group commit: tickets settle after the fsync, in order; an empty payload is a barrier."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from telebench.hub import Hub
from telebench.hub.durable import GroupCommit, Ticket
from telebench.protocols.events import SendRecords
from telebench.protocols.samples import sample_messages
from telebench.store.wal import WriteAheadLog
from tests.hub.conftest import make_config
from tests.hub.device import Device


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


@contextlib.contextmanager
def _idle_loop_commit(
    folder: Path, **options: Any
) -> Iterator[tuple[asyncio.AbstractEventLoop, GroupCommit]]:
    """A group commit whose event loop does not run unless the test runs it."""
    loop = asyncio.new_event_loop()
    wal = WriteAheadLog(folder / "wal")
    commit = GroupCommit(wal, loop, **options)
    try:
        yield loop, commit
    finally:
        commit.close()
        wal.close()
        loop.close()


def _wait_until(done: Callable[[], object], *, settle: GroupCommit | None = None) -> None:
    """Poll ``done`` for up to 10 s (settling ``settle``'s rounds meanwhile, if given)."""
    deadline = time.monotonic() + 10
    while not done() and time.monotonic() < deadline:
        if settle is not None:
            settle.settle()
        time.sleep(0.001)


def test_settle_acks_finished_rounds_without_waiting_for_the_loop(tmp_path: Path) -> None:
    # A loop busy reading sockets runs no callbacks: a connection settles rounds itself.
    with _idle_loop_commit(tmp_path) as (_, commit):
        settled: list[int] = []
        first = commit.add(b'{"a":1}\n', lambda ticket: settled.append(ticket.seq))
        second = commit.add(b'{"a":2}\n', lambda ticket: settled.append(ticket.seq))
        # The loop never runs here, so only settle() can settle them.
        _wait_until(lambda: second.done, settle=commit)
        assert first.done
        assert second.done
        assert settled == [1, 2]
        commit.settle()  # nothing left: settling twice calls nobody again
        assert settled == [1, 2]


def test_acks_wait_while_the_backlog_is_over_the_limit_and_go_at_half(tmp_path: Path) -> None:
    holds: list[tuple[bool, int]] = []
    options = {"max_backlog": 20, "on_hold": lambda *a: holds.append(a)}
    with _idle_loop_commit(tmp_path, **options) as (loop, commit):
        settled: list[int] = []
        payload = b'{"ident":"1","timestamp":1.0}\n'  # over the limit at once
        ticket = commit.add(payload, lambda t: settled.append(t.seq))
        _wait_until(lambda: commit.backlog)
        for _ in range(3):
            commit.settle()
        assert (commit.holding, ticket.done, settled) == (True, False, [])  # durable, not acked
        assert holds == [(True, len(payload))]
        assert commit.take_unflushed() == [(1, payload)]
        commit.flushed(len(payload))
        assert (commit.holding, commit.backlog, holds[-1]) == (False, 0, (False, 0))
        loop.run_until_complete(asyncio.sleep(0))  # the settle flushed() scheduled
        assert ticket.done
        assert settled == [1]


def test_release_lets_held_acks_out_and_holds_no_more(tmp_path: Path) -> None:
    with _idle_loop_commit(tmp_path, max_backlog=1) as (_, commit):
        first = commit.add(b'{"a":1}\n')
        _wait_until(lambda: commit.holding)
        commit.settle()
        assert not first.done
        commit.release()
        assert first.done
        second = commit.add(b'{"a":2}\n')
        _wait_until(lambda: second.done, settle=commit)
        assert second.done  # over the old limit, yet acked: the hub is stopping


def test_a_device_gets_no_ack_until_the_flusher_catches_up(tmp_path: Path) -> None:
    # Background flushes off: the backlog only goes when the test flushes.
    config = make_config(tmp_path / "store", flush_interval=1000.0, max_unflushed_mb=1e-6)
    with Hub(config=config) as hub:
        with Device("wialon_ips", hub.port("wialon_ips"), "7003") as device:
            device.login()
            message = sample_messages("wialon_ips", 1)[0]
            device.send_raw(device.session.send(SendRecords(messages=(message,))))  # type: ignore[arg-type]
            device.sock.settimeout(0.5)
            with pytest.raises(TimeoutError):  # durable, but the ack is held
                device.read()
            events = hub.logs(event="acks.*")["event"].to_list()
            assert events == ["acks.held"]
            device.sock.settimeout(10)
            hub.flush()  # the flusher catches up: the ack goes out
            assert len(device.read()) == 1
        assert hub.logs(event="acks.*")["event"].to_list() == ["acks.held", "acks.released"]


def test_past_the_memory_limit_entries_stay_in_the_wal_and_are_read_back(tmp_path: Path) -> None:
    payloads = [b'{"ident":"%d","timestamp":1.0}\n' % i for i in range(1, 5)]  # 30 bytes each

    async def main() -> None:
        wal = WriteAheadLog(tmp_path / "wal")
        commit = GroupCommit(wal, asyncio.get_running_loop(), memory_limit=40)
        for payload in payloads[:3]:
            await commit.submit(payload)  # a round each: the second no longer fits
        assert commit.take() == ([(1, payloads[0])], (2, 3))
        assert list(commit.read_spilled((2, 3))) == [(2, payloads[1]), (3, payloads[2])]
        assert commit.take() == ([], None)
        await commit.submit(payloads[3])  # taken: memory has room again
        assert commit.take() == ([(4, payloads[3])], None)
        commit.restore_from(3)  # a flush failed at seq 3: 3 and 4 are read back
        assert commit.take_unflushed() == [(3, payloads[2]), (4, payloads[3])]
        commit.close()
        wal.close()

    asyncio.run(main())


class _SlowWAL(WriteAheadLog):
    """A real WAL on a disk whose fsync takes 50 ms; counts its rounds."""

    syncs = 0

    def sync(self) -> int:
        self.syncs += 1
        time.sleep(0.05)
        return super().sync()


def test_a_busy_hub_gathers_a_round_for_the_interval(tmp_path: Path) -> None:
    async def main() -> tuple[float, int, list[int]]:
        wal = _SlowWAL(tmp_path / "wal")
        commit = GroupCommit(wal, asyncio.get_running_loop(), round_interval=1.0)
        started = time.monotonic()
        first = commit.submit(b'{"a":1}\n')
        await asyncio.sleep(0.02)  # the first round is in its fsync
        later = [commit.submit(b'{"b":1}\n'), commit.submit(b'{"b":2}\n')]
        await first  # payloads came meanwhile: the next round waits for the interval
        later.append(commit.submit(b'{"b":3}\n'))  # and so takes this one too
        seqs = list(await asyncio.gather(*later))
        took, syncs = time.monotonic() - started, wal.syncs
        commit.close()
        wal.close()
        return took, syncs, seqs

    took, syncs, seqs = asyncio.run(main())
    assert seqs == [2, 3, 4]
    assert syncs == 2
    assert took >= 0.9


def test_a_lone_device_never_waits_for_the_interval(tmp_path: Path) -> None:
    async def main() -> tuple[float, int]:
        wal = _SlowWAL(tmp_path / "wal")
        commit = GroupCommit(wal, asyncio.get_running_loop(), round_interval=2.0)
        started = time.monotonic()
        for i in range(3):  # each packet after the ack of the one before
            assert await commit.submit(f'{{"a":{i}}}\n'.encode()) == i + 1
        took, syncs = time.monotonic() - started, wal.syncs
        commit.close()
        wal.close()
        return took, syncs

    took, syncs = asyncio.run(main())
    assert syncs == 3
    assert took < 1.5


def test_closing_does_not_wait_out_the_interval(tmp_path: Path) -> None:
    async def main() -> tuple[float, list[tuple[int, bytes]]]:
        wal = WriteAheadLog(tmp_path / "wal")
        commit = GroupCommit(wal, asyncio.get_running_loop(), round_interval=30.0)
        await commit.submit(b'{"a":1}\n')
        commit.add(b'{"a":2}\n')  # its round would start 30 s after the first
        await asyncio.sleep(0.05)
        started = time.monotonic()
        commit.close()
        took = time.monotonic() - started
        entries = commit.take_unflushed()
        wal.close()
        return took, entries

    took, entries = asyncio.run(main())
    assert took < 10
    assert entries == [(1, b'{"a":1}\n'), (2, b'{"a":2}\n')]
