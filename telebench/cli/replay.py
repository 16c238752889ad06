"""``telebench replay``: send a device's captured raw traffic to a hub again."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import click

from telebench.hub.capture import read_raw

__all__ = ["replay_command"]


@click.command("replay")
@click.argument("ident")
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/hub"),
    envvar="TELEBENCH_STORE",
    show_default=True,
    help="Store folder holding raw/<IDENT>.tbraw.",
)
@click.option("--to", "target", required=True, metavar="HOST:PORT", help="The hub channel.")
@click.option(
    "--speed",
    default=0.0,
    show_default=True,
    help="Time scale: 1 = original pacing, 0 = as fast as replies come back.",
)
def replay_command(ident: str, store: Path, target: str, speed: float) -> None:
    """Replay what device IDENT sent (captured with the hub's `capture_raw`) to HOST:PORT.

    Each chunk the device sent is written again; the hub's answers are read and shown next
    to what the hub answered when the traffic was captured.

    \b
    Examples:
      telebench replay 352093086403655 --to 127.0.0.1:5027
      telebench replay 868204002602414 --store /tmp/hub --to 127.0.0.1:6039 --speed 1
    """
    chunks = read_raw(store / "raw" / f"{ident}.tbraw")
    if not chunks:
        raise click.ClickException(f"no capture for {ident} in {store / 'raw'}")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"{target!r}: expected HOST:PORT", param_hint="--to")
    sent = answers = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        previous = chunks[0][0]
        for when, direction, data in chunks:
            if direction != "in":
                continue
            if speed > 0:
                time.sleep(max(0.0, (when - previous) / speed))
            previous = when
            sock.sendall(data)
            sent += len(data)
            reply = sock.recv(65536)
            answers += len(reply)
            click.echo(f"-> {len(data):5d} B   <- {reply[:24].hex(' ')}")
    click.echo(f"replayed {sent:,} bytes to {target}; {answers:,} bytes of answers")
