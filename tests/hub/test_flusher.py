"""The flusher: WAL segments go a few a pass; a backlog is written in chunks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from telebench.hub import Hub
from telebench.hub import flusher as flusher_module
from telebench.hub.core import UNFLUSHED_IN_MEMORY
from telebench.hub.flusher import KEEP_SEGMENTS, TRIM_SEGMENTS, Flusher
from telebench.protocols.samples import sample_messages
from tests.hub.conftest import make_config
from tests.hub.device import Device


def test_wal_segments_go_a_few_a_pass_once_everything_has_taken_them_in(tmp_path: Path) -> None:
    # No background passes (flush_interval): this test runs each pass itself.
    with Hub(config=make_config(tmp_path / "store", flush_interval=1000.0)) as hub:
        flusher = hub._flusher
        assert flusher is not None
        assert flusher.commit is not None
        wal = flusher.commit.wal
        wal.segment_bytes = 1  # every group-commit round starts a segment
        for message in sample_messages("wialon_ips", 9):
            with Device("wialon_ips", hub.port("wialon_ips"), "7001") as device:
                device.login()
                device.send([message])  # type: ignore[list-item]
        flusher.flush()
        before = len(wal.segments())
        assert before >= 9
        assert flusher.trim_wal() == 0  # telemetry has not taken them in yet
        flusher.apply_telemetry()
        removed = []
        while count := flusher.trim_wal():
            removed.append(count)
        assert all(count <= TRIM_SEGMENTS for count in removed)
        assert sum(removed) == before - KEEP_SEGMENTS
        assert len(wal.segments()) == KEEP_SEGMENTS
        first = wal.segments()[0]
        assert [seq for seq, _ in wal.replay(after=int(first.stem) - 1)]  # the kept ones read


@contextlib.contextmanager
def _four_records_unflushed(
    store: Path, ident: str, in_memory: int = UNFLUSHED_IN_MEMORY
) -> Iterator[tuple[Hub, Flusher]]:
    """A hub that never flushes by itself, holding four acked records not yet in Parquet."""
    with Hub(config=make_config(store, flush_interval=1000.0)) as hub:
        flusher = hub._flusher
        assert flusher is not None
        assert flusher.commit is not None
        flusher.commit.memory_limit = in_memory
        with Device("wialon_ips", hub.port("wialon_ips"), ident) as device:
            device.login()
            for message in sample_messages("wialon_ips", 4):
                device.send([message])  # type: ignore[list-item]
        yield hub, flusher


class _FailingWrites:
    """Replaces a flusher's writes: the one after the first ``ok`` raises while ``fail``."""

    def __init__(self, flusher: Flusher, ok: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real, self.ok, self.fail = flusher.write_entries, ok, True
        self.written: list[int] = []  # the first seq of each write
        monkeypatch.setattr(flusher, "write_entries", self)

    def __call__(self, entries: list[tuple[int, bytes]]) -> int:
        if self.fail and len(self.written) == self.ok:
            raise OSError("disk full")
        self.written.append(entries[0][0])
        return self.real(entries)


def test_a_backlog_is_written_in_chunks_and_a_failed_chunk_leaves_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flusher_module, "FLUSH_CHUNK", 1)  # every entry a chunk of its own
    with _four_records_unflushed(tmp_path / "store", "7002") as (hub, flusher):
        assert flusher.commit is not None
        assert flusher.commit.backlog > 0
        writes = _FailingWrites(flusher, 2, monkeypatch)
        with pytest.raises(OSError, match="disk full"):
            flusher.flush()
        assert writes.written == [1, 2]  # one entry a write
        assert flusher.checkpoint == 2  # the two written are checkpointed
        writes.fail = False
        assert flusher.flush() == 2  # the two left, given back by the failed flush
        assert (flusher.checkpoint, flusher.commit.backlog) == (4, 0)
        assert hub.messages("ident=7002").collect().height == 4  # each once


def test_entries_left_in_the_wal_are_flushed_once_in_order_even_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flusher_module, "FLUSH_CHUNK", 1)  # every entry a chunk of its own
    # A memory limit of 1 byte: every entry stays in the WAL only.
    with _four_records_unflushed(tmp_path / "store", "7004", in_memory=1) as (hub, flusher):
        assert flusher.commit is not None
        assert not flusher.commit._unflushed  # nothing held in memory
        writes = _FailingWrites(flusher, 1, monkeypatch)
        with pytest.raises(OSError, match="disk full"):
            flusher.flush()
        assert (writes.written, flusher.checkpoint) == ([1], 1)
        writes.fail = False
        assert flusher.flush() == 3  # 2, 3 and 4, read back from the WAL
        assert (flusher.checkpoint, flusher.commit.backlog) == (4, 0)
        assert hub.messages("ident=7004").collect().height == 4  # each once
