"""Background work yields the CPU to acks: a nice value for Polars' threads.

On a busy machine the event loop, the WAL writer and the decoder processes (what a
device's ack waits for) share the cores with Polars' thread pools (NDJSON parsing,
Parquet writes, compaction merges, telemetry folds) and with the devices themselves. At
50,000 records/s on 2 cores that left 5-15% idle, and compaction merges showed in the ack
latency. At nice 19 (``telebench hub``'s default; 10 before 2026-12-02) Polars still runs
whenever a core is free, but gets about 1.5% of a core it shares with a thread of the ack
path (10%, at nice 10). Unlike ``SCHED_IDLE`` it is never starved, so flushes keep up.

Only Polars' own threads are reniced: they run Rust without the GIL. The flush thread
keeps its priority, because a thread that holds the GIL while it waits for a core would
make the event loop wait behind it.

Linux sets nice values per thread. Polars makes its threads lazily (named ``polars-N``
and ``async-executor-N``), so :class:`Background` finds them by name under
``/proc/self/task`` at each flush pass. Elsewhere, or without ``/proc``, it does nothing.

Examples
--------
>>> background = Background(nice=0)  # 0: leave every priority alone
>>> background.apply()
0
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Final

__all__ = ["POLARS_THREADS", "Background"]

_LOG = logging.getLogger("telebench.hub")
#: Name prefixes of the threads Polars starts (its compute pool and its async executor).
POLARS_THREADS: Final = ("polars", "async-executor")
_TASKS: Final = Path("/proc/self/task")


class Background:
    """Lower the priority of Polars' threads to ``nice``."""

    def __init__(self, nice: int) -> None:
        self.nice = nice

    def apply(self) -> int:
        """Renice every Polars thread still above ``nice``; returns how many.

        Cheap enough for every flush pass: one directory listing and a short read for
        each of the process's threads (a few dozen).
        """
        if self.nice <= 0 or not hasattr(os, "setpriority"):
            return 0
        count = 0
        try:
            tasks = [entry.name for entry in os.scandir(_TASKS)]
        except OSError:
            return count
        for tid in tasks:
            try:
                name = (_TASKS / tid / "comm").read_text()
            except OSError:  # ended meanwhile
                continue
            if name.startswith(POLARS_THREADS):
                count += self._renice(int(tid))
        return count

    def _renice(self, tid: int) -> int:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < self.nice:
                os.setpriority(os.PRIO_PROCESS, tid, self.nice)
                return 1
        except OSError as exc:  # a thread gone, or a system that forbids it: not fatal
            _LOG.debug("could not renice thread %d: %s", tid, exc)
        return 0
