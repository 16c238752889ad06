"""Tests of per-device daily snapshots."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest

from telebench.errors import StoreError
from telebench.store.snapshots import read_snapshot, write_snapshots

DAY = dt.date(2025, 11, 30)


def test_types_and_nulls_round_trip(tmp_path: Path) -> None:
    df = pl.DataFrame(
        {
            "ident": ["a", "a", "b"],
            "timestamp": [2.0, 1.0, 3.0],
            "i": [1, None, -(2**62)],
            "f": [None, 0.1, 1e300],
            "b": [True, False, None],
            "s": ['\u2028\n"\\', None, "é"],
        }
    )
    paths = write_snapshots(df, DAY, tmp_path)
    assert read_snapshot(paths[0]) == [
        {"ident": "a", "timestamp": 1.0, "f": 0.1, "b": False},
        {"ident": "a", "timestamp": 2.0, "i": 1, "b": True, "s": '\u2028\n"\\'},
    ]
    assert read_snapshot(paths[1]) == [
        {"ident": "b", "timestamp": 3.0, "i": -(2**62), "f": 1e300, "s": "é"}
    ]


def test_bad_snapshot_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(StoreError, match="cannot read snapshot"):
        read_snapshot(bad)
    bad.write_bytes(gzip.compress(b'{"a": 1}'))
    with pytest.raises(StoreError, match="not a JSON array"):
        read_snapshot(bad)


def test_unsafe_ident_is_refused(tmp_path: Path) -> None:
    df = pl.DataFrame({"ident": ["../x"], "timestamp": [1.0]})
    with pytest.raises(StoreError, match="snapshot folder"):
        write_snapshots(df, DAY, tmp_path)
