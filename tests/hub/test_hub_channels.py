"""Channel behaviour over real sockets: unknown idents, timeouts, bad bytes, limits, logs."""

from __future__ import annotations

import dataclasses
import socket
import time
from pathlib import Path

import pytest

from telebench.errors import ConfigError
from telebench.hub import Hub
from telebench.protocols.events import ConnectionClosed, Login, LoginAnswer
from telebench.protocols.samples import sample_messages
from tests.hub.conftest import make_config
from tests.hub.device import Device

IDENT = "352093086403655"


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _hub(tmp_path: Path, **channel_changes: object) -> Hub:
    config = make_config(tmp_path / "store")
    channels = [dataclasses.replace(c, **channel_changes) for c in config.channels]  # type: ignore[arg-type]
    return Hub(config=dataclasses.replace(config, channels=channels))


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


def test_unknown_device_is_registered_by_default(hub: Hub) -> None:
    with Device("wialon_ips", hub.port("wialon_ips"), IDENT) as device:
        assert device.login()[0] == LoginAnswer(accepted=True, code="1")
    device_row = hub.devices.get(IDENT, "wialon_ips")
    assert device_row is not None
    assert device_row.name == IDENT
    assert hub.logs(ident=IDENT)["event"].to_list()[0] == "device.identified"
    assert hub.logs(event="connection.opened").height == 1


def test_refuse_policy_refuses_unknown_idents(tmp_path: Path) -> None:
    with _hub(tmp_path, unknown_devices="refuse") as hub:
        with Device("wialon_ips", hub.port("wialon_ips"), IDENT) as device:
            (answer, *_) = device.login()
            assert isinstance(answer, LoginAnswer)
            assert not answer.accepted
        hub.devices.add("1234", "wialon_ips")
        with Device("wialon_ips", hub.port("wialon_ips"), "1234") as known:
            assert known.login()[0].accepted  # type: ignore[union-attr]
        assert hub.devices.get(IDENT, "wialon_ips") is None
        refused = hub.logs(event="device.refused")
        assert refused["reason"].to_list() == ["unknown device"]
        _wait_for(lambda: hub.logs(event="connection.closed").height == 2)
        closed = hub.logs(event="connection.closed", ident=IDENT)
        assert closed["reason"].to_list() == ["refused: unknown device"]


def test_channel_only_policy_stores_without_a_device(tmp_path: Path) -> None:
    with _hub(tmp_path, unknown_devices="channel_only") as hub:
        with Device("teltonika", hub.port("teltonika"), IDENT) as device:
            device.login()
            device.send(sample_messages("teltonika", 2))
        assert hub.devices.get(IDENT, "teltonika") is None
        frame = hub.messages().collect()
        assert frame.height == 2
        assert frame["device.id"].null_count() == 2
        assert hub.logs(event="unknown.device").height == 1


def test_disabled_device_and_wrong_password_are_refused(hub: Hub) -> None:
    hub.devices.add("1111", "wialon_ips", password="s3cret")
    hub.devices.add("2222", "wialon_ips")
    hub.devices.disable("ident=2222")
    with Device("wialon_ips", hub.port("wialon_ips"), "1111") as device:
        assert device.login("guess")[0] == LoginAnswer(accepted=False, code="01")
    with Device("wialon_ips", hub.port("wialon_ips"), "1111") as device:
        assert device.login("s3cret")[0].accepted  # type: ignore[union-attr]
    with Device("wialon_ips", hub.port("wialon_ips"), "2222") as device:
        assert not device.login()[0].accepted  # type: ignore[union-attr]
    reasons = hub.logs(event="device.refused")["reason"].to_list()
    assert reasons == ["wrong password", "device disabled"]


def test_idle_connections_are_closed_and_logged(tmp_path: Path) -> None:
    with _hub(tmp_path, idle_timeout=0.3) as hub:
        with Device("gt06", hub.port("gt06"), "353413532150362") as device:
            device.login()
            assert _closed(device.sock)
        _wait_for(lambda: hub.logs(event="connection.closed").height == 1)
        assert hub.logs(event="connection.closed")["reason"].to_list() == ["idle timeout"]


def test_garbage_closes_only_that_connection_and_logs_the_bytes(hub: Hub) -> None:
    with (
        Device("teltonika", hub.port("teltonika"), IDENT) as good,
        Device("teltonika", hub.port("teltonika"), "352093086400000") as bad,
    ):
        good.login()
        bad.login()
        bad.send_raw(bytes.fromhex("deadbeef") + b"garbage bytes")
        assert _closed(bad.sock)
        acks = good.send(sample_messages("teltonika", 2))
        assert acks
        assert acks[0].count == 2
    _wait_for(lambda: hub.logs(event="parse.error").height == 1)
    error = hub.logs(event="parse.error").row(0, named=True)
    assert error["ident"] == "352093086400000"
    assert error["offset"] is not None
    assert error["data_hex"].startswith("[de] ad be ef")
    closed = hub.logs(event="connection.closed", ident="352093086400000")
    assert closed["reason"].to_list() == ["protocol error"]


def test_oversize_frame_is_refused_before_it_is_buffered(tmp_path: Path) -> None:
    with _hub(tmp_path, max_frame_size=256) as hub:
        with Device("teltonika", hub.port("teltonika"), IDENT) as device:
            device.login()
            device.send_raw(bytes.fromhex("00000000") + (100_000).to_bytes(4, "big"))
            assert _closed(device.sock)
        _wait_for(lambda: hub.logs(event="connection.closed").height == 1)
        assert hub.logs(event="connection.closed")["reason"].to_list() == ["frame too large"]


def test_connection_limit(tmp_path: Path) -> None:
    with (
        _hub(tmp_path, max_connections=1) as hub,
        Device("gt06", hub.port("gt06"), "353413532150361") as first,
    ):
        first.login()
        with Device("gt06", hub.port("gt06"), "353413532150362") as second:
            second.send_raw(second.session.send(Login(ident="353413532150362")))
            assert _closed(second.sock)
        _wait_for(lambda: hub.logs(event="connection.closed").height == 1)
        assert hub.logs(event="connection.closed")["reason"].to_list() == ["connection limit"]


def test_bad_crc_packet_is_refused_and_logged_but_connection_stays(hub: Hub) -> None:
    with Device("wialon_ips", hub.port("wialon_ips"), IDENT) as device:
        device.login()
        device.send_raw(b"#D#NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;NA;;NA;;1234\r\n")
        answers = device.read()
        assert answers
        assert not isinstance(answers[0], ConnectionClosed)
        acks = device.send(sample_messages("wialon_ips", 1))
        assert acks[0].count == 1  # type: ignore[union-attr]
    assert hub.logs(event="packet.rejected").height == 1


@pytest.mark.parametrize("transport", ["udp"])
def test_udp_garbage_is_logged(hub: Hub, transport: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(b"\x00\x01garbage", ("127.0.0.1", hub.port("teltonika", transport)))
    sock.close()
    _wait_for(lambda: hub.logs(event="packet.rejected").height == 1)
    assert hub.logs(event="packet.rejected")["data_hex"][0].startswith("[00] 01 67 61")


def test_a_port_in_use_is_a_clear_error(hub: Hub, tmp_path: Path) -> None:
    taken = hub.port("teltonika")
    config = make_config(tmp_path / "other")
    channel = dataclasses.replace(config.channels[0], port=taken)
    with pytest.raises(ConfigError, match="cannot listen"):
        Hub(config=dataclasses.replace(config, channels=[channel])).start()


def test_one_hub_per_store(hub: Hub) -> None:
    with pytest.raises(ConfigError, match="in use by another running hub"):
        Hub(store=hub.store, ports=0).start()
    assert hub.messages().collect().height == 0  # the running hub is unaffected


def test_a_stopped_hub_says_so_and_can_start_again(tmp_path: Path) -> None:
    hub = Hub(store=tmp_path / "s", ports=0)
    with hub:
        pass
    with pytest.raises(ConfigError, match="not started"):
        hub.messages()
    with hub:  # the same object runs again on the same store
        assert hub.messages().collect().height == 0
