"""Start-up repair: what a crash (``kill -9``, power loss) left in a store folder.

The WAL is the truth; the Parquet dataset and telemetry follow it up to the checkpoint
(the last WAL entry whose records are in a committed Parquet file). So a start:

1. drops Parquet files newer than the checkpoint (a flush cut short: their records are
   still in the WAL);
2. warms the duplicate window from the WAL's newest entries, so a device that resends
   records whose ack was lost does not store them twice;
3. rebuilds telemetry from the WAL and writes every entry after the checkpoint to Parquet.

Examples
--------
>>> import pathlib, tempfile
>>> from telebench.hub.config import HubConfig
>>> from telebench.hub.stores import Stores
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> stores = Stores.open(folder)
>>> wal = WriteAheadLog(folder / "wal", fsync=False)
>>> line = b'{"ident":"1","timestamp":5.0,"server.timestamp":9.0,"peer":"x"}\\n'
>>> wal.append(line), wal.sync()  # durable, never flushed: a crash right after the ack
(1, 1)
>>> replayed = replay(HubConfig(store=folder), stores, wal)
>>> replayed.recovered, len(replayed.recent)
(1, 1)
>>> wal.close(); stores.close()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from telebench.hub.config import HubConfig
from telebench.hub.durable import read_checkpoint
from telebench.hub.flusher import Flusher
from telebench.hub.pipeline import RecentMessages, warm
from telebench.hub.stores import Stores
from telebench.store.wal import WriteAheadLog

__all__ = ["Replayed", "replay"]


@dataclass(frozen=True, slots=True)
class Replayed:
    """What :func:`replay` hands the hub to start serving with."""

    flusher: Flusher  # not started: the hub starts it with its group commit
    recent: RecentMessages  # the warmed duplicate window
    durable: list[bytes]  # the WAL payloads that warmed it (for the decoder processes)
    recovered: int  # records written to Parquet from WAL entries after the checkpoint


def replay(config: HubConfig, stores: Stores, wal: WriteAheadLog) -> Replayed:
    """Repair ``stores`` from ``wal`` (the module doc's three steps)."""
    store = Path(config.store)
    checkpoint = read_checkpoint(store / "wal.checkpoint")
    stores.dataset.discard_uncommitted(checkpoint)
    recent = RecentMessages(config.dedup_window)
    entries = list(wal.replay())
    durable = [payload for _, payload in entries[-config.dedup_window :]]
    warm(recent, durable)
    flusher = Flusher.for_hub(config, stores, checkpoint)
    flusher.recover_telemetry(entries)
    pending = [(seq, payload) for seq, payload in entries if seq > checkpoint]
    recovered = 0
    if pending:
        recovered = flusher.write_entries(pending)
        flusher.apply_telemetry()
    return Replayed(flusher, recent, durable, recovered)
