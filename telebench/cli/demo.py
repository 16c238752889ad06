"""``telebench demo``: the main job. For now, every codec end to end in memory.

A device session (client role, as the simulator will use it) logs in and sends packets;
the hub session (server role) decodes them and acks; the device reads the acks. This grows
into the full hub + simulator + calculators + streams demo as those land.
"""

from __future__ import annotations

import json

import click

from telebench.protocols import Role, Session, decode, new_session
from telebench.protocols.events import (
    Accept,
    Event,
    Heartbeat,
    Identified,
    Login,
    Records,
    SendRecords,
)
from telebench.protocols.samples import sample_messages

__all__ = ["demo_command"]

_DEVICES: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("teltonika", "352093086403655", {"codec": 0x8E}),
    ("wialon_ips", "868204002602414", {"version": "2.0"}),
    ("gt06", "353413532150362", {}),
)


def _short_hex(data: bytes, limit: int = 48) -> str:
    text = data.hex().upper()
    return text if len(data) <= limit else f"{text[: limit * 2]}… ({len(data)} bytes)"


def _show(direction: str, data: bytes) -> None:
    shown = repr(data.decode())[1:-1] if data[:1] == b"#" else _short_hex(data)
    click.echo(f"  {direction} {shown}")


def _hub_answers(hub: Session, data: bytes) -> tuple[bytes, list[Event]]:
    hub.receive_data(data)
    replies, events = bytearray(), []
    for event in hub.events():
        events.append(event)
        if isinstance(event, Identified | Records | Heartbeat):
            replies += hub.send(Accept())
    return bytes(replies), events


def _run_device(protocol: str, ident: str, options: dict[str, object], count: int) -> int:
    click.secho(f"\n{protocol} device {ident}", bold=True)
    device = new_session(protocol, Role.CLIENT, options=options)
    hub = new_session(protocol)
    stored = 0
    for outgoing in (
        Login(ident=ident),
        SendRecords(messages=tuple(sample_messages(protocol, count))),
    ):
        data = device.send(outgoing)
        _show("device ->", data)
        reply, events = _hub_answers(hub, data)
        for event in events:
            if isinstance(event, Records):
                stored += len(event.messages)
                click.echo(f"  hub decoded {len(event.messages)} message(s); first:")
                click.echo("    " + json.dumps(event.messages[0], ensure_ascii=False))
        _show("hub    ->", reply)
        device.receive_data(reply)
        for answer in device.events():
            click.echo(f"  device read {answer}")
    return stored


@click.command("demo")
@click.option("--records", default=3, show_default=True, help="Records per device packet.")
def demo_command(records: int) -> None:
    """Run the end-to-end demo (today: every codec, device to hub and back, in memory).

    \b
    Example:
      telebench demo --records 5
    """
    total = sum(_run_device(p, ident, opts, records) for p, ident, opts in _DEVICES)
    request = b"GET /?id=861001000719969&lat=41.666667&lon=-0.883333&speed=12&batt=87 HTTP/1.1"
    click.secho("\nosmand (Traccar Client) request", bold=True)
    click.echo(f"  {request.decode()}")
    click.echo("    " + json.dumps(decode("osmand", request)[0]))
    click.secho(
        f"\n{total + 1} messages decoded across 4 protocols; every packet acked.", bold=True
    )
