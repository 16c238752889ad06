"""``telebench calc`` on a tiny store written with MessageDataset, and ``telebench export``."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from telebench.cli.calc import calc_group, export_command

dataset = pytest.importorskip("telebench.store.dataset")
frames = pytest.importorskip("telebench.store.frames")


def _store(tmp_path: Path) -> Path:
    store = tmp_path / "hub"
    lines = []
    for i in range(40):
        on = 5 <= i < 25
        lat = 42.5 + (min(max(i, 5), 25) - 5) * 0.0005
        lines.append(json.dumps({
            "ident": "dev1", "timestamp": 1_764_000_000 + 30 * i, "position.latitude": lat,
            "position.longitude": 1.52, "position.speed": 50.0 if on else 0.0,
            "engine.ignition.status": on, "vehicle.mileage": 100 + 0.05 * min(max(i, 5), 25),
        }))  # fmt: skip
    raw = ("\n".join(lines) + "\n").encode()
    dataset.MessageDataset(store).write(frames.messages_frame(raw), first_seq=1, last_seq=1)
    return store


def test_trips_parkings_stops_geofences_and_export(tmp_path: Path) -> None:
    store, run = _store(tmp_path), CliRunner()
    out = tmp_path / "trips.parquet"
    res = run.invoke(calc_group, ["trips", "--store", str(store), "--out", str(out)])
    assert res.exit_code == 0, res.output
    tr = pl.read_parquet(out)
    assert tr.select("begin", "end", "ended_by").rows() == [
        (1_764_000_150.0, 1_764_000_750.0, "ignition off / stopped")
    ]
    assert tr.get_column("distance").to_list() == pytest.approx([1.0])
    for cmd, n in (("parkings", 2), ("stops", 1)):  # the first stay is 150 s < 300 s
        res = run.invoke(
            calc_group,
            [
                cmd,
                "--store",
                str(store),
                "--ident",
                "dev1",
                "--begin",
                "2025-11-24",
                "--out",
                str(tmp_path / cmd),
            ],
        )
        assert res.exit_code == 0, res.output
        assert pl.read_parquet(tmp_path / cmd).height == n
    fences = tmp_path / "f.geojson"
    fences.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "home", "radius": 150},
         "geometry": {"type": "Point", "coordinates": [1.52, 42.5]}}]}))  # fmt: skip
    res = run.invoke(calc_group, ["geofences", "--store", str(store), "--geofences", str(fences),
                                  "--events", "--out", str(tmp_path / "ev.parquet")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert pl.read_parquet(tmp_path / "ev.parquet").get_column("event").to_list() == [
        "enter",
        "exit",
    ]
    gpx = tmp_path / "t.gpx"
    res = run.invoke(export_command, ["--format", "gpx", "--input", str(out), "--out", str(gpx)])
    assert res.exit_code == 0, res.output
    assert "<trk>" in gpx.read_text()


def test_errors_are_reported_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text("{nope")
    res = CliRunner().invoke(
        calc_group,
        [
            "geofences",
            "--store",
            str(tmp_path),
            "--geofences",
            str(bad),
            "--out",
            str(tmp_path / "x.parquet"),
        ],
    )
    assert res.exit_code == 1
    assert "invalid JSON" in res.output
