"""Dry mode: Parquet messages identical to the fleet's, plus ground truth files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from simulators.dry import dry_run
from simulators.fleet import Fleet
from simulators.roads import ATTRIBUTION
from simulators.scenario import Scenario


def test_dry_run_writes_the_fleet_messages(tmp_path: Path) -> None:
    """The dry mode (lock-step engine) writes what the SimPy fleet sends, in its order."""
    scenario = Scenario(devices=8, duration=10 * 3600)  # through the morning's driving
    stats = dry_run(scenario, tmp_path, seed=3, progress=False)
    frame = pl.read_parquet(tmp_path / "messages")
    assert stats.messages == frame.height > 0
    assert stats.messages_per_second > 0
    assert {p.name for p in stats.files} >= {"part-000000.parquet", "trips.parquet"}
    fleet = Fleet(scenario, seed=3)
    expected = fleet.advance(fleet.start_time + 10 * 3600)
    assert frame.height == len(expected)
    assert frame["movement.status"].sum() > 100
    for row, (index, msg) in zip(frame.iter_rows(named=True), expected, strict=True):
        assert row["protocol.name"] == fleet.vehicles[index].protocol
        assert {k: row[k] for k in msg} == msg
        assert all(row[k] is None for k in row.keys() - msg.keys() - {"protocol.name"})
    meta = pl.read_parquet_metadata(tmp_path / "messages" / "part-000000.parquet")
    assert meta["attribution"] == ATTRIBUTION
    truth = fleet.ground_truth()  # the SimPy fleet's; only the phase numbering differs
    for name in ("trips", "parkings", "stops", "records"):
        key = ["timestamp", "vehicle"] if name == "records" else ["vehicle", "start_time"]
        written = pl.read_parquet(tmp_path / f"{name}.parquet").drop("phase").sort(key)
        assert written.equals(truth[name].drop("phase").sort(key)), name


def test_dry_run_without_truth(tmp_path: Path) -> None:
    stats = dry_run(Scenario(devices=2, duration=1800), tmp_path, seed=1, truth=False,
                    progress=False)  # fmt: skip
    assert [p.parent.name for p in stats.files] == ["messages"] * len(stats.files)
    assert not (tmp_path / "trips.parquet").exists()


@pytest.mark.parametrize("workers", [2, 3])
def test_more_workers_give_the_same_messages(tmp_path: Path, workers: int) -> None:
    scenario = Scenario(devices=7, duration=2 * 3600)
    one = dry_run(scenario, tmp_path / "one", seed=2, progress=False)
    two = dry_run(scenario, tmp_path / "two", seed=2, progress=False, workers=workers)
    assert one.messages == two.messages
    key = ["timestamp", "ident"]
    first = pl.read_parquet(tmp_path / "one" / "messages").sort(key)
    second = pl.read_parquet(tmp_path / "two" / "messages").sort(key)
    assert first.equals(second)
    trips = [pl.read_parquet(tmp_path / d / "trips.parquet").drop("phase") for d in ("one", "two")]
    assert trips[0].sort("ident", "start_time").equals(trips[1].sort("ident", "start_time"))
