"""The hub's work on a Teltonika record: undecoded AVL data in, its NDJSON line out.

What the event loop (or a decoder process) does to each packet after the session cut it:
decode the records, drop resends through the duplicate window, write the JSON with the
hub's fields (:func:`~telebench.hub.pipeline.prepare_raw`). ``c`` is the compiled path,
``python`` the reference it must match byte for byte (the Python decoder and ``orjson``).
The packets are the ingest benchmark's (Codec 8E, 10 records, 12 parameters), all distinct.

Examples
--------
>>> [r.path for r in run(packets=20, records=2, repeat=1)][-1]
'python'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from telebench.bench.fleet import Fleet
from telebench.hub.pipeline import Origin, RecentMessages, origin_fields, prepare_raw
from telebench.protocols.teltonika import avl_json

__all__ = ["PathFigures", "run"]

_VARIANTS = 16  # devices' packets differ in position, as in the ingest benchmark


@dataclass(frozen=True)
class PathFigures:
    """One path's cost: process CPU a record (median of the passes) and its best pass."""

    path: str
    records: int
    us_per_record: float
    best_us_per_record: float


def run(*, packets: int = 10_000, records: int = 10, repeat: int = 9) -> list[PathFigures]:
    """Time each path over ``packets`` distinct packets, ``repeat`` passes each.

    Each pass starts with an empty duplicate window, so every record is fresh. The C path
    is left out where the extension is not built.
    """
    fleet = Fleet(records=records, interval=1.0)
    per_variant = max(1, packets // _VARIANTS)
    data = [fleet.packet(v, n)[8:-4] for v in range(_VARIANTS) for n in range(per_variant)]
    ident = "352093086403655"
    fields = origin_fields(Origin(ident, 1, 1, "teltonika", "127.0.0.1:50000"))

    def one_pass(compiled: bool) -> Callable[[], None]:
        def timed() -> None:
            recent = RecentMessages()
            for i, body in enumerate(data):
                now = 1.7e9 + i
                prepare_raw("teltonika", body, 8, ident, fields, now, recent, compiled=compiled)

        return timed

    paths = [("c", one_pass(True))] if avl_json.COMPILED else []
    paths.append(("python", one_pass(False)))
    total = len(data) * records
    figures = []
    for name, timed in paths:
        times = sorted(_cpu(timed) for _ in range(repeat))
        median, best = times[len(times) // 2], times[0]
        figures.append(PathFigures(name, total, median / total * 1e6, best / total * 1e6))
    return figures


def _cpu(work: Callable[[], None]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started
