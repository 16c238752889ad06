"""`telebench hub` argument handling and `telebench logs` on a real hub's store."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from click.testing import CliRunner

from telebench.cli import main
from telebench.hub import Hub, HubConfig
from telebench.protocols.samples import sample_messages
from tests.hub.device import Device


def test_hub_rejects_a_bad_port_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["hub", "--store", str(tmp_path), "--port", "teltonika=x"])
    assert result.exit_code == 2
    assert "expected PROTOCOL[/udp]=PORT" in result.output
    result = CliRunner().invoke(main, ["hub", "--store", str(tmp_path), "--port", "gt06/udp=1"])
    assert result.exit_code == 2
    assert "no gt06/udp channel" in result.output


def test_logs_shows_what_the_hub_logged(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with Hub(store=store, ports=0) as hub, Device("gt06", hub.port("gt06"), "353413532150362") as d:
        d.login()
        d.send_raw(b"\xde\xad garbage")
        d.read()
    runner = CliRunner()
    result = runner.invoke(main, ["logs", "--store", str(store), "--event", "parse.error"])
    assert result.exit_code == 0, result.output
    assert "parse.error" in result.output
    assert "353413532150362" in result.output
    result = runner.invoke(main, ["logs", "--store", str(store), "--json"])
    events = [json.loads(line)["event"] for line in result.output.splitlines()]
    assert events[:2] == ["connection.opened", "device.identified"]
    assert "connection.closed" in events


def test_logs_on_a_missing_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["logs", "--store", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no hub log" in result.output


def test_replay_sends_a_capture_to_a_hub_again(tmp_path: Path) -> None:
    store = tmp_path / "store"
    config = dataclasses.replace(HubConfig(store=store), capture_raw=["8682*"])
    with Hub(config=config, ports=0) as hub:
        with Device("wialon_ips", hub.port("wialon_ips"), "868204002602414") as device:
            device.login()
            device.send(sample_messages("wialon_ips", 2))
        port = hub.port("wialon_ips")
        result = CliRunner().invoke(
            main, ["replay", "868204002602414", "--store", str(store), "--to", f"127.0.0.1:{port}"]
        )
        assert result.exit_code == 0, result.output
        assert "replayed" in result.output
        assert hub.messages().collect().height == 2  # the replayed records were duplicates
    assert "23 41 4c 23 31" in result.output  # #AL#1: the login was accepted again


def test_background_nice_comes_from_the_option_else_the_file_else_19(tmp_path: Path) -> None:
    from telebench.cli.hub import with_background_nice
    from telebench.hub.config import HubConfig, load_config

    quiet = tmp_path / "quiet.toml"
    quiet.write_text("background_nice = 0\n")
    silent = tmp_path / "silent.toml"
    silent.write_text("flush_interval = 2.0\n")
    cases = [(None, None), (None, quiet), (None, silent), (3, quiet)]
    got = [
        with_background_nice(load_config(f) if f else HubConfig(), opt, f).background_nice
        for opt, f in cases
    ]
    assert got == [19, 0, 19, 3]
