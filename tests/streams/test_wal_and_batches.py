"""Reading a WAL that is being written, and cutting batches out of it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson

from telebench.store.wal import WriteAheadLog
from telebench.streams import StreamConfig, WalReader
from telebench.streams.batches import plan, read_window
from telebench.streams.store import position


def _entry(*idents: str, t: float = 1e10) -> bytes:
    return b"".join(
        orjson.dumps({"ident": i, "timestamp": n, "server.timestamp": t}) + b"\n"
        for n, i in enumerate(idents)
    )


def test_reader_follows_a_writer_across_segments(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=300, fsync=False)
    reader = WalReader(tmp_path, upto=lambda: wal.synced_seq)
    seen: list[int] = []
    done = threading.Event()

    def follow() -> None:
        after = 0
        while not done.is_set() or after < wal.synced_seq:
            for seq, payload in reader(after, 7):
                assert payload == _entry(str(seq))
                seen.append(seq)
                after = seq
            time.sleep(0.001)

    thread = threading.Thread(target=follow)
    thread.start()
    for n in range(1, 201):
        wal.append(_entry(str(n)))
        if n % 3 == 0:
            wal.sync()
    wal.sync()
    done.set()
    thread.join()
    assert seen == list(range(1, 201))
    assert len(wal.segments()) > 10
    assert reader.head() == 200
    wal.truncate_before(150)
    assert reader(0, 1)[0][0] >= 140  # trimmed: reading starts at the oldest entry left
    wal.close()


def test_reader_stops_at_unsynced_and_torn_entries(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, fsync=False)
    wal.append(_entry("a"))
    wal.sync()
    wal.append(_entry("b"))
    wal._write_pending()  # written but not yet synced: not durable
    assert [s for s, _ in WalReader(tmp_path, upto=lambda: wal.synced_seq)(0, 10)] == [1]
    wal.close()
    segment = wal.segments()[-1]
    with segment.open("ab") as fh:
        fh.write(b"TBW1" + bytes(20))  # a torn tail
    reader = WalReader(tmp_path)
    assert [s for s, _ in reader(0, 10)] == [1, 2]
    assert reader.head() == 2


def test_batches_split_entries_and_resume_mid_entry(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, fsync=False) as wal:
        wal.append(_entry("a", "a", "a", "a", "a"))
        wal.append(_entry("a", "a"))
    reader = WalReader(tmp_path)
    cfg = StreamConfig("s", "http://h/", limit_messages=2)
    base, ends = position(1), []
    while (window := read_window(reader, base, max_lines=2)) is not None:
        (batch,) = plan(window, cfg, base=base, now=1e10)
        ends.append((batch.batch_id("s", "u"), batch.end))
        base = batch.end
    assert ends == [
        ("s.u-1.0-1.1", position(1, 2)),
        ("s.u-1.2-1.3", position(1, 4)),
        ("s.u-1.4-1.4", position(2, 0)),
        ("s.u-2.0-2.1", position(3, 0)),
    ]


def test_per_ident_plan_uses_ident_cursors(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, fsync=False) as wal:
        wal.append(_entry("a", "b", "a", "b", "c"))
        wal.append(_entry("c", "x", t=1.0))  # x arrived long ago: dropped by queue_ttl
    window = read_window(WalReader(tmp_path), position(1), max_lines=100)
    assert window is not None
    cfg = StreamConfig("s", "http://h/%ident%", limit_messages=1, queue_ttl=60)
    idents = {"a": position(1, 1)}  # a's first message was delivered already
    got = {
        b.key: (b.first, b.end, b.count, b.dropped)
        for b in plan(window, cfg, base=position(1), idents=idents, now=1e10)
    }
    assert got == {
        "a": (position(1, 2), position(3), 1, 0),
        "b": (position(1, 1), position(1, 3), 1, 0),
        "c": (position(1, 4), position(3), 1, 1),  # its second message expired
        "x": (position(3), position(3), 0, 1),
    }


def test_a_failed_batch_is_retried_with_the_same_messages_after_the_wal_grew(
    tmp_path: Path,
) -> None:
    """A receiver may store a batch whose 200 was lost: its retry must carry the same id."""
    cfg = StreamConfig("s", "http://h/", limit_messages=10)
    with WriteAheadLog(tmp_path, fsync=False) as wal:
        wal.append(_entry("a", "a", "a"))
        wal.sync()
        reader = WalReader(tmp_path)
        first = read_window(reader, position(1), max_lines=10)
        assert first is not None
        (failed,) = plan(first, cfg, base=position(1), now=1e10)
        wal.append(_entry("a", "a"))  # more messages arrive before the retry
        wal.sync()
        grown = read_window(reader, position(1), max_lines=10)
        assert grown is not None
        (fresh,) = plan(grown, cfg, base=position(1), now=1e10)
        (retried,) = plan(grown, cfg, base=position(1), now=1e10, retry={"": failed.end})
    assert (failed.count, fresh.count) == (3, 5)  # without the cap the batch would grow
    assert retried.batch_id("s", "u") == failed.batch_id("s", "u") == "s.u-1.0-1.2"
    assert (retried.body, retried.end) == (failed.body, failed.end)
