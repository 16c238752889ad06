"""``telebench streams``: add, list, change and inspect the HTTP streams of a hub store.

A running hub picks changes up within about a second.

Examples
--------
>>> import tempfile
>>> from click.testing import CliRunner
>>> store = tempfile.mkdtemp()
>>> run = lambda *a: CliRunner().invoke(streams_group, [*a, "--store", store]).output
>>> print(run("add", "crm", "--uri", "http://127.0.0.1:8080/%ident%", "-H", "X-Key: 1"), end="")
added stream crm -> http://127.0.0.1:8080/%ident%
>>> print(run("list"), end="")
name  enabled  limit  uri                            subscriptions
crm   yes      1000   http://127.0.0.1:8080/%ident%  all
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from telebench.errors import ConfigError, StoreError
from telebench.streams.config import StreamConfig, parse_header
from telebench.streams.state import stream_state
from telebench.streams.store import StreamStore
from telebench.streams.walreader import WalReader

__all__ = ["streams_group"]

_STORE = click.option(
    "--store", "store", default=Path("data/hub"), envvar="TELEBENCH_STORE", show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Hub store directory (streams.sqlite lives there).",
)  # fmt: skip


def _fail(message: object) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@contextmanager
def _open(store: Path) -> Iterator[StreamStore]:
    try:
        with StreamStore(store) as streams:
            yield streams
    except (ConfigError, StoreError) as exc:
        _fail(exc)


def _fields(
    headers: tuple[str, ...],
    limit: int | None,
    timeout: float | None,
    filter_text: str | None,
    subscribe: tuple[str, ...],
    queue_ttl: int | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    try:
        if headers:
            fields["headers"] = dict(parse_header(h) for h in headers)
    except ConfigError as exc:
        _fail(exc)
    values = (("limit_messages", limit), ("timeout", timeout), ("filter", filter_text),
              ("queue_ttl", queue_ttl))  # fmt: skip
    fields.update({k: v for k, v in values if v is not None})
    if subscribe:
        fields["subscriptions"] = tuple(s for s in subscribe if s != "all")
    return fields


def _options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("-H", "--header", "headers", multiple=True, help="'Name: value' header."),
            click.option("--limit-messages", "limit", type=click.IntRange(1), help="Batch size."),
            click.option("--timeout", type=click.FloatRange(0, min_open=True), help="Seconds."),
            click.option("--filter", "filter_text", help="Message filter (flespi-like or sql:)."),
            click.option(
                "--subscribe",
                multiple=True,
                help="devices:SELECTOR or channel:ID (repeatable; 'all' = every message).",
            ),
            click.option("--queue-ttl", type=click.IntRange(1), help="Seconds kept queued."),
        ]
    ):
        f = option(f)
    return f


@click.group("streams")
def streams_group() -> None:
    """HTTP streams: POST message batches to a URI (flespi http stream).

    A stream starts at the newest message (no historic replay); a disabled stream keeps
    nothing and restarts at the newest message when enabled again. A running hub picks
    changes up within a second. Delivery moves on only after a 200; failures are retried
    with backoff, and every batch carries an X-Telebench-Batch id for deduplication.

    \b
    Examples:
      telebench streams add crm --uri https://crm.example/in -H 'Authorization: Bearer T'
      telebench streams add per-device --uri 'http://127.0.0.1:8080/in/%ident%' \\
          --limit-messages 500 --subscribe 'devices:metadata.fleet=north'
      telebench streams add fast --uri http://127.0.0.1:8080/in --filter 'position.speed > 90'
      telebench streams state crm          # cursor, queue size, lag, last error
      telebench streams disable crm
    """


@streams_group.command("add")
@click.argument("name")
@click.option("--uri", required=True, help="http(s) URI; %ident% is replaced per device.")
@_options
@click.option("--disabled", is_flag=True, help="Create the stream disabled.")
@click.option("--from-seq", type=click.IntRange(0), help="Replay the WAL after this seq.")
@_STORE
def add_command(name: str, uri: str, disabled: bool, from_seq: int | None, store: Path,
                **opts: Any) -> None:  # fmt: skip
    """Add stream NAME posting to URI."""
    fields = _fields(**opts)
    with _open(store) as streams:
        try:
            cfg = StreamConfig(name, uri, enabled=not disabled, **fields)
            streams.add(cfg, start=from_seq)
        except (ConfigError, TypeError) as exc:
            _fail(exc)
    click.echo(f"added stream {name} -> {uri}")


@streams_group.command("update")
@click.argument("name")
@click.option("--uri", help="New URI.")
@_options
@_STORE
def update_command(name: str, uri: str | None, store: Path, **opts: Any) -> None:
    """Change settings of stream NAME."""
    fields = _fields(**opts)
    if uri is not None:
        fields["uri"] = uri
    with _open(store) as streams:
        try:
            streams.update(name, **fields)
        except (ConfigError, StoreError) as exc:
            _fail(exc)
    click.echo(f"updated stream {name}")


@streams_group.command("list")
@_STORE
def list_command(store: Path) -> None:
    """List the streams."""
    with _open(store) as streams:
        rows = [
            (c.name, "yes" if c.enabled else "no", str(c.limit_messages), c.uri,
             ",".join(c.subscriptions) or "all")
            for c in streams.list()
        ]  # fmt: skip
    header = ("name", "enabled", "limit", "uri", "subscriptions")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@streams_group.command("show")
@click.argument("name")
@_STORE
def show_command(name: str, store: Path) -> None:
    """Show the configuration of stream NAME as JSON."""
    with _open(store) as streams:
        click.echo(json.dumps(streams.get(name).to_dict(), indent=2))


@streams_group.command("state")
@click.argument("name")
@_STORE
def state_command(name: str, store: Path) -> None:
    """Show cursor, queue size, lag, counters and last error of stream NAME as JSON."""
    with _open(store) as streams:
        state = stream_state(streams, WalReader(store / "wal"), name, now=time.time())
    click.echo(json.dumps(state.to_dict(), indent=2))


_TOGGLE_HELP = {
    "remove": "Delete stream NAME and its cursor.",
    "enable": "Enable stream NAME (it starts at the newest message).",
    "disable": "Disable stream NAME (nothing is kept for it).",
}


def _toggle(action: str) -> click.Command:
    @click.argument("name")
    @_STORE
    def command(name: str, store: Path) -> None:
        with _open(store) as streams:
            getattr(streams, action)(name)
        click.echo(f"{action}d stream {name}")

    command.__doc__ = _TOGGLE_HELP[action]
    return streams_group.command(action)(command)


for _action in ("remove", "enable", "disable"):
    _toggle(_action)
