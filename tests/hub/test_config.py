"""Hub configuration: channel validation, defaults, TOML loading and its error messages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from telebench.errors import ConfigError
from telebench.hub.config import (
    DEFAULT_PORTS,
    ChannelConfig,
    HubConfig,
    default_channels,
    load_config,
    with_ports,
)
from telebench.hub.plugins import Compute, Erase

FULL = """
store = "hubdata"
flush_interval = 0.5
compact_interval = 30
retention_interval = 600.0
fsync = false
capture_raw = ["35630704*", "868*"]
log_level = "debug"
dedup_window = 5000
decoder_processes = 2
background_nice = 5

[[channel]]
protocol = "teltonika"
host = "0.0.0.0"
port = 15027
idle_timeout = 120
max_frame_size = 4096
max_connections = 100
unknown_devices = "refuse"
on_bad_checksum = "flag"
options = { codec = 8 }

[[channel]]
protocol = "teltonika"
transport = "udp"
port = 15027

[[channel]]
protocol = "osmand"
transport = "http"
port = 0

[[plugin]]
type = "compute"
parameter = "position.speed.mph"
expression = '"position.speed" * 0.621371'
selector = "metadata.fleet=us"

[[plugin]]
type = "erase"
parameters = ["can.raw"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_channel_defaults_and_codec_transport() -> None:
    channel = ChannelConfig("teltonika", port=5027)
    assert (channel.transport, channel.host, channel.idle_timeout) == ("tcp", "127.0.0.1", 600.0)
    assert (channel.max_frame_size, channel.max_connections) == (65536, 18000)
    assert (channel.unknown_devices, channel.on_bad_checksum, channel.options) == (
        "register",
        "reject",
        {},
    )
    assert channel.codec_transport == "tcp"
    assert ChannelConfig("wialon_ips", transport="udp", port=1).codec_transport == "udp"
    osmand = ChannelConfig("osmand", transport="http", port=5055)  # type: ignore[arg-type]
    assert (osmand.transport, osmand.codec_transport, osmand.label) == (
        "tcp",
        "http",
        "osmand/tcp:5055",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protocol": "h02", "port": 1}, "protocol: expected one of gt06, osmand, teltonika"),
        ({"protocol": "gt06", "port": 1, "transport": "udp"}, "transport: protocol 'gt06' does"),
        (
            {"protocol": "osmand", "port": 1, "transport": "udp"},
            "transport: protocol 'osmand' does not run over 'udp'; it supports: tcp",
        ),
        ({"protocol": "gt06", "port": 65536}, "port: expected an integer 0..65535, got 65536"),
        ({"protocol": "gt06", "port": -1}, "port: expected an integer 0..65535"),
        ({"protocol": "gt06", "port": "abc"}, "port: expected an integer 0..65535, got 'abc'"),
        ({"protocol": "gt06", "port": True}, "port: expected an integer"),
        ({"protocol": "gt06", "port": 1, "host": ""}, "host: expected a non-empty string"),
        ({"protocol": "gt06", "port": 1, "idle_timeout": 0}, "idle_timeout: expected a number"),
        ({"protocol": "gt06", "port": 1, "idle_timeout": float("inf")}, "idle_timeout:"),
        ({"protocol": "gt06", "port": 1, "max_frame_size": 8}, "max_frame_size: expected an int"),
        ({"protocol": "gt06", "port": 1, "max_connections": 0}, "max_connections: expected"),
        ({"protocol": "gt06", "port": 1, "unknown_devices": "x"}, "unknown_devices: expected one"),
        ({"protocol": "gt06", "port": 1, "on_bad_checksum": "drop"}, "on_bad_checksum: expected"),
        ({"protocol": "gt06", "port": 1, "options": [1]}, "options: expected a table"),
    ],
)
def test_channel_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ChannelConfig(**kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_default_channels_use_traccar_ports() -> None:
    channels = default_channels(host="0.0.0.0")
    assert [(c.protocol, c.transport, c.port) for c in channels] == [
        ("teltonika", "tcp", 5027),
        ("wialon_ips", "tcp", 5039),
        ("gt06", "tcp", 5023),
        ("osmand", "tcp", 5055),
        ("teltonika", "udp", 5027),
        ("wialon_ips", "udp", 5039),
    ]
    assert {c.host for c in channels} == {"0.0.0.0"}
    assert DEFAULT_PORTS["osmand"] == 5055


def test_hub_config_defaults() -> None:
    cfg = HubConfig()
    assert cfg.store == Path("data/hub")
    assert len(cfg.channels) == 6
    assert (cfg.flush_interval, cfg.compact_interval, cfg.retention_interval) == (1.0, 60.0, 3600.0)
    assert (cfg.fsync, cfg.plugins, cfg.capture_raw, cfg.log_level) == (True, [], [], "INFO")
    assert cfg.dedup_window >= 1
    assert HubConfig(store="x").store == Path("x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"store": ""}, "store: expected a directory path"),
        ({"flush_interval": -1}, "flush_interval: expected a number of seconds > 0, got -1"),
        ({"compact_interval": "60"}, "compact_interval: expected a number"),
        ({"retention_interval": True}, "retention_interval: expected"),
        ({"fsync": 1}, "fsync: expected true or false, got 1"),
        ({"log_level": "loud"}, "log_level: expected one of DEBUG, INFO"),
        ({"capture_raw": "35*"}, "capture_raw: expected a list of ident patterns"),
        ({"capture_raw": ["ok", ""]}, "capture_raw[1]: expected a non-empty string"),
        ({"dedup_window": 0}, "dedup_window: expected an integer >= 1, got 0"),
        ({"decoder_processes": -1}, "decoder_processes: expected an integer >= 0, got -1"),
        ({"background_nice": 20}, "background_nice: expected an integer 0..19, got 20"),
        ({"max_unflushed_mb": 0}, "max_unflushed_mb: expected a number of MB > 0, got 0"),
        ({"channels": ["gt06"]}, "channel[0]: expected a ChannelConfig"),
    ],
)
def test_hub_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        HubConfig(**kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_duplicate_listening_address_is_refused_except_ephemeral() -> None:
    tcp = ChannelConfig("gt06", port=5023)
    with pytest.raises(ConfigError, match=r"channel\[1\]\.port: tcp 127\.0\.0\.1:5023 is already"):
        HubConfig(channels=[tcp, ChannelConfig("teltonika", port=5023)])
    # Same port on another transport or host is fine, and port 0 never collides.
    HubConfig(channels=[tcp, ChannelConfig("teltonika", transport="udp", port=5023)])
    HubConfig(channels=[tcp, dataclasses.replace(tcp, host="0.0.0.0")])
    HubConfig(channels=[ChannelConfig("gt06", port=0), ChannelConfig("teltonika", port=0)])


def test_with_ports() -> None:
    cfg = HubConfig(store=Path("s"), flush_interval=2.0)
    zero = with_ports(cfg)
    assert [c.port for c in zero.channels] == [0] * 6
    assert (zero.store, zero.flush_interval) == (Path("s"), 2.0)
    some = with_ports(cfg, {"teltonika": 1234})
    assert [c.port for c in some.channels] == [1234, 5039, 5023, 5055, 1234, 5039]
    assert [c.port for c in cfg.channels] == [5027, 5039, 5023, 5055, 5027, 5039]
    with pytest.raises(ConfigError, match="unknown protocol 'h02'"):
        with_ports(cfg, {"h02": 0})


def test_load_full_example(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL))
    assert cfg.store == tmp_path / "hubdata"
    assert (cfg.flush_interval, cfg.compact_interval, cfg.retention_interval) == (0.5, 30.0, 600.0)
    assert (cfg.fsync, cfg.capture_raw, cfg.log_level) == (False, ["35630704*", "868*"], "DEBUG")
    assert (cfg.dedup_window, cfg.decoder_processes, cfg.background_nice) == (5000, 2, 5)
    first = cfg.channels[0]
    assert (first.host, first.port, first.idle_timeout, first.options) == (
        "0.0.0.0",
        15027,
        120.0,
        {"codec": 8},
    )
    assert (first.unknown_devices, first.on_bad_checksum) == ("refuse", "flag")
    assert [c.label for c in cfg.channels] == [
        "teltonika/tcp:15027",
        "teltonika/udp:15027",
        "osmand/tcp:0",
    ]
    compute, erase = cfg.plugins
    assert isinstance(compute, Compute)
    assert (compute.parameter, compute.selector) == ("position.speed.mph", "metadata.fleet=us")
    assert isinstance(erase, Erase)
    assert erase.parameters == ("can.raw",)


def test_load_empty_file_gives_defaults_and_absolute_store_is_kept(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""))
    assert cfg.channels == default_channels()
    assert cfg.store == Path("data/hub")  # default stays relative to the working directory
    absolute = tmp_path / "abs"
    assert load_config(write(tmp_path, f'store = "{absolute}"')).store == absolute


def test_load_channel_list_can_be_empty(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "channel = []")).channels == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stor = 'x'", "stor: unknown key; did you mean 'store'?"),
        ("zzz = 1", "zzz: unknown key; known: "),
        ("store = ''", "store: expected a directory path"),
        ("[[channel]]\nprotocol='gt06'\nport=1\nprot=2", "channel[0].prot: unknown key"),
        (
            "[[channel]]\nprotocol='gt06'\nport=1\n[[channel]]\nprotocol='gt06'\nport=2\n"
            "[[channel]]\nprotocol='gt06'\nport='abc'",
            "channel[2].port: expected an integer 0..65535, got 'abc'",
        ),
        ("[[channel]]\nport=1", "channel[0].protocol: missing (required)"),
        ("[[channel]]\nprotocol='gt06'", "channel[0].port: missing (required)"),
        ("[[channel]]\nprotocol='gt06'\nport=1\ntransport='udp'", "channel[0].transport: "),
        ("channel = 5", "channel: expected [[channel]] tables"),
        ("flush_interval = 'fast'", "flush_interval: expected a number of seconds > 0"),
        ("[[plugin]]\ntype='erase'\nparameters=['x']\n[[plugin]]\ntype='x'", "plugin[1].type:"),
        ("[[plugin]]\ntype='rename'\nmapping={ident='x'}", "plugin[0].mapping: 'ident' is a"),
    ],
)
def test_load_errors_name_file_table_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_load_unreadable_or_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "store = "))
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"store = '\xff'")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
