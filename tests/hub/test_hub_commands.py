"""Commands over real sockets: Teltonika Codec 12, GT06 0x80, Wialon IPS #M#."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from telebench.hub import Hub
from telebench.protocols.events import CommandRequest
from tests.hub.conftest import make_config
from tests.hub.device import Device

CASES = [
    ("teltonika", "352093086403655"),
    ("gt06", "353413532150362"),
    ("wialon_ips", "868204002602414"),
]


def _status(hub: Hub, ident: str, want: str, timeout: float = 5.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        rows = hub.command_results(ident).to_dicts()
        if (rows and rows[-1]["status"] == want) or time.monotonic() > deadline:
            return rows[-1]
        time.sleep(0.02)


@pytest.mark.parametrize(("protocol", "ident"), CASES)
def test_command_to_a_connected_device_and_its_answer(hub: Hub, protocol: str, ident: str) -> None:
    with Device(protocol, hub.port(protocol), ident) as device:
        device.login()
        command = hub.send_command(ident, "getinfo")
        (request,) = device.read()
        assert isinstance(request, CommandRequest)
        assert request.text == "getinfo"
        assert _status(hub, ident, "sent")["status"] == "sent"
        if protocol != "wialon_ips":  # IPS devices answer #M# with a plain ack, no text
            device.answer_command("RTC:2026/11/30 Init:ok")
            row = _status(hub, ident, "done")
            assert row["id"] == command.id
            assert row["status"] == "done"
            assert row["response"] == "RTC:2026/11/30 Init:ok"


def test_command_queued_while_offline_is_delivered_on_connect(hub: Hub) -> None:
    ident = "352093086403655"
    hub.devices.add(ident, "teltonika")
    hub.send_command(ident, "setdigout 1")
    assert _status(hub, ident, "queued")["status"] == "queued"
    with Device("teltonika", hub.port("teltonika"), ident) as device:
        events = device.login()  # the command may ride in the same read as the login answer
        events += device.read() if len(events) < 2 else []
        assert isinstance(events[1], CommandRequest)
        assert events[1].text == "setdigout 1"
    deadline = time.monotonic() + 5
    while hub.logs(event="command.sent").height != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hub.logs(event="command.sent").height == 1


def test_expired_command_is_recorded(tmp_path: Path) -> None:
    with Hub(config=make_config(tmp_path / "s")) as hub:
        hub.devices.add("1", "gt06")
        hub.send_command("1", "RESET#", ttl=0.1)
        assert _status(hub, "1", "expired")["status"] == "expired"  # the sweep runs every second
        assert hub.logs(event="command.expired").height == 1
