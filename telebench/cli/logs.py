"""``telebench logs``: read the hub's event log from a store folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from telebench.store.logs import LogStore

__all__ = ["logs_command"]


@click.command("logs")
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/hub"),
    envvar="TELEBENCH_STORE",
    show_default=True,
    help="Store folder of the hub.",
)
@click.option("--ident", help="Only this device.")
@click.option("--event", help="Event name, or a prefix wildcard: 'connection.*', 'parse.error'.")
@click.option("--channel", type=int, help="Only this channel id.")
@click.option("--since", type=float, metavar="SECONDS", help="Only the last SECONDS seconds.")
@click.option("--limit", type=int, default=50, show_default=True, help="Newest N entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def logs_command(
    store: Path,
    ident: str | None,
    event: str | None,
    channel: int | None,
    since: float | None,
    limit: int,
    as_json: bool,
) -> None:
    """Show the hub's log: connections opened/closed (with reason), devices identified or
    refused, parse errors with the byte offset and a hex excerpt, commands, plugin errors.

    \b
    Examples:
      telebench logs --event 'connection.*'
      telebench logs --event parse.error --limit 5
      telebench logs --ident 352093086403655 --since 600 --json
    """
    path = store / "logs.sqlite"
    if not path.exists():
        raise click.ClickException(f"no hub log in {store} (run `telebench hub --store {store}`)")
    logs = LogStore(path)
    try:
        frame = logs.query(
            ident=ident,
            event=event,
            channel=channel,
            since=time.time() - since if since is not None else None,
        )
    finally:
        logs.close()
    frame = frame.tail(limit)
    if as_json:
        for row in frame.iter_rows(named=True):
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    if frame.is_empty():
        click.echo("no log entries match")
        return
    for row in frame.iter_rows(named=True):
        click.echo(_line(row))


def _line(row: dict[str, object]) -> str:
    """One log entry on one line: time, event, where, then what went wrong."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(row["time"])))  # type: ignore[arg-type]
    where = " ".join(
        str(v)
        for v in (
            f"ch{row['channel']}" if row.get("channel") is not None else None,
            row.get("protocol"),
            row.get("ident"),
            row.get("peer"),
        )
        if v is not None
    )
    parts = [when, f"{row['event']:<18}", where]
    if row.get("reason"):
        parts.append(f"- {row['reason']}")
    if row.get("offset") is not None:
        parts.append(f"(byte {row['offset']})")
    if row.get("data_hex"):
        parts.append(f"[{row['data_hex']}]")
    if row.get("detail"):
        parts.append(str(row["detail"]))
    return "  ".join(parts)
