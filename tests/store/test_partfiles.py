"""Tests of part-file naming, listing, leftover detection and atomic writes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebench.errors import StoreError
from telebench.store.partfiles import (
    PartFile,
    atomic_write_bytes,
    atomic_write_parquet,
    leftovers,
    list_parts,
    live_parts,
    parse_name,
    part_name,
    partition_dirs,
    superseded,
    temp_files,
)

D = dt.date(2025, 11, 30)


def touch(root: Path, day: str, first: int, last: int) -> Path:
    path = root / f"date={day}" / part_name(first, last)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_names() -> None:
    assert parse_name(part_name(7, 12)) == (7, 12)
    assert parse_name("part-1-2.parquet") is None
    assert parse_name(".part-00000000000000000001-00000000000000000002.parquet.x.tmp") is None


def test_partition_dirs_prune_by_name(tmp_path: Path) -> None:
    for day in ("2025-11-29", "2025-11-30", "2025-12-01"):
        (tmp_path / f"date={day}").mkdir()
    (tmp_path / "other").mkdir()
    start = 1_764_460_800.0  # 2025-11-30
    days = [d.isoformat() for d, _ in partition_dirs(tmp_path, start, start + 86_399.9)]
    assert days == ["2025-11-30"]
    assert len(list(partition_dirs(tmp_path))) == 3
    assert list(partition_dirs(tmp_path / "missing")) == []


def test_leftovers_only_within_one_partition(tmp_path: Path) -> None:
    touch(tmp_path, "2025-11-30", 1, 10)
    inner = touch(tmp_path, "2025-11-30", 3, 4)
    touch(tmp_path, "2025-11-30", 8, 12)  # overlaps, not inside: kept
    touch(tmp_path, "2025-12-01", 2, 2)  # inside 1-10 but another partition
    assert [p.path for p in leftovers(list_parts(tmp_path))] == [inner]
    assert inner not in [p.path for p in live_parts(tmp_path)]
    a = PartFile(inner, D, 3, 4)
    assert not a.inside(a)


def test_atomic_writes_leave_no_temp(tmp_path: Path) -> None:
    path = atomic_write_parquet(
        pl.DataFrame({"a": [1]}), tmp_path / "date=2025-11-30" / "p.parquet"
    )
    assert pl.read_parquet(path)["a"].to_list() == [1]
    atomic_write_bytes(b"x", tmp_path / "date=2025-11-30" / "b")
    assert temp_files(tmp_path) == []
    (tmp_path / "date=2025-11-30" / ".p.parquet.1.tmp").write_bytes(b"")
    assert len(temp_files(tmp_path)) == 1


def test_atomic_write_failure_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StoreError, match="cannot write"):
        atomic_write_bytes(b"x", blocker / "sub" / "x")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.integers(0, 10)), max_size=12, unique=True))
def test_leftovers_match_the_definition(ranges: list[tuple[int, int]]) -> None:
    parts = [PartFile(Path(part_name(a, a + n)), D, a, a + n) for a, n in set(ranges)]
    parts = list({p.path: p for p in parts}.values())
    expected = {p.path for p in parts if any(p.inside(q) for q in parts)}
    assert {p.path for p in leftovers(parts)} == expected
    for old, new in superseded(parts):
        assert old.inside(new)
