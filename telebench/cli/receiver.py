"""``telebench receiver``: the stream receiver, and ``receiver verify`` against a hub store.

Examples
--------
>>> import tempfile
>>> from click.testing import CliRunner
>>> hub, out = tempfile.mkdtemp(), tempfile.mkdtemp()
>>> result = CliRunner().invoke(receiver_group, ["verify", "--store", hub, "--received", out])
>>> result.exit_code, result.output.strip()
(0, 'no messages in the hub store')
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import click
import polars as pl

from telebench.errors import ConfigError, StoreError
from telebench.receiver.app import Faults
from telebench.receiver.server import ReceiverServer
from telebench.receiver.verify import verify

__all__ = ["receiver_group"]


@click.group("receiver", invoke_without_command=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--token", help="Require 'Authorization: Bearer TOKEN'.")
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of 500s.")
@click.option("--delay", type=click.FloatRange(0), default=0.0, help="Seconds before answering.")
@click.option("--down-for", type=click.FloatRange(0), default=0.0,
              help="Refuse connections for this many seconds after --down-after.")  # fmt: skip
@click.option("--down-after", type=click.FloatRange(0), default=0.0, show_default=True)
@click.pass_context
def receiver_group(
    ctx: click.Context, port: int, host: str, out: Path | None, token: str | None,
    fail_rate: float, delay: float, down_for: float, down_after: float,
) -> None:  # fmt: skip
    """Receive stream batches on PORT and store them in OUT (Ctrl-C stops).

    POST a JSON array of messages (or one object) to any path; every batch is fsync'd
    before the 200. Bad JSON or messages without ident/timestamp get a 400 with the reason
    and store nothing; a retried batch (same X-Telebench-Batch id) is counted, not stored
    twice. GET /stats for per-ident counts, duplicates and first/last timestamps.

    \b
    Examples:
      telebench receiver --port 8080 --out data/received
      telebench receiver --port 8080 --out /tmp/rx --token s3cret --fail-rate 0.2 --delay 0.5
      telebench receiver --out /tmp/rx --down-after 10 --down-for 30    # an outage
      telebench receiver verify --store data/hub --received data/received
    """
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise click.UsageError("--out DIR is required to run the receiver")
    server = ReceiverServer(out, host=host, port=port, token=token,
                            faults=Faults(fail_rate=fail_rate, delay=delay))  # fmt: skip
    try:
        server.start()
    except (ConfigError, StoreError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"receiving on {server.url}, storing in {out}")
    stop = threading.Event()
    try:
        if down_for:
            stop.wait(down_after)
            click.echo(f"down for {down_for:g} s")
            server.down_for(down_for).join()
            click.echo("up again")
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@receiver_group.command("verify")
@click.option("--store", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--received", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--since", type=float, help="Compare hub messages with server.timestamp >= this.")
@click.option("--until", type=float, help="... and <= this.")
def verify_command(store: Path, received: Path, since: float | None, until: float | None) -> None:
    """Per ident: messages missing, duplicated, out of order; exit 1 on any loss."""
    report = verify(store, received, since=since, until=until)
    if report.is_empty():
        click.echo("no messages in the hub store")
        return
    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        click.echo(report)
    missing = int(report["missing"].sum())
    total = report.select(pl.sum("expected", "duplicated", "out_of_order")).row(0)
    click.echo(f"expected {total[0]}, missing {missing}, duplicated {total[1]}, "
               f"out of order {total[2]} ({time.strftime('%H:%M:%S')})")  # fmt: skip
    if missing:
        sys.exit(1)
