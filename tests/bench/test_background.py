"""The background-work benchmark, small: every step runs on real files and reports."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from telebench.bench.__main__ import main
from telebench.bench.background import batch, run


def test_each_step_reports_its_records_and_cpu(tmp_path: Path) -> None:
    steps = run(tmp_path, devices=50, flush_rows=500, flushes=4, repeat=1)
    assert [(s.name, s.records) for s in steps] == [
        ("parse NDJSON", 500),
        ("write Parquet", 500),
        ("newest rows", 500),
        ("telemetry fold", 2000),
        ("compaction", 2000),
    ]
    assert all(s.wall_s > 0 and s.cpu_us_per_record >= 0 for s in steps)
    assert (tmp_path / "telemetry.parquet").exists()


def test_batches_cover_every_device_and_never_repeat() -> None:
    first, second = batch(7, 70), batch(7, 70, first=70)
    assert first["ident"].n_unique() == 7
    assert first["timestamp"].max() < second["timestamp"].min()


def test_cli_prints_a_row_per_step() -> None:
    args = ["background", "--devices", "20", "--flush-rows", "200", "--flushes", "3"]
    result = CliRunner().invoke(main, [*args, "--repeat", "1"])
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()[1:]
    assert [r.split("  ")[0] for r in rows] == [
        "parse NDJSON",
        "write Parquet",
        "newest rows",
        "telemetry fold",
        "compaction",
    ]
