"""``python -m telebench.bench SUITE``: print performance figures.

Suites: ``protocols`` (codec decode/encode rates), ``wal`` (fsync'd group commit).
More arrive with the hub (``ingest``), the calculators and the streams.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from dataclasses import asdict

import click

from telebench.bench import protocols as protocols_bench
from telebench.bench import wal as wal_bench


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


if __name__ == "__main__":
    sys.exit(main())
