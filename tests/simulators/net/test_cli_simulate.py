"""``telebench simulate`` end to end against an in-process hub."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from telebench.cli.simulate import parse_ports, parse_seconds, simulate_command
from telebench.hub import Hub, HubConfig
from telebench.hub.config import with_ports


def test_simulate_synthetic_fleet_writes_report_json_and_chart(tmp_path: Path) -> None:
    config = dataclasses.replace(with_ports(HubConfig(store=tmp_path / "s")), flush_interval=0.05)
    with Hub(config=config) as hub:
        ports = [
            f"--port={protocol}{'/udp' if transport == 'udp' else ''}={port}"
            for (protocol, transport), (_, port) in hub.addresses().items()
        ]
        args = ["--fleet", "synthetic", "-n", "5", "-d", "10m", "-s", "max", "-q", "--json"]
        result = CliRunner().invoke(
            simulate_command, [*args, *ports, "--report", str(tmp_path / "out")]
        )
        assert result.exit_code == 0, result.output
        stored = hub.messages().collect().height
    report = json.loads(result.stdout)
    assert report["sent"] == report["acked"] == stored > 0
    assert report["connected_peak"] == 5
    assert {"ack_p50_ms", "ack_p95_ms", "ack_p99_ms", "series", "errors"} <= report.keys()
    assert (tmp_path / "out" / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "out" / "report.json").read_text())["sent"] == report["sent"]


def test_unreachable_hub_fails_with_connect_errors() -> None:
    args = ["--fleet", "synthetic", "-n", "2", "-d", "20", "-s", "max", "-q"]
    args += ["--port", "teltonika=1", "--port", "wialon_ips=1", "--drain-timeout", "0.3"]
    result = CliRunner().invoke(simulate_command, args)
    assert result.exit_code == 1
    assert "connect:" in result.stdout


def test_option_parsing_names_the_bad_value() -> None:
    assert parse_seconds("2d") == 172_800.0
    assert parse_ports(("gt06=7000",))[("gt06", "tcp")] == 7000
    result = CliRunner().invoke(simulate_command, ["--speedup", "fast"])
    assert result.exit_code == 1
    assert "--speedup 'fast'" in result.output


def test_dry_mode_writes_parquet_with_workers(tmp_path: Path) -> None:
    args = ["-n", "3", "-d", "30m", "--dry", str(tmp_path / "fleet"), "--workers", "2"]
    result = CliRunner().invoke(simulate_command, args)
    assert result.exit_code == 0, result.output
    written = pl.scan_parquet(tmp_path / "fleet" / "messages").select(pl.len()).collect().item()
    assert written > 0
    assert result.output.startswith(f"{written:,} messages of 3 vehicles")
    assert (tmp_path / "fleet" / "trips.parquet").is_file()  # the ground truth, by default


def test_dry_mode_without_truth_writes_the_messages_alone(tmp_path: Path) -> None:
    args = ["-n", "3", "-d", "30m", "--dry", str(tmp_path / "fleet"), "--no-truth"]
    result = CliRunner().invoke(simulate_command, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "fleet").iterdir()) == ["messages"]
    assert pl.scan_parquet(tmp_path / "fleet" / "messages").select(pl.len()).collect().item() > 0
