"""The result of a load run: totals, ack latency percentiles and a per-second series.

Examples
--------
>>> report = LoadReport(devices=2, connected_peak=2, sim_seconds=60.0, wall_seconds=1.0,
...                     sent=10, resent=0, acked=9, lost=1, unsent=0, reconnects=0,
...                     latencies=[0.001, 0.002, 0.004])
>>> report.ack_p50_ms, report.lost
(2.0, 1)
>>> "acked" in report.table()
True
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["LoadReport", "SeriesRow", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; 0.0 when empty.

    Examples
    --------
    >>> percentile([3.0, 1.0, 2.0], 0.5), percentile([], 0.99)
    (2.0, 0.0)
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclasses.dataclass(frozen=True)
class SeriesRow:
    """One second of a run (rates per wall second, latency in ms)."""

    t: float  # wall seconds since the start
    sim_time: float  # simulated UNIX seconds
    connected: int
    sent_per_s: float  # records written, resends included
    acked_per_s: float
    latency_p50_ms: float
    latency_p95_ms: float


@dataclasses.dataclass
class LoadReport:
    """Totals of a load run (records unless named otherwise).

    ``sent`` counts distinct records sent at least once, ``resent`` the copies sent again;
    ``lost`` were sent but never acked by the end, ``unsent`` never left the device.
    """

    devices: int
    connected_peak: int
    sim_seconds: float
    wall_seconds: float
    sent: int
    resent: int
    acked: int
    lost: int
    unsent: int
    reconnects: int
    packets: int = 0
    refused: int = 0
    heartbeats: int = 0
    commands: int = 0
    bytes_out: int = 0
    errors: dict[str, int] = dataclasses.field(default_factory=dict)
    latencies: list[float] = dataclasses.field(default_factory=list, repr=False)
    series: list[SeriesRow] = dataclasses.field(default_factory=list, repr=False)

    @property
    def ack_p50_ms(self) -> float:
        """Median ack latency in milliseconds."""
        return 1000 * percentile(self.latencies, 0.50)

    @property
    def ack_p95_ms(self) -> float:
        """95th percentile ack latency in milliseconds."""
        return 1000 * percentile(self.latencies, 0.95)

    @property
    def ack_p99_ms(self) -> float:
        """99th percentile ack latency in milliseconds."""
        return 1000 * percentile(self.latencies, 0.99)

    @property
    def acked_per_s(self) -> float:
        """Records acked per wall second over the whole run."""
        return self.acked / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data: totals, percentiles and the series (no raw latencies)."""
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("latencies", "series")
        }
        out["ack_p50_ms"] = round(self.ack_p50_ms, 3)
        out["ack_p95_ms"] = round(self.ack_p95_ms, 3)
        out["ack_p99_ms"] = round(self.ack_p99_ms, 3)
        out["acked_per_s"] = round(self.acked_per_s, 1)
        out["series"] = [dataclasses.asdict(row) for row in self.series]
        return out

    def to_json(self) -> str:
        """The report as JSON (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        """A plain-text table of the totals."""
        rows = [
            ("devices", f"{self.devices:,} ({self.connected_peak:,} connected at peak)"),
            ("time", f"{self.sim_seconds:,.0f} s simulated in {self.wall_seconds:,.1f} s"),
            ("sent", f"{self.sent:,} records in {self.packets:,} packets"),
            ("resent", f"{self.resent:,}"),
            ("acked", f"{self.acked:,} ({self.acked_per_s:,.0f}/s)"),
            ("lost", f"{self.lost:,} sent, never acked"),
            ("unsent", f"{self.unsent:,} still in device memory"),
            ("refused", f"{self.refused:,} packets"),
            ("reconnects", f"{self.reconnects:,}"),
            ("heartbeats", f"{self.heartbeats:,}"),
            ("commands", f"{self.commands:,} answered"),
            (
                "ack latency",
                f"p50 {self.ack_p50_ms:.1f} ms, p95 {self.ack_p95_ms:.1f} ms, "
                f"p99 {self.ack_p99_ms:.1f} ms",
            ),
        ]
        errors = ", ".join(f"{k}: {v:,}" for k, v in sorted(self.errors.items())) or "none"
        rows.append(("errors", errors))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

    def chart(self, path: Path) -> Path:
        """Write a PNG of throughput and ack latency over time; returns ``path``."""
        import matplotlib.pyplot as plt

        from telebench.plot import plot_load

        fig = plot_load(self)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def save(self, folder: Path) -> list[Path]:
        """Write ``report.json`` and ``report.png`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        json_path = folder / "report.json"
        json_path.write_text(self.to_json() + "\n", encoding="utf-8")
        return [json_path, self.chart(folder / "report.png")]
