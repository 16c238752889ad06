"""Simulator benchmark: one simulator process holds N tracker connections against a hub.

The hub runs as ``python -m telebench hub`` in its own process (fsync on, as in real use).
This process runs :func:`simulators.net.runner.run_load` over a
:class:`~simulators.net.synthetic.SyntheticFleet` (a sample record every 10 simulated
seconds per vehicle) at the speedup that offers ``rate`` records a second, and reports the
connections held, the records emitted and acked per wall second, the ack latency and
both processes' CPU and peak RSS.
"""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from telebench.bench.ingest import drain_output

__all__ = ["SimulateResult", "run"]

_PERIOD = 10.0  # simulated seconds between a vehicle's records
_LISTENING = re.compile(r"listening\s+(\w+)\s+(tcp|udp)\s+\S+:(\d+)")


@dataclass
class SimulateResult:
    """What one simulator benchmark run measured."""

    devices: int
    connected_peak: int
    offered_rate: float
    wall_seconds: float
    connect_seconds: float  # until every device was logged in
    sent: int
    acked: int
    lost: int
    sent_per_s: float  # steady state: records written per wall second, resends included
    acked_per_s: float  # steady state
    ack_p50_ms: float
    ack_p99_ms: float
    reconnects: int
    simulator_cpu_percent: float
    simulator_peak_rss_mb: float
    hub_cpu_percent: float
    open_files_limit: int
    errors: dict[str, int] = field(default_factory=dict)


def _start_hub(
    store: Path, fsync: bool = True
) -> tuple[subprocess.Popen[str], dict[tuple[str, str], int]]:
    channels = ("teltonika", "wialon_ips", "gt06", "osmand", "teltonika/udp", "wialon_ips/udp")
    args = [sys.executable, "-m", "telebench", "hub", "--store", str(store)]
    args += [f"--port={c}=0" for c in channels]
    if not fsync:
        args.append("--no-fsync")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ports: dict[tuple[str, str], int] = {}
    for line in proc.stdout:
        found = _LISTENING.match(line)
        if found:
            ports[(found.group(1), found.group(2))] = int(found.group(3))
        elif line.startswith("store") and ports:
            threading.Thread(target=drain_output, args=(proc.stdout,), daemon=True).start()
            return proc, ports
    raise RuntimeError(f"the hub did not start (exit code {proc.wait()})")


def _steady(
    rows: list[tuple[float, float, float]], warmup: float, end: float
) -> tuple[float, float]:
    """Mean sent/s and acked/s of the rows between ``warmup`` and ``end`` seconds of
    simulated-clock time (all rows if none)."""
    kept = [r for r in rows if warmup < r[0] < end] or rows
    if not kept:
        return 0.0, 0.0
    return sum(r[1] for r in kept) / len(kept), sum(r[2] for r in kept) / len(kept)


def run(
    *,
    devices: int = 10_000,
    rate: float = 20_000.0,
    seconds: float = 30.0,
    warmup: float = 10.0,
    mix: tuple[tuple[str, str], ...] = (("teltonika", "tcp"),),
    send_period: float = 120.0,
    store: Path | None = None,
    fsync: bool = True,
    lean: bool = True,
    progress: Callable[[str], None] = print,
) -> SimulateResult:
    """Drive a hub subprocess with ``devices`` trackers offering ``rate`` records/s.

    ``seconds`` of wall time are simulated after the connections are up; the steady-state
    rates average the per-second series after ``warmup`` seconds. ``fsync=False`` runs
    the hub without fsync, to tell the simulator's limits from the disk's; ``lean`` records
    carry a dozen parameters (see :class:`~simulators.net.synthetic.SyntheticFleet`).
    """
    from simulators.net.options import NetOptions
    from simulators.net.report import SeriesRow
    from simulators.net.runner import run_load
    from simulators.net.synthetic import SyntheticFleet

    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if devices + 100 > limit:
        progress(f"warning: {devices} connections but the open-files limit is {limit}")
    folder = Path(tempfile.mkdtemp(prefix="telebench-sim-")) if store is None else store
    proc, ports = _start_hub(folder / "hub", fsync)
    hub = psutil.Process(proc.pid)
    me = psutil.Process()
    speedup = rate * _PERIOD / devices
    rows: list[tuple[float, float, float]] = []
    online = [0.0]

    def on_row(row: SeriesRow) -> None:
        since = (row.sim_time - fleet.start_time) / speedup  # wall s since the clock started
        rows.append((since, row.sent_per_s, row.acked_per_s))
        if row.connected == devices and not online[0]:
            online[0] = row.t
        if len(rows) % 5 == 0:
            progress(
                f"{row.t:5.0f} s  connected {row.connected:,}  sent {row.sent_per_s:,.0f}/s  "
                f"acked {row.acked_per_s:,.0f}/s  p95 {row.latency_p95_ms:.1f} ms"
            )

    fleet = SyntheticFleet(devices, mix=mix, period=_PERIOD, lean=lean)
    try:
        options = NetOptions(send_period=send_period, ack_timeout=30.0, heartbeat_period=3600.0)
        cpu_me, cpu_hub, wall = me.cpu_times(), hub.cpu_times(), time.perf_counter()
        report = run_load(
            fleet, ports=ports, speedup=speedup, duration=(seconds + warmup) * speedup,
            progress=on_row, options=options, drain_timeout=30.0, connect_timeout=300.0,
        )  # fmt: skip
        elapsed = time.perf_counter() - wall
        used_me, used_hub = me.cpu_times(), hub.cpu_times()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    sent_rate, acked_rate = _steady(rows, warmup, seconds + warmup)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return SimulateResult(
        devices=devices, connected_peak=report.connected_peak, offered_rate=rate,
        wall_seconds=elapsed, connect_seconds=online[0], sent=report.sent, acked=report.acked,
        lost=report.lost,
        sent_per_s=sent_rate, acked_per_s=acked_rate,
        ack_p50_ms=report.ack_p50_ms, ack_p99_ms=report.ack_p99_ms,
        reconnects=report.reconnects,
        simulator_cpu_percent=100 * _cpu(cpu_me, used_me) / elapsed,
        simulator_peak_rss_mb=peak_kb / 1024,
        hub_cpu_percent=100 * _cpu(cpu_hub, used_hub) / elapsed,
        open_files_limit=limit, errors=report.errors,
    )  # fmt: skip


def _cpu(before: psutil._common.pcputimes, after: psutil._common.pcputimes) -> float:
    return float(after.user + after.system - before.user - before.system)
