"""Scenarios: defaults, the shipped examples, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.scenario import Scenario, load_scenario, parse_duration, parse_variant
from telebench.errors import ConfigError

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "data" / "scenarios").glob("*.toml"))


def test_defaults() -> None:
    s = Scenario()
    assert s.devices == 200
    assert s.duration == 86400
    assert s.protocol_mix == {"teltonika": 0.5, "wialon_ips": 0.3, "gt06": 0.2}
    assert ("udp", {"codec": 0x8E}) in s.variants["teltonika"]
    assert s.start_time == 1767571200.0


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_examples_load(path: Path) -> None:
    s = load_scenario(path)
    assert s.devices >= 1
    assert sum(s.protocol_mix.values()) > 0


def test_examples_are_shipped() -> None:
    assert {p.name for p in EXAMPLES} >= {"city-delivery.toml", "long-haul.toml", "load-test.toml"}


def test_toml_values_are_applied(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'devices = 7\nduration = "2h"\nosm = "x.osm.pbf"\n[protocol_mix]\ngt06 = 1.0\n'
        "[report]\nperiod_s = 10\n[faults]\nbad_crc = 0.5\n[shift]\ndelivery_minutes = [1, 2]\n"
    )
    s = load_scenario(path)
    assert (s.devices, s.duration, s.osm) == (7, 7200, tmp_path / "x.osm.pbf")
    assert s.protocol_mix == {"gt06": 1.0}
    assert s.report.period_s == 10
    assert s.faults.bad_crc == 0.5
    assert s.shift.delivery_minutes == (1, 2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("devices = 0", "devices must be >= 1"),
        ("colour = 1", r"unknown keys \['colour'\]"),
        ("[protocol_mix]\nosmand = 1.0", "unknown protocol 'osmand'"),
        ('[variants]\ngt06 = ["udp"]', "cannot run over 'udp'"),
        ('[variants]\nteltonika = ["tcp:16"]', "codec must be 8 or 8E"),
        ("[faults]\nslow = 2.0", r"faults\.slow must be in \[0, 1\]"),
        ("[report]\nperiod = 3", "unknown keys"),
        ('duration = "soon"', "duration 'soon'"),
        ("start = 5", "start 5 must be a TOML datetime"),
        ("devices = [", "invalid TOML"),
    ],
)
def test_bad_files_name_file_and_key(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=match) as info:
        load_scenario(path)
    assert "bad.toml" in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_scenario(Path("/nonexistent/scenario.toml"))


def test_parsers() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("1.5h") == 5400
    assert parse_variant("wialon_ips", "udp") == ("udp", {"version": "2.0"})
    assert parse_variant("gt06", "tcp") == ("tcp", {})
    with pytest.raises(ConfigError):
        parse_variant("gt06", "tcp:2")
