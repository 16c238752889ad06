"""Tests of file rewrites and retention filters."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from telebench.store.retention import retention_filter, rewrite


def write(path: Path, idents: list[str], ts: list[float]) -> Path:
    pl.DataFrame({"ident": idents, "timestamp": ts}).write_parquet(path)
    return path


def test_rewrite_counts_and_empties(tmp_path: Path) -> None:
    a = write(tmp_path / "a.parquet", ["x", "y"], [1.0, 2.0])
    b = write(tmp_path / "b.parquet", ["x"], [3.0])
    before = a.stat().st_mtime_ns
    removed, emptied = rewrite([a, b], pl.col("ident") == "x")
    assert (removed, emptied) == (2, [b])
    assert pl.read_parquet(a)["ident"].to_list() == ["y"]
    assert rewrite([a], pl.col("ident") == "x") == (0, [])
    assert a.stat().st_mtime_ns >= before


def test_retention_filter_ttl_and_size(tmp_path: Path) -> None:
    path = write(tmp_path / "a.parquet", ["x"] * 4 + ["y"] * 4, [1.0, 2, 3, 4] * 2)
    files = [(path, 800, 8)]  # 100 bytes per row
    drop = retention_filter(files, {"x": (2, 0), "y": (0, 250)}, now=4.0)
    assert drop is not None
    kept = pl.read_parquet(path).filter(~drop.rows)
    assert kept.rows() == [("x", 2.0), ("x", 3.0), ("x", 4.0), ("y", 3.0), ("y", 4.0)]
    assert drop.newest == 2.0  # x's cutoff (y's size cut is at 2.0 too)
    assert retention_filter(files, {"x": (0, 0)}, now=4.0) is None
