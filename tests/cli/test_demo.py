"""`telebench demo` runs the whole pipeline and its numbers add up."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from telebench.cli import main
from tests.render import drawn_image_share


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
    assert summary["geofences"] == 10  # depots, customer sites, the centre
    assert summary["geofence_events"] >= summary["geofence_visits"] > 0
    assert summary["geofences_score"]["tp"] > 0
    files = ("trips.gpx", "trips.kml", "trips.geojson", "load/report.png", "messages.parquet",
             "geofences.geojson", "geofence_visits.parquet", "geofence_events.parquet",
             "truth_geofence_visits.parquet", "report.html")  # fmt: skip
    for name in files:
        assert (out / name).exists(), name
    # Trips carry their route, so the exports hold tracks, not points.
    assert '"LineString"' in (out / "trips.geojson").read_text()
    assert "Run folder" in result.output
    assert "report.html" in result.output
    _report_renders(out / "report.html", tmp_path)


def _report_renders(page: Path, folder: Path) -> None:
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 4  # map, load, timeline, errors
    assert "http:" not in text
    assert "https:" not in text
    assert drawn_image_share(text, folder, height=5000) > 0.05  # the charts drew in Chromium


def test_codec_tour_still_runs() -> None:
    result = CliRunner().invoke(main, ["demo", "--codecs", "--records", "2"])
    assert result.exit_code == 0, result.output
    assert "every packet acked" in result.output
