"""Write-ahead-log group commit: entries/s and fsyncs/s at a given group size.

Examples
--------
>>> import tempfile
>>> r = run(tempfile.mkdtemp(), seconds=0.05, group=10, entry_bytes=100)
>>> r["entries_per_s"] > 0
True
"""

from __future__ import annotations

import time
from pathlib import Path

from telebench.store.wal import WriteAheadLog

__all__ = ["run"]


def run(folder: str | Path, *, seconds: float, group: int, entry_bytes: int) -> dict[str, float]:
    """Append ``group`` entries then fsync, repeatedly, for ``seconds``."""
    payload = bytes(entry_bytes)
    syncs = entries = 0
    with WriteAheadLog(folder) as wal:
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(group):
                wal.append(payload)
            wal.sync()
            syncs += 1
            entries += group
    return {
        "entries_per_s": entries / elapsed,
        "fsyncs_per_s": syncs / elapsed,
        "mb_per_s": entries * entry_bytes / elapsed / 1e6,
    }
