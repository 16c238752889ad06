"""Start-up repair on a real store folder: a flush cut short, then a restart's replay."""

from __future__ import annotations

from pathlib import Path

import orjson

from telebench.hub.config import HubConfig
from telebench.hub.durable import read_checkpoint, write_checkpoint
from telebench.hub.flusher import Flusher
from telebench.hub.pipeline import content_key
from telebench.hub.recovery import replay
from telebench.hub.stores import Stores
from telebench.store.partfiles import list_parts, parse_name
from telebench.store.wal import WriteAheadLog

T0 = 1_764_460_800.0


def _entry(ident: str, first: int, count: int) -> bytes:
    lines = [
        {"ident": ident, "timestamp": T0 + i, "position.speed": float(i), "server.timestamp": T0}
        for i in range(first, first + count)
    ]
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def test_a_flush_cut_before_its_checkpoint_is_redone_once(tmp_path: Path) -> None:
    config = HubConfig(store=tmp_path, dedup_window=5)
    stores = Stores.open(tmp_path)
    wal = WriteAheadLog(tmp_path / "wal", fsync=False)
    payloads = [_entry("c", 0, 3), _entry("b", 0, 2), _entry("a", 3, 4)]
    wal.append_many(payloads)
    wal.sync()
    entries = list(wal.replay())
    # The first entry was flushed and checkpointed; the second reached Parquet, but the
    # process died before the checkpoint said so; the third was never flushed.
    Flusher.for_hub(config, stores, checkpoint=0).write_entries(entries[:1])
    assert read_checkpoint(tmp_path / "wal.checkpoint") == 1
    Flusher.for_hub(config, stores, checkpoint=1).write_entries(entries[1:2])
    write_checkpoint(tmp_path / "wal.checkpoint", 1)

    replayed = replay(config, stores, wal)

    assert replayed.recovered == 6  # entries 2 and 3, written again
    assert read_checkpoint(tmp_path / "wal.checkpoint") == 3
    # The cut flush's file is gone (a scan would hide it, but it would stay on disk).
    assert sorted(parse_name(p.path.name) for p in list_parts(stores.dataset.root)) == [
        (1, 1),
        (2, 3),
    ]
    stored = stores.dataset.scan().collect()
    assert stored.height == 9  # no record twice, none lost
    assert stored.group_by("ident").len().sort("ident").rows() == [("a", 4), ("b", 2), ("c", 3)]
    # The duplicate window knows at least the newest 5 records (its capacity).
    lines = [line for payload in payloads for line in payload.splitlines()]
    assert all(content_key(line) in replayed.recent for line in lines[-5:])
    assert replayed.durable == payloads
    # Telemetry: the replayed entries, and the flushed one whose fold was never saved.
    assert stores.telemetry.get("a")["position.speed"] == (6.0, T0 + 6)
    assert stores.telemetry.get("c")["position.speed"] == (2.0, T0 + 2)
    wal.close()
    stores.close()
