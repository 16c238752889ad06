"""The demo's live progress: a bar of simulated time, with the load figures beside it."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from simulators.net.report import SeriesRow

__all__ = ["SimulatedTimeBar"]


class SimulatedTimeBar:
    """``with SimulatedTimeBar(start, duration) as bar: run_load(..., progress=bar)``.

    Drawn on stderr, and only on a terminal (a redirected or captured run stays clean).
    """

    def __init__(self, start: float, duration: float, devices: int) -> None:
        self.start, self.devices = start, devices
        console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("simulated"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[load]}"),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task("fleet", total=duration, load="")

    def __call__(self, row: SeriesRow) -> None:
        load = (
            f"connected {row.connected:,}/{self.devices:,}  acked {row.acked_per_s:,.0f}/s  "
            f"ack p95 {row.latency_p95_ms:.0f} ms"
        )
        self.progress.update(self.task, completed=row.sim_time - self.start, load=load)

    def __enter__(self) -> SimulatedTimeBar:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.progress.stop()
