"""``telebench hub``: run the hub in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import dataclasses
import gc
import signal
import sys
import threading
import time
import tomllib
from pathlib import Path
from types import FrameType

import click

from telebench.errors import TelebenchError
from telebench.hub.allocator import keep_large_buffers
from telebench.hub.config import HubConfig, load_config
from telebench.hub.hub import Hub

__all__ = ["hub_command"]

# Background work at nice 19 still runs whenever a core is free (telebench.hub.priority).
# 10 until 2026-12-02: 19 gave p99 122-184 ms against 113-273 ms at 50,000 records/s.
_BACKGROUND_NICE = 19


@click.command("hub")
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TELEBENCH_STORE",
    help="Store folder (default data/hub, or the config file's `store`).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file with channels, plugins and intervals (see telebench.hub.config).",
)
@click.option("--host", help="Listen on this address instead of 127.0.0.1 (e.g. 0.0.0.0).")
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="PROTOCOL[/udp]=PORT",
    help="Change one channel's port, e.g. --port teltonika=6027 --port wialon_ips/udp=6039.",
)
@click.option("--no-fsync", is_flag=True, help="Skip fsync (benchmarks only: acks become unsafe).")
@click.option(
    "--background-nice",
    type=click.IntRange(0, 19),
    help="Nice value of Polars' threads (flushing, compaction), so acks win the CPU"
    " (0: off). Default 19, or the config file's `background_nice`.",
)
def hub_command(
    store: Path | None,
    config_file: Path | None,
    host: str | None,
    ports: tuple[str, ...],
    no_fsync: bool,
    background_nice: int | None,
) -> None:
    """Run the telebench hub: devices connect, records are stored durably, then acked.

    Listens on 127.0.0.1 on Traccar's ports: Teltonika 5027 (TCP+UDP), Wialon IPS 5039
    (TCP+UDP), GT06 5023, OsmAnd 5055 (HTTP). Ctrl-C or SIGTERM stops it cleanly with
    every acked message in the Parquet dataset under STORE/messages.

    \b
    Examples:
      telebench hub
      telebench hub --store /tmp/hub --port teltonika=6027
      telebench hub --config hub.toml --host 0.0.0.0
    """
    # The event loop makes thousands of syscalls a second, each releasing the GIL; with the
    # default 5 ms switch interval a busy flush thread keeps it for that long every time.
    sys.setswitchinterval(0.0005)
    # Records are short-lived dicts freed by reference counting, yet with the default
    # threshold (700) the cyclic collector ran every few packets and walked the older
    # generations over and over: 4.2 s of a 40 s run at 40,000 records/s (gc.callbacks),
    # 0.2 s with this threshold, and 15-20% more records/s. Hub objects form few cycles.
    gc.set_threshold(50_000, 20, 100)
    keep_large_buffers()  # each flush's 38 MB join page-faulted for 37 ms, holding the GIL
    try:
        config = load_config(config_file) if config_file else HubConfig()
        config = _apply_options(config, store, host, ports, no_fsync)
        config = with_background_nice(config, background_nice, config_file)
        hub = Hub(config=config).start()
    except TelebenchError as exc:
        raise click.ClickException(str(exc)) from exc
    # What the hub holds from start-up on moves to the collector's permanent generation,
    # the duplicate window's set and deque among them: every full collection walked their
    # million ints (70-100 ms idle, 0.2 s under load), holding the event loop meanwhile.
    gc.freeze()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hub.recovered:
        click.echo(f"recovered {hub.recovered} records from the write-ahead log")
    for (protocol, transport), (addr, port) in sorted(hub.addresses().items()):
        click.echo(f"listening  {protocol:<11} {transport:<4} {addr}:{port}")
    click.echo(f"store      {config.store}  (Ctrl-C to stop)", err=False)
    started = time.monotonic()
    while not stop.wait(1.0):
        pass
    click.echo("stopping: closing connections and flushing to Parquet ...")
    hub.stop()
    click.echo(f"stopped after {time.monotonic() - started:.0f} s")


def with_background_nice(
    config: HubConfig, option: int | None, config_file: Path | None
) -> HubConfig:
    """``--background-nice`` if given, else the config file's value, else 19.

    >>> with_background_nice(HubConfig(), None, None).background_nice
    19
    >>> with_background_nice(HubConfig(), 0, None).background_nice
    0
    """
    if option is None:
        if _sets(config_file, "background_nice"):
            return config
        option = _BACKGROUND_NICE
    return dataclasses.replace(config, background_nice=option)


def _sets(config_file: Path | None, key: str) -> bool:
    """Whether the config file sets ``key`` (already parsed once: it is valid TOML)."""
    if config_file is None:
        return False
    with config_file.open("rb") as fh:
        return key in tomllib.load(fh)


def _apply_options(
    config: HubConfig, store: Path | None, host: str | None, ports: tuple[str, ...], no_fsync: bool
) -> HubConfig:
    channels = list(config.channels)
    for item in ports:
        key, _, value = item.partition("=")
        protocol, _, transport = key.partition("/")
        transport = transport or "tcp"
        if not value.isdigit() or not 0 <= int(value) <= 65535:
            raise click.BadParameter(f"{item!r}: expected PROTOCOL[/udp]=PORT", param_hint="--port")
        matched = [
            i for i, c in enumerate(channels) if (c.protocol, c.transport) == (protocol, transport)
        ]
        if not matched:
            raise click.BadParameter(
                f"no {protocol}/{transport} channel to change", param_hint="--port"
            )
        for i in matched:
            channels[i] = dataclasses.replace(channels[i], port=int(value))
    if host:
        channels = [dataclasses.replace(c, host=host) for c in channels]
    changes: dict[str, object] = {"channels": channels}
    if store is not None:
        changes["store"] = store
    if no_fsync:
        changes["fsync"] = False
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]
