"""Tests of the Parquet message dataset: layout, crash recovery, scans and compaction."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import duckdb
import orjson
import polars as pl
import pytest

from telebench.errors import SchemaError
from telebench.store.dataset import MessageDataset
from telebench.store.frames import CORE_SCHEMA, messages_frame
from telebench.store.partfiles import list_parts, part_name

DAY = 1_764_460_800.0  # 2025-11-30 00:00 UTC
D1 = "date=2025-11-30"
D2 = "date=2025-12-01"


def msg(ident: str, ts: float, **params: object) -> dict[str, object]:
    return {
        "ident": ident,
        "timestamp": ts,
        "server.timestamp": ts + 1,
        "channel.id": 1,
        "protocol.name": "teltonika",
        "peer": "10.0.0.1:5000",
        "device.id": int(ident),
        **params,
    }


def frame(*messages: dict[str, object]) -> pl.DataFrame:
    return messages_frame(b"".join(orjson.dumps(m) + b"\n" for m in messages))


@pytest.fixture
def ds(tmp_path: Path) -> MessageDataset:
    return MessageDataset(tmp_path)


def names(ds: MessageDataset) -> list[str]:
    return [f"{p.path.parent.name}/{p.path.name}" for p in list_parts(ds.root)]


def test_write_splits_by_utc_day_and_sorts(ds: MessageDataset) -> None:
    df = frame(msg("2", DAY + 5), msg("1", DAY + 86_400), msg("1", DAY + 9), msg("1", DAY + 1))
    paths = ds.write(df, first_seq=3, last_seq=7)
    assert [p.parent.name for p in paths] == [D1, D2]
    assert all(p.name == part_name(3, 7) for p in paths)
    day1 = pl.read_parquet(paths[0])
    assert day1.select("ident", "timestamp").rows() == [
        ("1", DAY + 1),
        ("1", DAY + 9),
        ("2", DAY + 5),
    ]
    assert "date" not in day1.columns
    assert not list(ds.root.rglob(".*"))  # no temp files left
    assert ds.write(df.clear(), first_seq=8, last_seq=8) == []


def test_write_needs_ident_and_timestamp(ds: MessageDataset) -> None:
    df = frame(msg("1", DAY)).with_columns(pl.lit(None, pl.Float64).alias("timestamp"))
    with pytest.raises(SchemaError, match="timestamp"):
        ds.write(df, first_seq=1, last_seq=1)


def test_scan_sorts_out_of_order_writes_and_unifies(ds: MessageDataset) -> None:
    ds.write(frame(msg("1", DAY + 50, x=1), msg("2", DAY + 1)), first_seq=1, last_seq=1)
    ds.write(frame(msg("1", DAY + 10, x="s", y=True)), first_seq=2, last_seq=2)
    ds.write(frame(msg("1", DAY + 86_500, x=2.5)), first_seq=3, last_seq=3)
    out = ds.scan().collect()
    assert out.select("ident", "timestamp", "x", "y").rows() == [
        ("1", DAY + 10, "s", True),
        ("1", DAY + 50, "1", None),
        ("1", DAY + 86_500, "2.5", None),
        ("2", DAY + 1, None, None),
    ]
    assert list(out.columns[:7]) == list(CORE_SCHEMA)
    unsorted = ds.scan(sort=False).collect()
    assert (
        sorted(unsorted.select("ident", "timestamp").rows())
        == out.select("ident", "timestamp").rows()
    )


def test_scan_filters_fields_and_missing_fields(ds: MessageDataset) -> None:
    ds.write(
        frame(*(msg(i, DAY + t, x=t) for i in "123" for t in range(10))), first_seq=1, last_seq=1
    )
    out = ds.scan(["2", "3"], DAY + 2, DAY + 4, fields=["x", "position.speed", "nope"]).collect()
    assert out.columns == ["ident", "timestamp", "x", "position.speed", "nope"]
    assert out.schema["position.speed"] == pl.Float64  # registry type for a missing field
    assert out["x"].to_list() == [2, 3, 4, 2, 3, 4]  # begin and end inclusive
    assert out["nope"].null_count() == 6
    filtered = ds.scan(fields=["peer"], filter=pl.col("x") > 7).collect()
    assert filtered.columns == ["ident", "timestamp", "peer"]
    assert len(filtered) == 6
    assert ds.scan(filter=pl.col("absent").is_null()).collect().height == 30
    assert "absent" not in ds.scan(filter=pl.col("absent") > 1).collect_schema()


def test_scan_empty_dataset(ds: MessageDataset) -> None:
    assert dict(ds.scan().collect_schema()) == dict(CORE_SCHEMA)
    assert ds.scan(fields=["x"]).collect().columns == ["ident", "timestamp", "x"]
    assert ds.scan(fields=["x"], filter=pl.col("y") == 1).collect().is_empty()
    assert ds.stats() == {"files": 0, "partitions": 0, "bytes": 0, "rows": 0}


def test_scan_prunes_partitions(ds: MessageDataset) -> None:
    ds.write(frame(msg("1", DAY + 1), msg("1", DAY + 86_401)), first_seq=1, last_seq=1)
    # Corrupt day 2's file: a scan of day 1 must not open it.
    (ds.root / D2 / part_name(1, 1)).write_bytes(b"not parquet")
    assert len(ds.scan(begin=DAY, end=DAY + 86_399).collect()) == 1
    assert len(ds.scan(["1"], end=DAY + 100).collect()) == 1
    with pytest.raises(pl.exceptions.PolarsError):
        ds.scan(begin=DAY + 86_400).collect()


def test_discard_uncommitted(ds: MessageDataset) -> None:
    ds.write(frame(msg("1", DAY + 1)), first_seq=1, last_seq=5)
    ds.write(frame(msg("1", DAY + 2)), first_seq=6, last_seq=9)
    ds.write(frame(msg("1", DAY + 3), msg("1", DAY + 86_401)), first_seq=10, last_seq=12)
    # A compaction that renamed its output in but did not delete its inputs:
    ds.write(frame(msg("1", DAY + 1), msg("1", DAY + 2)), first_seq=1, last_seq=9)
    (ds.root / D1 / ".part-x.parquet.1234.tmp").write_bytes(b"partial")
    assert ds.discard_uncommitted(9) == 5  # 10-12 twice, 1-5, 6-9, the temp file
    assert names(ds) == [f"{D1}/{part_name(1, 9)}"]
    assert ds.scan().collect()["timestamp"].to_list() == [DAY + 1, DAY + 2]
    assert ds.discard_uncommitted(9) == 0


def test_scan_ignores_compaction_leftovers(ds: MessageDataset) -> None:
    ds.write(frame(msg("1", DAY + 1)), first_seq=1, last_seq=1)
    ds.write(frame(msg("1", DAY + 1)), first_seq=1, last_seq=2)
    assert len(ds.scan().collect()) == 1
    assert ds.stats()["files"] == 1


def test_compact_merges_and_dedups_resends(ds: MessageDataset) -> None:
    first = msg("1", DAY + 1, x=1)
    resent = {**first, "server.timestamp": DAY + 99, "peer": "10.0.0.2:1", "channel.id": 2}
    ds.write(frame(first, msg("2", DAY + 1)), first_seq=1, last_seq=1)
    ds.write(frame(resent, msg("1", DAY + 1, x=2)), first_seq=2, last_seq=3)
    ds.write(frame(msg("1", DAY + 0.5, x=3)), first_seq=4, last_seq=4)
    ds.write(frame(msg("1", DAY + 86_401)), first_seq=4, last_seq=4)
    stats = ds.compact()
    assert stats == {
        "partitions": 1,
        "files_in": 3,
        "files_out": 1,
        "rows_dropped": 1,
        "pending": 0,
    }
    assert names(ds) == [f"{D1}/{part_name(1, 4)}", f"{D2}/{part_name(4, 4)}"]
    out = ds.scan(end=DAY + 100).collect()
    assert out.select("ident", "x", "server.timestamp").rows() == [
        ("1", 3, DAY + 1.5),
        ("1", 1, DAY + 2),  # the first arrival is kept
        ("1", 2, DAY + 2),
        ("2", None, DAY + 2),
    ]
    assert ds.compact()["partitions"] == 0
    assert ds.compact(max_files=0)["files_in"] == 2


def test_compact_while_writing(ds: MessageDataset) -> None:
    for seq in range(1, 21):
        ds.write(frame(msg("1", DAY + seq)), first_seq=seq, last_seq=seq)

    def writer() -> None:
        for seq in range(21, 61):
            ds.write(frame(msg("1", DAY + seq)), first_seq=seq, last_seq=seq)

    thread = threading.Thread(target=writer)
    thread.start()
    ds.compact()
    thread.join()
    assert ds.scan().collect()["timestamp"].to_list() == [DAY + s for s in range(1, 61)]
    ds.compact()
    assert ds.stats() == {"files": 1, "partitions": 1, "bytes": ds.stats()["bytes"], "rows": 60}


def test_delete(ds: MessageDataset) -> None:
    ds.write(
        frame(*(msg(i, DAY + t * 40_000) for i in "12" for t in range(4))), first_seq=1, last_seq=1
    )
    assert ds.delete(["1"], DAY + 40_000, DAY + 80_000) == 2
    assert ds.scan(["1"]).collect()["timestamp"].to_list() == [DAY, DAY + 120_000]
    assert ds.delete(None, DAY + 86_400, None) == 2  # emptied day-2 file is removed
    assert [p.day for p in list_parts(ds.root)] == [dt.date(2025, 11, 30)]
    assert ds.delete(["9"], None, None) == 0
    assert ds.delete(None, None, None) == 4
    assert ds.stats()["rows"] == 0


def test_retention_ttl(ds: MessageDataset) -> None:
    ds.write(frame(*(msg(i, DAY + t) for i in "123" for t in range(10))), first_seq=1, last_seq=1)
    limits = {"1": (5, 0), "2": (0, 0)}  # ttl 0 = keep forever
    assert ds.enforce_retention(limits, now=DAY + 10) == 5
    out = ds.scan().collect().group_by("ident").agg(pl.col("timestamp").min()).sort("ident")
    assert out.rows() == [("1", DAY + 5), ("2", DAY), ("3", DAY)]
    assert ds.enforce_retention({}, now=DAY + 1e9) == 0


def test_retention_reads_only_partitions_old_enough_to_hold_expired_rows(
    ds: MessageDataset,
) -> None:
    year = 366 * 86_400.0
    ds.write(frame(*(msg(i, DAY + t) for i in "12" for t in range(4))), first_seq=1, last_seq=1)
    ds.write(frame(msg("1", DAY + year), msg("2", DAY + year)), first_seq=2, last_seq=2)
    recent = next(p.path for p in list_parts(ds.root) if p.first == 2)
    recent.write_bytes(b"not parquet: reading it would fail")
    limits = {"1": (365 * 86_400, 0), "2": (365 * 86_400, 0)}
    assert ds.enforce_retention(limits, now=DAY + year + 10) == 8  # the old day, unread new
    assert recent.read_bytes().startswith(b"not parquet")


def test_retention_size_cap_drops_oldest(ds: MessageDataset) -> None:
    ds.write(
        frame(*(msg(i, DAY + t, pad="x" * 50 + str(t)) for i in "12" for t in range(100))),
        first_seq=1,
        last_seq=1,
    )
    size = ds.stats()["bytes"]
    dropped = ds.enforce_retention({"1": (0, size // 4)}, now=DAY)
    kept = ds.scan(["1"]).collect()["timestamp"]
    assert dropped == 100 - len(kept)
    assert 40 <= len(kept) <= 50  # a quarter of the bytes = half of device 1's rows
    assert kept.min() == DAY + 100 - len(kept)  # the newest survive
    assert len(ds.scan(["2"]).collect()) == 100


def test_snapshot_round_trip(ds: MessageDataset, tmp_path: Path) -> None:
    msgs = [msg("1", DAY + 2, x=1.5, s='q"é'), msg("1", DAY + 1, b=True), msg("2", DAY + 3)]
    ds.write(frame(*msgs, msg("1", DAY + 86_400)), first_seq=1, last_seq=1)
    paths = ds.snapshot(dt.date(2025, 11, 30), tmp_path / "snapshots")
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "snapshots/1/2025-11-30.json.gz",
        "snapshots/2/2025-11-30.json.gz",
    ]
    assert ds.read_snapshot(paths[0]) == [msgs[1], msgs[0]]
    assert ds.read_snapshot(paths[1]) == [msgs[2]]
    assert ds.snapshot(dt.date(2020, 1, 1), tmp_path / "snapshots") == []


def test_duckdb_reads_files_with_different_schemas(ds: MessageDataset) -> None:
    ds.write(frame(msg("1", DAY + 1, x=1)), first_seq=1, last_seq=1)
    ds.write(frame(msg("2", DAY + 2, y="s")), first_seq=2, last_seq=2)
    ds.write(frame(msg("3", DAY + 86_401, x=2)), first_seq=3, last_seq=3)
    glob = (ds.root / "*" / "*.parquet").as_posix()
    relation = duckdb.sql(
        f"SELECT ident, x, y, CAST(date AS VARCHAR) FROM read_parquet('{glob}', "
        "hive_partitioning=true, union_by_name=true) ORDER BY ident"
    )
    assert relation is not None
    rows = relation.fetchall()
    assert rows == [
        ("1", 1, None, "2025-11-30"),
        ("2", None, "s", "2025-11-30"),
        ("3", 2, None, "2025-12-01"),
    ]


def test_pandas_reads_the_dataset(ds: MessageDataset) -> None:
    pd = pytest.importorskip("pandas")
    ds.write(frame(msg("1", DAY + 1, x=1)), first_seq=1, last_seq=1)
    ds.write(frame(msg("2", DAY + 2, y="s")), first_seq=2, last_seq=2)
    df = pd.read_parquet(ds.root)
    assert sorted(df["ident"]) == ["1", "2"]


def test_polars_hive_scan_of_one_schema(ds: MessageDataset) -> None:
    ds.write(frame(msg("1", DAY + 1), msg("1", DAY + 86_401)), first_seq=1, last_seq=1)
    out = pl.scan_parquet(ds.root / "**" / "*.parquet", hive_partitioning=True).collect()
    assert out["date"].to_list() == [dt.date(2025, 11, 30), dt.date(2025, 12, 1)]


def test_compact_grace_keeps_inputs_until_reaped(ds: MessageDataset) -> None:
    ds.write(frame(msg("1", DAY + 1)), first_seq=1, last_seq=1)
    ds.write(frame(msg("1", DAY + 2)), first_seq=2, last_seq=2)
    before = ds.scan()  # listed before the merge, collected after it
    assert ds.compact(grace=3600)["files_in"] == 2
    assert len(names(ds)) == 3
    assert len(before.collect()) == 2
    assert len(ds.scan().collect()) == 2
    ds.compact(grace=3600)
    assert len(names(ds)) == 3  # superseded too recently
    ds.compact(grace=0)
    assert names(ds) == [f"{D1}/{part_name(1, 2)}"]


def test_compact_frames_without_server_columns(ds: MessageDataset) -> None:
    for seq in (1, 2):
        df = pl.DataFrame({"ident": ["1", "1"], "timestamp": [DAY + seq, DAY + 0.5], "x": [seq, 0]})
        ds.write(df, first_seq=seq, last_seq=seq)
    assert ds.compact()["rows_dropped"] == 1
    assert ds.scan().collect().rows() == [("1", DAY + 0.5, 0), ("1", DAY + 1, 1), ("1", DAY + 2, 2)]


def test_compact_small_files_only(ds: MessageDataset) -> None:
    big = frame(*(msg("1", DAY + t, pad="x" * 200 + str(t)) for t in range(200)))
    ds.write(big, first_seq=1, last_seq=5)
    for seq in (6, 7, 8):
        ds.write(frame(msg("2", DAY + seq)), first_seq=seq, last_seq=seq)
    small = (ds.root / D1 / part_name(1, 5)).stat().st_size  # the big file is not small
    assert ds.compact(small_bytes=small)["files_in"] == 3
    assert names(ds) == [f"{D1}/{part_name(1, 5)}", f"{D1}/{part_name(6, 8)}"]
    ds.write(frame(msg("2", DAY + 9)), first_seq=9, last_seq=9)
    assert ds.compact(small_bytes=small, max_files=2)["files_in"] == 2  # 6-8 is still small
    assert ds.compact(small_bytes=1)["files_in"] == 0  # nothing small: nothing merged
    assert ds.compact()["files_in"] == 2
    assert ds.stats()["rows"] == 204


def test_compact_settled_rows_bounds_each_merge(ds: MessageDataset) -> None:
    # Flushes of 3, 3, 3, 3, 2 rows; a file of 5 rows or more is settled.
    for first, rows in [(1, 3), (4, 3), (7, 3), (10, 3), (13, 2)]:
        batch = [msg("1", DAY + first + i, x=first) for i in range(rows)]
        ds.write(frame(*batch), first_seq=first, last_seq=first)
    stats = ds.compact(small_bytes=2**30, settled_rows=5)
    assert (stats["files_in"], stats["files_out"]) == (4, 2)  # 13 alone is not merged
    assert names(ds) == [f"{D1}/{part_name(a, b)}" for a, b in [(1, 4), (7, 10), (13, 13)]]
    # The settled files are not merged again; the small ones after them are.
    ds.write(frame(msg("1", DAY + 20)), first_seq=20, last_seq=20)
    assert ds.compact(small_bytes=2**30, settled_rows=5)["files_in"] == 2
    assert names(ds) == [f"{D1}/{part_name(a, b)}" for a, b in [(1, 4), (7, 10), (13, 20)]]
    # Without settled_rows every file under small_bytes is merged again, into one.
    assert ds.compact(small_bytes=2**30)["files_in"] == 3
    assert names(ds) == [f"{D1}/{part_name(1, 20)}"]
    got = ds.scan().collect()
    assert got["timestamp"].to_list() == [DAY + t for t in (*range(1, 15), 20)]


def test_compact_max_merges_does_the_oldest_first_and_counts_the_rest(
    ds: MessageDataset,
) -> None:
    # Two days, each with two merges due once files of 5 rows are settled.
    for day in (DAY, DAY + 86_400):
        base = 0 if day == DAY else 100
        for first, rows in [(1, 3), (4, 3), (7, 3), (10, 3)]:
            batch = [msg("1", day + first + i) for i in range(rows)]
            ds.write(frame(*batch), first_seq=base + first, last_seq=base + first)
    stats = ds.compact(small_bytes=2**30, settled_rows=5, max_merges=1)
    assert (stats["files_in"], stats["files_out"], stats["pending"]) == (2, 1, 3)
    assert names(ds)[0] == f"{D1}/{part_name(1, 4)}"
    stats = ds.compact(small_bytes=2**30, settled_rows=5, max_merges=2)
    assert (stats["files_out"], stats["pending"]) == (2, 1)
    assert ds.compact(small_bytes=2**30, settled_rows=5)["pending"] == 0
    assert len(names(ds)) == 4
    assert ds.scan().collect().height == 24


def test_deleted_rows_do_not_come_back_from_merge_inputs(ds: MessageDataset) -> None:
    # A merge keeps its inputs for a while (grace); emptying the merged file must not
    # leave them to read as live again (TTL and delete both rewrite live files only).
    ds.write(frame(msg("1", DAY + 1)), first_seq=1, last_seq=1)
    ds.write(frame(msg("1", DAY + 2)), first_seq=2, last_seq=2)
    ds.write(frame(msg("2", DAY + 3)), first_seq=3, last_seq=3)
    assert ds.compact(grace=3600)["files_in"] == 3
    assert ds.delete(["1"], None, None) == 2  # the merged file keeps ident 2: rewritten
    assert ds.scan().collect()["ident"].to_list() == ["2"]
    assert ds.enforce_retention({"2": (60, 0)}, now=DAY + 3600) == 1  # emptied: deleted
    assert names(ds) == []
    assert ds.scan().collect().height == 0
    ds.write(frame(msg("3", DAY + 4)), first_seq=4, last_seq=4)
    assert ds.scan().collect()["ident"].to_list() == ["3"]
