"""Every protocol end to end over real sockets: device encoder -> hub -> Parquet -> messages()."""

from __future__ import annotations

import http.client
import time
from pathlib import Path

import polars as pl
import pytest

from telebench.hub import Hub
from telebench.protocols import decode
from telebench.protocols.events import LoginAnswer, RecordsAck
from telebench.protocols.samples import sample_messages
from tests.hub.conftest import make_config
from tests.hub.device import Device

IDENT = "352093086403655"
CASES = [
    ("teltonika", {"codec": 0x8E}),
    ("teltonika", {"codec": 0x08}),
    ("wialon_ips", {"version": "2.0"}),
    ("wialon_ips", {"version": "1.1"}),
    ("gt06", {}),
]


def _stored(hub: Hub, ident: str) -> pl.DataFrame:
    return hub.messages(f"ident={ident}").collect()


@pytest.mark.parametrize(("protocol", "options"), CASES)
def test_device_records_are_acked_stored_and_read_back(
    hub: Hub, protocol: str, options: dict[str, object]
) -> None:
    sent = sample_messages(protocol, 5)
    with Device(protocol, hub.port(protocol), IDENT, **options) as device:
        (answer,) = device.login()
        assert isinstance(answer, LoginAnswer)
        assert answer.accepted
        acks = device.send(sent)
        assert isinstance(acks[0], RecordsAck)
        # GT06 carries one record a packet, acked one by one; the others ack the packet.
        assert acks[0].count == (1 if protocol == "gt06" else len(sent))
    frame = _stored(hub, IDENT)
    assert frame.height == len(sent)
    assert frame["timestamp"].to_list() == sorted(m["timestamp"] for m in sent)
    # What the hub stored is exactly what an independent decode of the wire bytes gives.
    decoded = decode(protocol, bytes(device.wire), ident=IDENT)
    expected = sorted(decoded, key=lambda m: m["timestamp"])  # type: ignore[arg-type, return-value]
    for row, message in zip(frame.iter_rows(named=True), expected, strict=True):
        for name, value in message.items():
            assert row[name] == (pytest.approx(value) if isinstance(value, float) else value), name
    first = frame.row(0, named=True)
    assert first["ident"] == IDENT
    assert first["protocol.name"] == protocol
    assert first["device.id"] == hub.devices.get(IDENT, protocol).id  # type: ignore[union-attr]
    assert first["server.timestamp"] == pytest.approx(time.time(), abs=30)


def test_udp_datagrams_are_acked_after_storing(hub: Hub) -> None:
    for protocol in ("teltonika", "wialon_ips"):
        ident = f"35209308640{len(protocol)}"
        with Device(protocol, hub.port(protocol, "udp"), ident, transport="udp") as device:
            acks = device.send(sample_messages(protocol, 3))
            assert isinstance(acks[0], RecordsAck), protocol
        assert _stored(hub, ident).height == 3, protocol


def test_osmand_http_form(hub: Hub) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", hub.port("osmand"), timeout=10)
    conn.request(
        "GET", "/?id=861001000719969&lat=41.666667&lon=-0.883333&speed=12&timestamp=1700000000"
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    body = "id=861001000719969&lat=41.7&lon=-0.9&timestamp=1700000060"
    conn.request("POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert conn.getresponse().status == 200
    conn.close()
    frame = _stored(hub, "861001000719969")
    assert frame["timestamp"].to_list() == [1700000000.0, 1700000060.0]
    assert frame["position.latitude"].to_list() == [41.666667, 41.7]


def test_resent_records_are_stored_once(hub: Hub) -> None:
    sent = sample_messages("teltonika", 4)
    for _ in range(3):  # the ack was "lost": the device reconnects and resends
        with Device("teltonika", hub.port("teltonika"), IDENT, codec=0x8E) as device:
            device.login()
            device.send(sent)
    assert _stored(hub, IDENT).height == 4


def test_out_of_order_black_box_records_land_in_device_time_order(hub: Hub) -> None:
    sent = sample_messages("wialon_ips", 6)
    with Device("wialon_ips", hub.port("wialon_ips"), IDENT, version="2.0") as device:
        device.login()
        device.send(sent[3:])  # newest first, then the black box
        device.send(sent[:3])
    stamps = _stored(hub, IDENT)["timestamp"].to_list()
    assert stamps == sorted(float(m["timestamp"]) for m in sent)  # type: ignore[arg-type]


def test_stop_leaves_every_acked_record_in_parquet(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with (
        Hub(config=make_config(store, flush_interval=3600.0)) as hub,
        Device("gt06", hub.port("gt06"), "353413532150362") as device,
    ):
        device.login()
        device.send(sample_messages("gt06", 7))
    frame = pl.read_parquet(str(store / "messages" / "**" / "*.parquet"))
    assert frame.height == 7
    assert set(frame["ident"]) == {"353413532150362"}
