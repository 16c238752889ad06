"""The flusher: WAL segments go a few a pass; a backlog is written in chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from telebench.hub import Hub
from telebench.hub import flusher as flusher_module
from telebench.hub.flusher import KEEP_SEGMENTS, TRIM_SEGMENTS
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


def test_a_backlog_is_written_in_chunks_and_a_failed_chunk_leaves_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flusher_module, "FLUSH_CHUNK", 1)  # every entry a chunk of its own
    with Hub(config=make_config(tmp_path / "store", flush_interval=1000.0)) as hub:
        flusher = hub._flusher
        assert flusher is not None
        assert flusher.commit is not None
        with Device("wialon_ips", hub.port("wialon_ips"), "7002") as device:
            device.login()
            for message in sample_messages("wialon_ips", 4):
                device.send([message])  # type: ignore[list-item]
        assert flusher.commit.backlog > 0
        written: list[int] = []
        real = flusher.write_entries

        def fail_third(entries: list[tuple[int, bytes]]) -> int:
            if len(written) == 2:
                raise OSError("disk full")
            written.append(len(entries))
            return real(entries)

        monkeypatch.setattr(flusher, "write_entries", fail_third)
        with pytest.raises(OSError, match="disk full"):
            flusher.flush()
        assert written == [1, 1]  # one entry a write
        assert flusher.checkpoint == 2  # the two written are checkpointed
        monkeypatch.setattr(flusher, "write_entries", real)
        assert flusher.flush() == 2  # the two left, given back by the failed flush
        assert flusher.checkpoint == 4
        assert flusher.commit.backlog == 0
        assert hub.messages("ident=7002").collect().height == 4  # each once
