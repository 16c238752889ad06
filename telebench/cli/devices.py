"""``telebench devices``: list, add, change and remove the devices a hub knows.

Examples
--------
>>> import tempfile
>>> from click.testing import CliRunner
>>> store = tempfile.mkdtemp()
>>> run = lambda *a: CliRunner().invoke(devices_group, [*a, "--store", store]).output
>>> print(run("add", "356307042441013", "-p", "teltonika", "--meta", "fleet=north"), end="")
added device 1: 356307042441013 (teltonika)
>>> print(run("list", "metadata.fleet=north"), end="")
id  ident            protocol   name             enabled  metadata
1   356307042441013  teltonika  356307042441013  yes      {"fleet":"north"}
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, NoReturn

import click

from telebench.errors import ConfigError, StoreError
from telebench.protocols import PROTOCOLS
from telebench.store.registry import DEFAULT_MESSAGES_TTL, Device, DeviceRegistry

__all__ = ["devices_group", "parse_meta"]

_REGISTRY: Final = "devices.sqlite"
_SELECTORS: Final = """\b
Selectors (flespi style):
  all                              every device
  7  or  1,2,3                     device ids
  ident=35630704*                  ident wildcard (* any run, ? one char)
  protocol=gt06  name=van?         likewise on protocol and name
  enabled=false                    disabled devices
  metadata.fleet=north             a metadata value (wildcards too)
  ident=35*&metadata.fleet=north   conditions joined by & must all hold
"""

MetaValue = str | int | float | bool | None


def parse_meta(item: str) -> tuple[str, MetaValue]:
    """``key=value`` to a metadata pair; JSON scalars (7, 1.5, true, null) keep their type.

    Examples
    --------
    >>> parse_meta("route=7"), parse_meta("fleet=north"), parse_meta("zip=0123")
    (('route', 7), ('fleet', 'north'), ('zip', '0123'))
    >>> parse_meta('code="7"'), parse_meta("spare=true")
    (('code', '7'), ('spare', True))
    """
    key, eq, text = item.partition("=")
    if not eq or not key:
        raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--meta")
    try:
        value = json.loads(text)
    except ValueError:
        return key, text
    scalar = value is None or isinstance(value, str | int | float | bool)
    if not scalar or (isinstance(value, float) and not math.isfinite(value)):
        return key, text
    return key, value


def _fail(message: object) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@contextmanager
def _registry(store: Path, *, create: bool = False) -> Iterator[DeviceRegistry]:
    """Open DIR/devices.sqlite; only ``add`` may create it.

    Config and store errors raised while it is open (bad selector, duplicate device...)
    print ``error: ...`` and exit 2.
    """
    path = store / _REGISTRY
    try:
        if not path.is_file():
            if not create:
                raise StoreError(f"no device registry at {path}; add a device or check --store")
            store.mkdir(parents=True, exist_ok=True)
        with DeviceRegistry(path) as registry:
            yield registry
    except (ConfigError, StoreError, OSError) as exc:
        _fail(exc)


def _select(registry: DeviceRegistry, selector: str) -> list[Device]:
    devices = registry.select(selector)
    if not devices:
        raise ConfigError(f"no device matches selector {selector!r}")
    return devices


def _store_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--store",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("data/hub"),
        show_default=True,
        envvar="TELEBENCH_STORE",
        help="Hub store directory holding devices.sqlite (env TELEBENCH_STORE).",
    )(fn)


def _metadata_text(device: Device) -> str:
    return json.dumps(device.metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _as_json(device: Device) -> dict[str, object]:
    """The device as JSON; the password itself is never printed."""
    row: dict[str, object] = {
        "id": device.id,
        "ident": device.ident,
        "protocol": device.protocol,
        "name": device.name,
        "enabled": device.enabled,
        "metadata": device.metadata,
        "password": None if device.password is None else "***",
        "messages_ttl": device.messages_ttl,
        "messages_rotate": device.messages_rotate,
        "created": device.created,
    }
    return row


def _table(devices: list[Device]) -> None:
    header = ("id", "ident", "protocol", "name", "enabled", "metadata")
    rows = [header] + [
        (
            str(d.id),
            d.ident,
            d.protocol,
            d.name,
            "yes" if d.enabled else "no",
            _metadata_text(d),
        )
        for d in devices
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


@click.group(
    "devices",
    epilog=_SELECTORS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def devices_group() -> None:
    """Manage the hub's device registry (STORE/devices.sqlite).

    \b
    Examples:
      telebench devices add 356307042441013 -p teltonika --name 'van 7' --meta fleet=north
      telebench devices list
      telebench devices list 'metadata.fleet=north&enabled=true' --json
      telebench devices update 'ident=3563*' --meta depot=riga
      telebench devices disable 7
      telebench devices remove protocol=gt06 --yes
    """


@devices_group.command("list", epilog=_SELECTORS)
@click.argument("selector", default="all")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@_store_option
def list_command(selector: str, as_json: bool, store: Path) -> None:
    """List devices matching SELECTOR (default all), as a table or JSON lines.

    \b
    Examples:
      telebench devices list
      telebench devices list 'ident=35630704*' --json
      telebench devices list enabled=false --store /srv/hub
    """
    with _registry(store) as registry:
        devices = registry.select(selector)
    if as_json:
        for device in devices:
            click.echo(json.dumps(_as_json(device), ensure_ascii=False))
    elif devices:
        _table(devices)
    else:
        click.echo(f"no device matches selector {selector!r}", err=True)


@devices_group.command("add")
@click.argument("ident")
@click.option("--protocol", "-p", required=True, type=click.Choice(sorted(PROTOCOLS)))
@click.option("--name", help="Display name (default: the ident).")
@click.option("--password", help="Password the device must log in with (default: any).")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Metadata; repeatable.")
@click.option(
    "--ttl",
    type=click.IntRange(min=0),
    default=DEFAULT_MESSAGES_TTL,
    show_default=True,
    metavar="SECONDS",
    help="Keep messages this long (0 = do not store them).",
)
@click.option(
    "--rotate",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="BYTES",
    help="Cap the device's stored messages at this size (0 = no cap).",
)
@click.option("--disabled", is_flag=True, help="Register it disabled (its messages dropped).")
@_store_option
def add_command(
    ident: str,
    protocol: str,
    name: str | None,
    password: str | None,
    meta: tuple[str, ...],
    ttl: int,
    rotate: int,
    disabled: bool,
    store: Path,
) -> None:
    """Register device IDENT on a protocol (creates the store if needed).

    \b
    Examples:
      telebench devices add 356307042441013 -p teltonika
      telebench devices add 868204002602414 -p wialon_ips --password s3cret \\
          --meta fleet=north --meta route=7 --ttl 2592000
    """
    metadata = dict(parse_meta(m) for m in meta)
    with _registry(store, create=True) as registry:
        device = registry.add(
            ident,
            protocol,
            name=name,
            metadata=metadata,
            enabled=not disabled,
            password=password,
            messages_ttl=ttl,
            messages_rotate=rotate,
        )
    click.echo(f"added device {device.id}: {device.ident} ({device.protocol})")


@devices_group.command("show", epilog=_SELECTORS)
@click.argument("selector")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@_store_option
def show_command(selector: str, as_json: bool, store: Path) -> None:
    """Show every field of the devices matching SELECTOR.

    \b
    Examples:
      telebench devices show 7
      telebench devices show ident=356307042441013 --json
    """
    with _registry(store) as registry:
        devices = _select(registry, selector)
    for i, device in enumerate(devices):
        row = _as_json(device)
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        if i:
            click.echo()
        for key, value in row.items():
            text = _metadata_text(device) if key == "metadata" else value
            click.echo(f"{key + ':':<16} {'-' if text is None else text}")


def _changes(
    device: Device,
    name: str | None,
    password: str | None,
    clear_password: bool,
    meta: tuple[str, ...],
    unset_meta: tuple[str, ...],
) -> dict[str, object]:
    fields: dict[str, object] = {}
    if name is not None:
        fields["name"] = name
    if password is not None or clear_password:
        fields["password"] = password
    if meta or unset_meta:
        metadata = dict(device.metadata) | dict(parse_meta(m) for m in meta)
        for key in unset_meta:
            metadata.pop(key, None)
        fields["metadata"] = metadata
    return fields


@devices_group.command("update", epilog=_SELECTORS)
@click.argument("selector")
@click.option("--name", help="New display name.")
@click.option("--password", help="New password.")
@click.option("--clear-password", is_flag=True, help="Accept any password again.")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Set metadata; repeatable.")
@click.option("--unset-meta", multiple=True, metavar="KEY", help="Remove a metadata key.")
@click.option("--ttl", type=click.IntRange(min=0), metavar="SECONDS", help="Message retention.")
@click.option("--rotate", type=click.IntRange(min=0), metavar="BYTES", help="Size cap.")
@_store_option
def update_command(
    selector: str,
    name: str | None,
    password: str | None,
    clear_password: bool,
    meta: tuple[str, ...],
    unset_meta: tuple[str, ...],
    ttl: int | None,
    rotate: int | None,
    store: Path,
) -> None:
    """Change devices matching SELECTOR; --meta merges into their metadata.

    \b
    Examples:
      telebench devices update 7 --name 'van 7' --password s3cret
      telebench devices update metadata.fleet=north --meta fleet=south --unset-meta depot
      telebench devices update 'ident=35*&protocol=teltonika' --ttl 86400
    """
    if password is not None and clear_password:
        _fail("give --password or --clear-password, not both")
    sizes = {"messages_ttl": ttl, "messages_rotate": rotate}
    given = (name, password, ttl, rotate)
    if all(v is None for v in given) and not (clear_password or meta or unset_meta):
        _fail("nothing to update; give --name, --password, --meta, --ttl ...")
    with _registry(store) as registry:
        devices = _select(registry, selector)
        for device in devices:
            fields = _changes(device, name, password, clear_password, meta, unset_meta)
            fields |= {k: v for k, v in sizes.items() if v is not None}
            registry.update(device.id, **fields)
    click.echo(f"updated {len(devices)} device(s)")


@devices_group.command("remove", epilog=_SELECTORS)
@click.argument("selector")
@click.option("--yes", is_flag=True, help="Confirm removing every device (selector 'all').")
@_store_option
def remove_command(selector: str, yes: bool, store: Path) -> None:
    """Delete devices matching SELECTOR; their stored messages are kept.

    \b
    Examples:
      telebench devices remove 7
      telebench devices remove 'ident=35630704*'
      telebench devices remove all --yes
    """
    if selector.strip() == "all" and not yes:
        _fail("refusing to remove all devices without --yes")
    _bulk(store, selector, DeviceRegistry.remove, "removed")


@devices_group.command("enable", epilog=_SELECTORS)
@click.argument("selector")
@_store_option
def enable_command(selector: str, store: Path) -> None:
    """Enable devices matching SELECTOR: the hub accepts their messages again.

    \b
    Examples:
      telebench devices enable 7
      telebench devices enable metadata.fleet=north
    """
    _bulk(store, selector, DeviceRegistry.enable, "enabled")


@devices_group.command("disable", epilog=_SELECTORS)
@click.argument("selector")
@_store_option
def disable_command(selector: str, store: Path) -> None:
    """Disable devices matching SELECTOR: the hub drops their messages.

    \b
    Examples:
      telebench devices disable 1,2,3
      telebench devices disable 'protocol=gt06&metadata.leased=true'
    """
    _bulk(store, selector, DeviceRegistry.disable, "disabled")


def _bulk(
    store: Path, selector: str, action: Callable[[DeviceRegistry, str], int], verb: str
) -> None:
    with _registry(store) as registry:
        count = action(registry, selector)
    if not count:
        _fail(f"no device matches selector {selector!r}")
    click.echo(f"{verb} {count} device(s)")
