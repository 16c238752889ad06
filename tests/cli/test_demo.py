"""`telebench demo` runs the whole pipeline and its numbers add up."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from telebench.cli import main


def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["demo", "--vehicles", "6", "--hours", "12", "--seed", "3", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records_sent"] > 0
    assert summary["records_acked"] == summary["records_sent"]
    # GT06 status heartbeats are stored as messages too (battery, GSM level).
    stored, acked = summary["records_stored"], summary["records_acked"]
    assert acked <= stored <= acked + summary["heartbeats"]
    messages = pl.read_parquet(out / "messages.parquet")
    assert not messages.select("ident", "timestamp").is_duplicated().any()  # nothing twice
    assert summary["records_lost"] == 0
    assert summary["streamed_missing"] == 0
    assert summary["parkings"] > 0
    for name in ("trips.gpx", "trips.kml", "trips.geojson", "load/report.png", "messages.parquet"):
        assert (out / name).exists(), name
    assert "Run folder" in result.output


def test_codec_tour_still_runs() -> None:
    result = CliRunner().invoke(main, ["demo", "--codecs", "--records", "2"])
    assert result.exit_code == 0, result.output
    assert "every packet acked" in result.output
