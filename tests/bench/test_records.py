"""The per-record benchmark, small: each path runs over real packets and reports."""

from __future__ import annotations

from click.testing import CliRunner

from telebench.bench import records as records_bench
from telebench.bench.__main__ import main
from telebench.protocols.teltonika import avl_json


def test_each_path_reports_the_records_it_timed() -> None:
    figures = records_bench.run(packets=32, records=3, repeat=2)
    expected = (["c"] if avl_json.COMPILED else []) + ["python"]
    assert [f.path for f in figures] == expected
    assert all(f.records == 96 for f in figures)  # 2 packets of each of 16 variants
    assert all(0 < f.best_us_per_record <= f.us_per_record for f in figures)


def test_the_cli_prints_a_row_a_path() -> None:
    result = CliRunner().invoke(main, ["records", "--packets", "16", "--repeat", "1"])
    assert result.exit_code == 0, result.output
    assert "python" in result.output
    assert "µs" in result.output
