"""The write-ahead log: group commit, replay, torn tails, corruption, a real kill -9."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebench.errors import StoreError
from telebench.store import wal as wal_module
from telebench.store.wal import WriteAheadLog, _crc


def test_append_is_durable_only_after_sync(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    assert [wal.append(b"a"), wal.append(b"b")] == [1, 2]
    assert list(wal.replay()) == []
    assert wal.sync() == 2
    assert list(wal.replay()) == [(1, b"a"), (2, b"b")]
    assert list(wal.replay(after=1)) == [(2, b"b")]
    wal.close()


def test_sequence_numbers_continue_after_reopen(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path) as wal:
        wal.append(b"x")
    with WriteAheadLog(tmp_path) as wal:
        assert wal.last_seq == 1
        assert wal.append(b"y") == 2
        wal.sync()
        assert [seq for seq, _ in wal.replay()] == [1, 2]


def test_segments_roll_and_old_ones_are_trimmed(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, segment_bytes=100) as wal:
        for i in range(10):
            wal.append(bytes(40) + bytes([i]))
            wal.sync()
        names = [p.name for p in wal.segments()]
        assert len(names) > 3
        assert names[0] == f"{1:020d}.wal"
        assert [seq for seq, _ in wal.replay(after=7)] == [8, 9, 10]
        firsts = [int(Path(n).stem) for n in names]
        # a segment can go once the segment after it starts at or below seq 8
        expected = sum(following <= 8 for following in firsts[1:])
        assert wal.truncate_before(8) == expected > 0
        assert [seq for seq, _ in wal.replay(after=7)] == [8, 9, 10]
        assert int(wal.segments()[0].stem) <= 8


def test_trimmed_segments_are_released_in_fsynced_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files_synced: list[int] = []  # the size of each regular file at its fsync
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            files_synced.append(info.st_size)
            if Path("/proc/self/fd").is_dir():  # shrunk only once out of the log, as .trim
                assert Path(f"/proc/self/fd/{fd}").readlink().suffix == ".trim"
        real_fsync(fd)

    monkeypatch.setattr(wal_module, "RELEASE_STEP", 64)
    with WriteAheadLog(tmp_path, segment_bytes=200) as wal:
        for i in range(12):
            wal.append(bytes(90) + bytes([i]))
            wal.sync()
        segments = wal.segments()
        expected = []
        for path in segments[:2]:
            size = path.stat().st_size
            while size > 64:  # 64 bytes cut per fsync'd step, the last <= 64 unlinked
                size -= 64
                expected.append(size)
        monkeypatch.setattr(wal_module.os, "fsync", spy)
        assert wal.truncate_before(int(segments[2].stem)) == 2
        monkeypatch.setattr(wal_module.os, "fsync", real_fsync)
        assert files_synced == expected
        assert wal.segments() == segments[2:]
        assert list(tmp_path.glob("*.trim")) == []
        assert next(seq for seq, _ in wal.replay()) == int(segments[2].stem)


def test_a_release_cut_short_by_a_crash_is_finished_on_open(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, segment_bytes=100) as wal:
        for i in range(6):
            wal.append(bytes(60) + bytes([i]))
            wal.sync()
        oldest, second = wal.segments()[:2]
    trimmed = oldest.rename(oldest.with_suffix(".trim"))
    with trimmed.open("r+b") as fh:  # the crash came half-way through the shrinking
        fh.truncate(trimmed.stat().st_size // 2)
    with WriteAheadLog(tmp_path) as wal:  # no StoreError: the .trim file is not a segment
        assert list(tmp_path.glob("*.trim")) == []
        assert wal.segments()[0] == second
        assert [seq for seq, _ in wal.replay()] == list(range(int(second.stem), 7))


def test_torn_tail_is_cut_on_open(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path) as wal:
        wal.append(b"kept")
        wal.append(b"torn entry")
    segment = next(tmp_path.glob("*.wal"))
    size = segment.stat().st_size
    with segment.open("r+b") as fh:
        fh.truncate(size - 3)  # a crash in the middle of writing entry 2
    with WriteAheadLog(tmp_path) as wal:
        assert wal.last_seq == 1
        assert list(wal.replay()) == [(1, b"kept")]
        assert wal.append(b"after") == 2
    with WriteAheadLog(tmp_path) as wal:
        assert list(wal.replay()) == [(1, b"kept"), (2, b"after")]


def test_corruption_in_an_older_segment_is_an_error(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, segment_bytes=60) as wal:
        for i in range(4):
            wal.append(bytes(40) + bytes([i]))
            wal.sync()
    oldest = sorted(tmp_path.glob("*.wal"))[0]
    data = bytearray(oldest.read_bytes())
    data[-1] ^= 0xFF
    oldest.write_bytes(bytes(data))
    with (
        WriteAheadLog(tmp_path) as wal,
        pytest.raises(StoreError, match=rf"{oldest.name} is corrupt at byte 0"),
    ):
        list(wal.replay())


CRASHER = textwrap.dedent(
    """
    import sys
    from telebench.store.wal import WriteAheadLog
    wal = WriteAheadLog(sys.argv[1])
    n = 0
    while True:
        for _ in range(7):
            n += 1
            wal.append(b"record-%d" % n)
        wal.sync()
        print(n, flush=True)  # acknowledged only after sync returned
    """
)


def _writer(script: str, folder: Path) -> subprocess.Popen[str]:
    """A process running ``script`` on a WAL in ``folder``; it prints what it acknowledged."""
    return subprocess.Popen(
        [sys.executable, "-c", script, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _kill_9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.stdout is not None
    proc.stdout.close()


def test_kill_9_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    proc = _writer(CRASHER, tmp_path)
    assert proc.stdout is not None
    acked = 0
    for line in proc.stdout:
        acked = int(line)
        if acked >= 700:
            break
    assert acked >= 700, "the writer process died before acknowledging anything"
    _kill_9(proc)
    with WriteAheadLog(tmp_path) as wal:
        payloads = [p for _, p in wal.replay()]
    assert len(payloads) >= acked
    assert payloads[:acked] == [b"record-%d" % n for n in range(1, acked + 1)]
    assert len(set(payloads)) == len(payloads)


TRIMMING_CRASHER = textwrap.dedent(
    """
    import sys
    from telebench.store import wal as wal_module
    from telebench.store.wal import WriteAheadLog
    wal_module.RELEASE_STEP = 256  # many fsync'd steps a segment: kills land mid-release
    wal = WriteAheadLog(sys.argv[1], segment_bytes=4_000)
    n = 0
    while True:
        for _ in range(7):
            n += 1
            wal.append(b"record-%d" % n + bytes(100))
        wal.sync()
        print(n, flush=True)
        segments = wal.segments()
        if len(segments) > 3:  # keep the newest 3, as the flusher keeps a few
            print("trimming", flush=True)  # the test kills the process during the release
            wal.truncate_before(int(segments[-3].stem))
    """
)


def test_kill_9_while_trimming_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    proc = _writer(TRIMMING_CRASHER, tmp_path)
    assert proc.stdout is not None
    acked = 0
    for line in proc.stdout:
        if line.startswith("trimming"):
            if acked >= 500:
                break
        else:
            acked = int(line)
    assert acked >= 500, "the writer process died before acknowledging anything"
    time.sleep(0.004)  # a few of the release's fsync'd steps in
    _kill_9(proc)
    with WriteAheadLog(tmp_path) as wal:  # a half-released segment must not read as corrupt
        entries = list(wal.replay())
    assert list(tmp_path.glob("*.trim")) == []
    seqs = [seq for seq, _ in entries]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # whole, in order, once each
    assert seqs[-1] >= acked
    assert all(payload == b"record-%d" % seq + bytes(100) for seq, payload in entries)


def test_append_many_frames_entries_as_append_does(tmp_path: Path) -> None:
    one, many = tmp_path / "one", tmp_path / "many"
    payloads = [b"a", b"", b"bc" * 500, b"d"]
    with WriteAheadLog(one) as wal:
        wal.append(b"first")
        for payload in payloads:
            wal.append(payload)
    with WriteAheadLog(many) as wal:
        wal.append(b"first")
        assert wal.append_many(payloads) == 5
        assert wal.append_many([]) == 5
    assert (one / "00000000000000000001.wal").read_bytes() == (
        many / "00000000000000000001.wal"
    ).read_bytes()
    with WriteAheadLog(many) as wal:
        assert wal.last_seq == 5
        assert list(wal.replay(after=1)) == list(enumerate(payloads, 2))


def test_append_many_starts_a_segment_only_between_rounds(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, segment_bytes=100) as wal:
        wal.append_many([b"x" * 80, b"y" * 80])  # one round stays in one segment
        wal.sync()
        wal.append_many([b"z"])
        wal.sync()
        assert [p.name for p in wal.segments()] == [
            "00000000000000000001.wal",
            "00000000000000000003.wal",
        ]
        assert [seq for seq, _ in wal.replay()] == [1, 2, 3]


def test_append_many_refuses_an_oversize_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal_module, "MAX_ENTRY_BYTES", 10)
    with WriteAheadLog(tmp_path) as wal, pytest.raises(StoreError, match="11 bytes exceeds 10"):
        wal.append_many([b"a", bytes(11)])
    with WriteAheadLog(tmp_path) as wal:
        assert wal.last_seq == 0


_payloads = st.one_of(
    st.binary(max_size=200),
    st.integers(0, 5 * 4096 + 3).map(lambda n: bytes(i * 7 % 256 for i in range(n))),
)


@given(st.integers(0, 2**64 - 1), _payloads)
def test_entry_crc_is_crc32_of_seq_then_payload_at_any_size(seq: int, payload: bytes) -> None:
    # The chunked CRC (which keeps the GIL) must give the WAL format's value exactly.
    assert _crc(seq, payload) == zlib.crc32(payload, zlib.crc32(seq.to_bytes(8, "big")))
