"""``python -m telebench.bench SUITE``: print performance figures.

Suites: ``protocols`` (codec decode/encode rates), ``wal`` (fsync'd group commit),
``ingest`` (a hub under load), ``records`` (the hub's work on a record), ``store``,
``background``, ``calc``, ``streams`` and ``simulate``; ``--help`` on each says what it does.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, astuple, fields
from pathlib import Path
from typing import TYPE_CHECKING

import click

from telebench.bench import protocols as protocols_bench
from telebench.bench import wal as wal_bench

if TYPE_CHECKING:
    from telebench.bench.ingest import SecondFigures


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Benchmarks for telebench; each prints a table (or JSON) of measured figures."""


@main.command("protocols")
@click.option("--seconds", default=2.0, show_default=True, help="Time per case and direction.")
@click.option("--case", "cases", multiple=True, help="Only this case (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def protocols(seconds: float, cases: tuple[str, ...], as_json: bool) -> None:
    """Records/s decoded (hub path) and encoded (simulator path) per protocol, one core."""
    results = protocols_bench.run(seconds, list(cases) or None)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in results], indent=2))
        return
    click.echo(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} cores; one core used; {seconds:g} s per figure"
    )
    header = (
        f"{'case':<20} {'rec/pkt':>7} {'B/rec':>6} {'decode rec/s':>13} {'encode rec/s':>13}  goal"
    )
    click.echo(header)
    click.echo("-" * len(header))
    for r in results:
        verdict = ""
        if r.goal:
            verdict = f">= {r.goal:,.0f} decode: " + (
                "met" if r.decode_rate >= r.goal else "MISSED"
            )
        encode = f"{r.encode_rate:13,.0f}" if r.encode_rate else f"{'-':>13}"
        click.echo(
            f"{r.name:<20} {r.records_per_packet:>7} {r.bytes_per_record:>6.1f} "
            f"{r.decode_rate:13,.0f} {encode}  {verdict}"
        )


@main.command("wal")
@click.option("--seconds", default=3.0, show_default=True)
@click.option("--group", default=50, show_default=True, help="Entries per fsync (group commit).")
@click.option(
    "--entry-bytes", default=1500, show_default=True, help="One Teltonika 8E packet ~1.5 kB."
)
def wal(seconds: float, group: int, entry_bytes: int) -> None:
    """fsync'd write-ahead-log throughput: how fast the hub can make records durable."""
    with tempfile.TemporaryDirectory(dir=".") as folder:
        r = wal_bench.run(folder, seconds=seconds, group=group, entry_bytes=entry_bytes)
    click.echo(
        f"group {group} x {entry_bytes} B: {r['entries_per_s']:,.0f} entries/s, "
        f"{r['fsyncs_per_s']:,.0f} fsyncs/s, {r['mb_per_s']:.1f} MB/s"
    )


@main.command("ingest")
@click.option("--devices", default=10_000, show_default=True, help="Concurrent TCP trackers.")
@click.option("--rate", default=50_000.0, show_default=True, help="Records/s offered in total.")
@click.option("--records", default=10, show_default=True, help="Records per packet (8E).")
@click.option("--seconds", default=30.0, show_default=True, help="Measured window.")
@click.option("--warmup", default=5.0, show_default=True, help="Seconds before measuring.")
@click.option("--no-fsync", is_flag=True, help="Hub without fsync (to see what fsync costs).")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Hub TOML config (e.g. another flush_interval).",
)
@click.option(
    "--timeline",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write records acked and ack p50/p99/max for each second to this CSV.",
)
def ingest(
    devices: int,
    rate: float,
    records: int,
    seconds: float,
    warmup: float,
    no_fsync: bool,
    config: Path | None,
    timeline: Path | None,
) -> None:
    """A hub process driven by this process: devices held, records/s, ack p50/p99, RSS.

    The hub's RSS and CPU include its decoder processes'.

    \b
    Goal on 2 cores: 10,000 devices, >= 50,000 records/s, p99 ack <= 250 ms, RSS <= 1.5 GB.
    Example: python -m telebench.bench ingest --devices 1000 --rate 20000 --seconds 10
    --timeline FILE shows whether a bad p99 was steady or came in episodes; a "driver
    stall" near the p99 means this process, not the hub, was late.
    """
    from telebench.bench import ingest as ingest_bench

    folder = Path(tempfile.mkdtemp(prefix="ingest-bench-", dir="."))
    r = ingest_bench.run(
        folder,
        devices=devices,
        rate=rate,
        records=records,
        seconds=seconds,
        warmup=warmup,
        fsync=not no_fsync,
        config=config.resolve() if config else None,
        progress=lambda text: click.echo(text, err=True),
    )
    durability = "no fsync: acks after the write only" if no_fsync else "each ack after fsync"
    click.echo(
        f"devices held     {r.connected:,} of {r.devices:,}\n"
        f"records/s acked  {r.records_per_s:,.0f} (offered {rate:,.0f}; {durability})\n"
        f"ack latency      p50 {r.ack_p50_ms:.1f} ms, p99 {r.ack_p99_ms:.1f} ms, "
        f"max {r.ack_max_ms:.1f} ms\n"
        f"hub processes    peak RSS {r.hub_peak_rss_mb:,.0f} MB, CPU {r.hub_cpu_percent:.0f}%"
        f" = {r.hub_cpu_us_per_record:.1f} us a record (driver process CPU "
        f"{r.client_cpu_percent:.0f}% = {r.client_cpu_us_per_record:.1f} us a record)\n"
        f"driver stall     {r.driver_stall_ms:.0f} ms at most (the driver's event loop ran "
        "late: its acks were read that much later)\n"
        f"stored           {r.stored_records:,} records for {r.total_acked:,} acked; "
        f"{r.duplicates} duplicates"
    )
    if r.timeline:
        worst = max(r.timeline, key=lambda row: row.p99_ms)
        click.echo(
            f"worst second     {worst.second} s in: {worst.records:,} records acked, "
            f"p99 {worst.p99_ms:.1f} ms"
        )
    if timeline is not None:
        _write_timeline(timeline, r.timeline)
        click.echo(f"timeline         {timeline}")
    for error in r.errors:
        click.echo(f"error: {error}", err=True)
    if r.stored_records == r.total_acked and not r.duplicates:
        shutil.rmtree(folder)
    else:  # a store that lost or doubled records is evidence: keep it
        click.echo(f"error: stored != acked; the hub's store is kept in {folder}", err=True)
        sys.exit(1)


def _write_timeline(path: Path, rows: Sequence[SecondFigures]) -> None:
    from telebench.bench.ingest import SecondFigures

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([f.name for f in fields(SecondFigures)])
        writer.writerows(astuple(row) for row in rows)


@main.command("store")
@click.option("--devices", default=1000, show_default=True, help="Devices reporting every 10 s.")
@click.option("--days", default=2, show_default=True, help="Days stored (8,640 msgs/device/day).")
@click.option("--repeat", default=3, show_default=True, help="Best of N for each read.")
def store(devices: int, days: int, repeat: int) -> None:
    """Parquet store read-back: one device-day, and every message into a DataFrame.

    \b
    Goals: one device-day (8,640 messages) <= 50 ms; 10 million messages scanned <= 3 s.
    Example: python -m telebench.bench store --devices 1000 --days 2   (17.3M messages)
    """
    from telebench.bench import store as store_bench

    with tempfile.TemporaryDirectory(dir=".") as folder:
        r = store_bench.run(folder, devices=devices, days=days, repeat=repeat)
    click.echo(
        f"dataset          {r.messages:,} messages, {r.files} files, "
        f"{r.bytes_on_disk / 2**20:,.0f} MiB on disk\n"
        f"one device-day   {r.device_day_s * 1000:.1f} ms (goal <= 50 ms)\n"
        f"full scan        {r.full_scan_s:.2f} s ({r.messages / r.full_scan_s:,.0f} msgs/s), "
        f"sorted by ident and time {r.full_scan_sorted_s:.2f} s"
    )


@main.command("background")
@click.option("--devices", default=10_000, show_default=True, help="Trackers in each batch.")
@click.option("--flush-rows", default=50_000, show_default=True, help="Records a flush.")
@click.option("--flushes", default=30, show_default=True, help="Flushes a telemetry fold takes.")
@click.option("--repeat", default=3, show_default=True, help="Best of N for each step.")
def background(devices: int, flush_rows: int, flushes: int, repeat: int) -> None:
    """CPU per record of the hub's background steps: flush, telemetry fold, compaction.

    \b
    Each step alone (the ingest benchmark's p99 swings with the machine's load; these
    figures do not), with the batch sizes of 50,000 records/s and the hub's defaults: a
    flush a second, a telemetry fold of 30 flushes, a compaction of about a million rows.
    Example: python -m telebench.bench background
    """
    from telebench.bench import background as background_bench

    with tempfile.TemporaryDirectory(dir=".") as folder:
        steps = background_bench.run(
            folder, devices=devices, flush_rows=flush_rows, flushes=flushes, repeat=repeat
        )
    click.echo(f"{'step':<16} {'records':>10} {'wall':>9} {'CPU':>9} {'CPU a record':>13}")
    for s in steps:
        click.echo(
            f"{s.name:<16} {s.records:>10,} {s.wall_s * 1e3:>7.0f} ms {s.cpu_s * 1e3:>6.0f} ms"
            f" {s.cpu_us_per_record:>10.2f} µs"
        )


@main.command("records")
@click.option("--packets", default=10_000, show_default=True, help="Distinct packets a pass.")
@click.option("--records", default=10, show_default=True, help="Records a packet (8E).")
@click.option("--repeat", default=9, show_default=True, help="Passes; the median is printed.")
def records(packets: int, records: int, repeat: int) -> None:
    """CPU a Teltonika record from undecoded AVL data to its NDJSON line, C and Python.

    \b
    The hub's work on each record after the session cut the packet: decode, drop resends,
    write the JSON with the hub's fields (the event loop's, or a decoder process's).
    Example: python -m telebench.bench records
    """
    from telebench.bench import records as records_bench

    figures = records_bench.run(packets=packets, records=records, repeat=repeat)
    click.echo(f"{'path':<8} {'records':>9} {'CPU a record':>13} {'best pass':>10}")
    for f in figures:
        click.echo(
            f"{f.path:<8} {f.records:>9,} {f.us_per_record:>10.2f} µs"
            f" {f.best_us_per_record:>7.2f} µs"
        )


def _print_flat(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        click.echo(f"{key:<22} {shown}")


@main.command("calc")
@click.option("--messages", default=10_000_000, show_default=True)
@click.option("--devices", default=1000, show_default=True)
@click.option("--fences", default=1000, show_default=True, help="Circular geofences (300 m).")
@click.option("--no-movingpandas", is_flag=True, help="Skip the MovingPandas comparison.")
@click.option("--json", "as_json", is_flag=True)
def calc(messages: int, devices: int, fences: int, no_movingpandas: bool, as_json: bool) -> None:
    """Calculators on synthetic fleet data: trips+parkings, spatial stops, geofences.

    \b
    Goals (10M messages, 1,000 devices): trips + parkings <= 2 s, stops <= 2 s,
    geofences vs 1,000 polygons <= 10 s, peak memory <= 4 GB.
    """
    from telebench.bench import calc as calc_bench

    result = calc_bench.run(
        messages=messages, devices=devices, fences=fences, movingpandas=not no_movingpandas
    )
    _print_flat(dict(result), as_json)


@main.command("streams")
@click.option("--messages", default=200_000, show_default=True)
@click.option("--batch", default=1000, show_default=True, help="limit_messages of the stream.")
@click.option("--json", "as_json", is_flag=True)
def streams(messages: int, batch: int, as_json: bool) -> None:
    """HTTP stream delivery from a WAL to a real receiver process (fsync'd), batches of 1,000.

    Goal: >= 20,000 messages/s end to end on loopback.
    """
    from telebench.bench import streams as streams_bench

    _print_flat(streams_bench.run(messages=messages, batch=batch), as_json)


@main.command("simulate")
@click.option("--devices", default=10_000, show_default=True)
@click.option("--rate", default=20_000.0, show_default=True, help="Records/s offered.")
@click.option("--seconds", default=30.0, show_default=True)
@click.option("--warmup", default=10.0, show_default=True)
@click.option("--no-fsync", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def simulate(
    devices: int, rate: float, seconds: float, warmup: float, no_fsync: bool, as_json: bool
) -> None:
    """One simulator process holding DEVICES tracker connections against a hub process.

    Goal: >= 10,000 connections and >= 20,000 records/s emitted into the hub.
    """
    from telebench.bench import simulate as simulate_bench

    result = simulate_bench.run(
        devices=devices,
        rate=rate,
        seconds=seconds,
        warmup=warmup,
        fsync=not no_fsync,
        progress=lambda text: click.echo(text, err=True),
    )
    _print_flat(asdict(result), as_json)


if __name__ == "__main__":
    sys.exit(main())
