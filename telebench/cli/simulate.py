"""``telebench simulate``: a fleet of simulated trackers load-testing a hub.

Examples
--------
>>> from click.testing import CliRunner
>>> result = CliRunner().invoke(simulate_command, ["--port", "teltonika=x"])
>>> result.exit_code, "expected PROTOCOL[/udp]=PORT" in result.output
(1, True)
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from telebench.errors import ConfigError, TelebenchError
from telebench.hub.config import DEFAULT_PORTS
from telebench.protocols import PROTOCOLS

if TYPE_CHECKING:
    from simulators.net.report import LoadReport, SeriesRow

__all__ = ["parse_ports", "parse_seconds", "simulate_command"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_seconds(text: str) -> float:
    """Seconds from ``"90"``, ``"90s"``, ``"30m"``, ``"8h"`` or ``"2d"``.

    Examples
    --------
    >>> parse_seconds("30m"), parse_seconds("1.5h"), parse_seconds("45")
    (1800.0, 5400.0, 45.0)
    """
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:], 0)
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"duration {text!r}: expected seconds > 0 or a number with s/m/h/d")
    return value


def parse_ports(host_ports: tuple[str, ...]) -> dict[tuple[str, str], int]:
    """Default ports (Traccar's, UDP on the same numbers) with ``PROTOCOL[/udp]=PORT`` overrides.

    Examples
    --------
    >>> parse_ports(("teltonika=6027", "wialon_ips/udp=6039"))[("teltonika", "tcp")]
    6027
    >>> parse_ports(())[("wialon_ips", "udp")]
    5039
    """
    ports = {(p, "tcp"): DEFAULT_PORTS[p] for p in PROTOCOLS}
    ports.update({(p, "udp"): DEFAULT_PORTS[p] for p, ts in PROTOCOLS.items() if "udp" in ts})
    for item in host_ports:
        key, _, value = item.partition("=")
        protocol, _, transport = key.partition("/")
        transport = transport or "tcp"
        if protocol not in PROTOCOLS or not value.isdigit() or int(value) > 65535:
            raise ConfigError(f"--port {item!r}: expected PROTOCOL[/udp]=PORT, e.g. teltonika=5027")
        ports[(protocol, transport)] = int(value)
    return ports


def _speedup(text: str) -> float | Literal["max"]:
    if text == "max":
        return "max"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"--speedup {text!r}: expected a number > 0 or 'max'")
    return value


class _Progress:
    """A live status line on stderr (rich when installed, plain text otherwise)."""

    def __init__(self, devices: int) -> None:
        self.devices = devices
        self.live: Any = None
        try:
            from rich.console import Console
            from rich.live import Live
        except ImportError:  # pragma: no cover - rich is a declared dependency
            return
        self.live = Live(console=Console(stderr=True), refresh_per_second=4, transient=True)
        self.live.start()

    def __call__(self, row: SeriesRow) -> None:
        import datetime as dt

        sim = dt.datetime.fromtimestamp(row.sim_time, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        line = (
            f"{row.t:6.0f} s  sim {sim}  connected {row.connected:,}/{self.devices:,}  "
            f"sent {row.sent_per_s:,.0f}/s  acked {row.acked_per_s:,.0f}/s  "
            f"ack p50 {row.latency_p50_ms:.1f} ms p95 {row.latency_p95_ms:.1f} ms"
        )
        if self.live is not None:
            self.live.update(line)
        else:
            click.echo(line, err=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def _fleet(
    devices: int | None, duration: float | None, scenario_file: Path | None, seed: int, kind: str
) -> tuple[Any, float, Any]:
    """``(fleet, duration, scenario or None)`` from the options."""
    if kind == "synthetic":
        from simulators.net.synthetic import SyntheticFleet

        return SyntheticFleet(devices or 100, seed=seed), duration or 3600.0, None
    import dataclasses

    from simulators.fleet import Fleet
    from simulators.scenario import Scenario, load_scenario

    scenario = load_scenario(scenario_file) if scenario_file else Scenario()
    changes: dict[str, Any] = {}
    if devices is not None:
        changes["devices"] = devices
    if duration is not None:
        changes["duration"] = max(1, math.ceil(duration))
    scenario = dataclasses.replace(scenario, **changes)
    return Fleet(scenario, seed=seed), float(scenario.duration), scenario


def _dry(
    scenario_file: Path | None,
    devices: int | None,
    duration: float | None,
    seed: int,
    out: Path,
    workers: int,
    truth: bool,
) -> None:
    try:
        from simulators.dry import dry_run
    except ImportError as exc:  # pragma: no cover - arrives with the fleet simulator
        raise ConfigError(f"--dry needs simulators.dry ({exc})") from exc
    _, _, scenario = _fleet(devices, duration, scenario_file, seed, "roads")
    stats = dry_run(scenario, out, seed, workers=workers, truth=truth)
    messages, wall = getattr(stats, "messages", 0), getattr(stats, "wall_seconds", 0.0)
    click.echo(
        f"{messages:,} messages of {scenario.devices:,} vehicles in {wall:.1f} s "
        f"({messages / max(wall, 1e-9):,.0f}/s) -> {out}"
    )


@click.command("simulate")
@click.option("--devices", "-n", type=click.IntRange(min=1), help="Vehicles (default 200).")
@click.option("--duration", "-d", help="Simulated time: seconds or 90s/30m/8h/2d (default 1d).")
@click.option(
    "--speedup",
    "-s",
    default="1",
    show_default=True,
    help="Simulated seconds per wall second, or 'max' (as fast as acks come back).",
)
@click.option(
    "--hub",
    "hub_host",
    default="127.0.0.1",
    show_default=True,
    help="Hub address; each protocol on its default port unless --port says otherwise.",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="PROTOCOL[/udp]=PORT",
    help="Override one port, e.g. --port teltonika=6027 --port wialon_ips/udp=6039.",
)
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Scenario TOML (fleet, protocol mix, faults; data/scenarios).",
)
@click.option("--seed", default=0, show_default=True, help="Same seed and options: same traffic.")
@click.option(
    "--fleet",
    "fleet_kind",
    type=click.Choice(["roads", "synthetic"]),
    default="roads",
    show_default=True,
    help="'synthetic': a sample record every 10 s per vehicle, no roads (pure network load).",
)
@click.option(
    "--ack-timeout",
    default=10.0,
    show_default=True,
    help="Wall seconds to wait for an ack before reconnecting (UDP: resending).",
)
@click.option(
    "--drain-timeout",
    default=30.0,
    show_default=True,
    help="Wall seconds to wait for outstanding acks after the run.",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write report.json and report.png (throughput and ack latency) here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, not a table.")
@click.option(
    "--dry",
    "dry_out",
    type=click.Path(file_okay=False, path_type=Path),
    help="No network: write the fleet's messages to Parquet in this folder.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="the cores",
    help="--dry: Parquet writer threads (same messages, any count).",
)
@click.option(
    "--truth/--no-truth",
    default=True,
    show_default=True,
    help="--dry: also write the ground truth (trips, parkings, stops, records); "
    "--no-truth writes the messages alone, about 3x faster.",
)
@click.option("--quiet", "-q", is_flag=True, help="No live progress line.")
def simulate_command(
    devices: int | None,
    duration: str | None,
    speedup: str,
    hub_host: str,
    ports: tuple[str, ...],
    scenario_file: Path | None,
    seed: int,
    fleet_kind: str,
    ack_timeout: float,
    drain_timeout: float,
    report_dir: Path | None,
    as_json: bool,
    dry_out: Path | None,
    workers: int,
    truth: bool,
    quiet: bool,
) -> None:
    """Simulate a fleet of GPS trackers against a telebench (or any) hub.

    Each vehicle drives real roads and reports through one protocol of the scenario's mix
    (Teltonika 8/8E over TCP or UDP, Wialon IPS 1.1/2.0, GT06): it logs in, sends its
    records in packets, keeps them until acked, resends after a lost ack or a reconnect,
    sends heartbeats and answers commands. Live progress shows connected devices,
    records sent and acked per second and the ack latency; the run stops by itself after
    DURATION simulated seconds and prints sent, acked, lost, reconnects, errors and the
    ack latency p50/p95/p99.

    \b
    Examples:
      telebench hub --store /tmp/hub &                     # a hub on the default ports
      telebench simulate -n 50 -d 1h -s 60                 # an hour in a minute
      telebench simulate -n 1000 -d 8h -s max --report out # as fast as acks come back
      telebench simulate --scenario data/scenarios/load-test.toml --seed 7 --json
      telebench simulate --fleet synthetic -n 10000 -d 10m -s 1 --hub 10.0.0.5
      telebench simulate --port teltonika=6027 --port teltonika/udp=6027 -n 20 -d 30m
      telebench simulate -n 10000 -d 1d --dry /tmp/fleet   # Parquet only, no network
      telebench simulate -n 10000 --dry /tmp/big --no-truth # messages alone, fastest
    """
    try:
        seconds = parse_seconds(duration) if duration else None
        if dry_out is not None:
            _dry(scenario_file, devices, seconds, seed, dry_out, workers, truth)
            return
        report = _simulate(
            devices,
            seconds,
            _speedup(speedup),
            hub_host,
            parse_ports(ports),
            scenario_file,
            seed,
            fleet_kind,
            ack_timeout,
            drain_timeout,
            quiet,
        )
    except TelebenchError as exc:
        raise click.ClickException(str(exc)) from exc
    if report_dir is not None:
        for path in report.save(report_dir):
            click.echo(f"wrote {path}", err=True)
    click.echo(report.to_json() if as_json else report.table())
    if report.connected_peak == 0:
        sys.exit(1)


def _simulate(
    devices: int | None,
    duration: float | None,
    speedup: float | Literal["max"],
    hub_host: str,
    ports: dict[tuple[str, str], int],
    scenario_file: Path | None,
    seed: int,
    fleet_kind: str,
    ack_timeout: float,
    drain_timeout: float,
    quiet: bool,
) -> LoadReport:
    from simulators.net.options import NetOptions
    from simulators.net.runner import run_load

    fleet, sim_seconds, scenario = _fleet(devices, duration, scenario_file, seed, fleet_kind)
    options = NetOptions.from_scenario(scenario, ack_timeout=ack_timeout)
    progress = None if quiet else _Progress(len(fleet.vehicles))
    try:
        return run_load(
            fleet,
            hub_host=hub_host,
            ports=ports,
            speedup=speedup,
            duration=sim_seconds,
            progress=progress,
            options=options,
            seed=seed,
            drain_timeout=drain_timeout,
        )
    finally:
        if progress is not None:
            progress.stop()
