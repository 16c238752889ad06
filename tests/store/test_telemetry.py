"""TelemetryStore: newest-wins folding, type round-trips, Parquet persistence, migration."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebench.errors import SchemaError, StoreError
from telebench.store.telemetry import SCHEMA_VERSION, TelemetryStore, latest_values


@pytest.fixture
def tel(tmp_path: Path) -> Iterator[TelemetryStore]:
    with TelemetryStore(tmp_path / "telemetry.parquet") as store:
        yield store


def batch(**cols: Sequence[object]) -> pl.DataFrame:
    return pl.DataFrame(cols, strict=False)


def test_update_stores_every_param_but_ident(tel: TelemetryStore) -> None:
    cols = {"ident": ["a"], "timestamp": [10.0], "server.timestamp": [11.5]}
    df = pl.DataFrame(cols | {"channel.id": [3], "protocol.name": ["gt06"]})
    assert tel.update(df) == 4
    assert tel.get("a") == {
        "channel.id": (3, 10.0),
        "protocol.name": ("gt06", 10.0),
        "server.timestamp": (11.5, 10.0),
        "timestamp": (10.0, 10.0),
    }


def test_types_round_trip_exactly(tel: TelemetryStore) -> None:
    df = batch(
        ident=["a"],
        timestamp=[1.0],
        b=[True],
        f=[False],
        i=[2**62],
        neg=[-7],
        x=[0.1 + 0.2],
        whole=[1.0],
        big=[1e20],
        tiny=[5e-324],
        s=['quote " back \\ nl \n nul \x00 ü'],
        digits=["123"],
        empty=[""],
    )
    tel.update(df)
    got = {k: v for k, (v, _) in tel.get("a").items()}
    expected = df.drop("ident").row(0, named=True)
    assert got == expected
    for name, value in expected.items():
        assert type(got[name]) is type(value), name
    assert got["x"] == 0.30000000000000004
    assert tel.frame()["value"].to_list()[:3] == ["true", "1e+20", '"123"']


def test_non_finite_floats_round_trip(tel: TelemetryStore) -> None:
    tel.update(batch(ident=["a"] * 3, timestamp=[1.0, 2.0, 3.0], n=[1.0, None, None]))
    tel.update(batch(ident=["a", "b", "c"], timestamp=[4.0] * 3, n=[math.inf, -math.inf, math.nan]))
    assert tel.get("a")["n"] == (math.inf, 4.0)
    assert tel.get("b")["n"] == (-math.inf, 4.0)
    nan = tel.get("c")["n"][0]
    assert isinstance(nan, float)
    assert math.isnan(nan)


@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=20))
def test_any_float_round_trips(values: list[float]) -> None:
    idents = [f"d{i}" for i in range(len(values))]
    with TelemetryStore(":memory:") as store:
        store.update(batch(ident=idents, timestamp=[1.0] * len(values), v=values))
        got = [store.get(i)["v"][0] for i in idents]
    assert got == values
    floats = [g for g in got if isinstance(g, float)]
    assert len(floats) == len(got)
    assert [math.copysign(1, g) for g in floats] == [math.copysign(1, v) for v in values]


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=20))
def test_any_int_round_trips(values: list[int]) -> None:
    idents = [f"d{i}" for i in range(len(values))]
    with TelemetryStore(":memory:") as store:
        store.update(batch(ident=idents, timestamp=[1.0] * len(values), v=values))
        got = [store.get(i)["v"][0] for i in idents]
    assert got == values
    assert all(type(g) is int for g in got)


def test_newest_wins_within_one_batch(tel: TelemetryStore) -> None:
    # Out of order inside the batch; nulls mean "not in this message".
    df = batch(
        ident=["a", "a", "a", "b"],
        timestamp=[20.0, 30.0, 10.0, 5.0],
        speed=[2, None, 3, 9],
        ign=[None, True, False, None],
    )
    tel.update(df)
    a = tel.get("a")
    assert a["speed"] == (2, 20.0)
    assert a["ign"] == (True, 30.0)
    assert a["timestamp"] == (30.0, 30.0)
    assert tel.get("b") == {"speed": (9, 5.0), "timestamp": (5.0, 5.0)}


def test_equal_timestamps_later_row_wins(tel: TelemetryStore) -> None:
    tel.update(batch(ident=["a", "a"], timestamp=[5.0, 5.0], v=[1, 2]))
    assert tel.get("a")["v"] == (2, 5.0)
    # Across batches, an equal timestamp replaces too (later arrival).
    assert tel.update(batch(ident=["a"], timestamp=[5.0], v=[3])) == 2
    assert tel.get("a")["v"] == (3, 5.0)


def test_older_batch_never_overwrites_newer(tel: TelemetryStore) -> None:
    assert tel.update(batch(ident=["a"], timestamp=[100.0], v=[1], w=["new"])) == 3
    # A black-box message from the past: only params never seen before get in.
    old = batch(ident=["a", "a"], timestamp=[50.0, 60.0], v=[7, 8], w=["old", None], z=[1.5, None])
    assert tel.update(old) == 1
    assert tel.get("a") == {
        "timestamp": (100.0, 100.0),
        "v": (1, 100.0),
        "w": ("new", 100.0),
        "z": (1.5, 50.0),
    }
    # A newer message replaces, and a param may change type.
    tel.update(batch(ident=["a"], timestamp=[101.0], v=["one"]))
    assert tel.get("a")["v"] == ("one", 101.0)


def test_latest_values_matches_naive_fold() -> None:
    df = batch(
        ident=["a", "b", "a", "b", "a"],
        timestamp=[3.0, 1.0, 1.0, 2.0, 2.0],
        v=[None, 1, 2, None, 4],
    )
    assert latest_values(df).rows() == [
        ("a", "timestamp", "3.0", 3.0),
        ("a", "v", "4", 2.0),
        ("b", "timestamp", "2.0", 2.0),
        ("b", "v", "1", 1.0),
    ]


def test_all_null_column_and_empty_batch(tel: TelemetryStore) -> None:
    assert tel.update(batch(ident=["a"], timestamp=[1.0], gone=[None])) == 1
    assert "gone" not in tel.get("a")
    assert tel.update(pl.DataFrame({"ident": [], "timestamp": []})) == 0


@pytest.mark.parametrize(
    ("df", "match"),
    [
        (pl.DataFrame({"timestamp": [1.0]}), "no 'ident' column"),
        (pl.DataFrame({"ident": ["a"]}), "no 'timestamp' column"),
        (pl.DataFrame({"ident": ["a"], "timestamp": [None]}), "null 'timestamp'"),
        (pl.DataFrame({"ident": [None], "timestamp": [1.0]}), "null 'ident'"),
        (pl.DataFrame({"ident": ["a"], "timestamp": [1.0], "l": [[1, 2]]}), "column 'l'"),
        (pl.DataFrame({"ident": ["a"], "timestamp": [1.0], "__telebench_ts0": [1]}), "reserved"),
    ],
)
def test_bad_batches_raise_schema_error(tel: TelemetryStore, df: pl.DataFrame, match: str) -> None:
    with pytest.raises(SchemaError, match=match):
        tel.update(df)


def test_frame_filters_and_orders(tel: TelemetryStore) -> None:
    tel.update(batch(ident=["b", "a", "c"], timestamp=[1.0, 2.0, 3.0], v=["x", None, "y"]))
    full = tel.frame()
    assert full.schema == pl.Schema(
        {"ident": pl.String, "name": pl.String, "value": pl.String, "timestamp": pl.Float64}
    )
    assert full.select("ident", "name").rows() == [
        ("a", "timestamp"),
        ("b", "timestamp"),
        ("b", "v"),
        ("c", "timestamp"),
        ("c", "v"),
    ]
    assert tel.frame(["c", "zz"])["value"].to_list() == ["3.0", '"y"']
    assert tel.frame("b")["value"].to_list() == ["1.0", '"x"']
    assert tel.frame([]).height == 0


def test_delete(tel: TelemetryStore) -> None:
    tel.update(batch(ident=["a", "b"], timestamp=[1.0, 1.0], v=[1, 2], w=[3, 4]))
    assert tel.delete("a", ["v", "nope"]) == 1
    assert sorted(tel.get("a")) == ["timestamp", "w"]
    assert tel.delete("a") == 2
    assert tel.get("a") == {}
    assert tel.delete("a") == 0
    assert len(tel.get("b")) == 3


def test_reopen_persists(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.parquet"
    with TelemetryStore(path) as store:
        store.update(batch(ident=["a"], timestamp=[7.0], v=[False]))
    # Any Parquet reader sees one row a device, a struct column a parameter.
    assert pl.read_parquet(path).rows() == [
        ("a", {"value": "7.0", "timestamp": 7.0}, {"value": "false", "timestamp": 7.0})
    ]
    assert pl.read_parquet(path).columns == ["ident", "timestamp", "v"]
    query = f"SELECT ident, v.value, v.timestamp FROM '{path}'"  # as the README shows
    assert duckdb.sql(query).fetchall() == [("a", "false", 7.0)]
    with TelemetryStore(str(path)) as store:
        assert store.get("a")["v"] == (False, 7.0)
        assert store.update(batch(ident=["a"], timestamp=[6.0], v=[True])) == 0
        assert store.delete("a", ["v"]) == 1
    with TelemetryStore(path) as store:
        assert store.get("a") == {"timestamp": (7.0, 7.0)}
    assert [p.name for p in tmp_path.iterdir()] == ["telemetry.parquet"]  # no temp files


def test_a_failed_write_is_retried_by_the_next_save(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.parquet"
    store = TelemetryStore(path)
    store.update(batch(ident=["a"], timestamp=[1.0], v=[1]))
    path.unlink()
    path.mkdir()  # the rename onto a folder fails
    with pytest.raises(StoreError, match=r"telemetry\.parquet"):
        store.update(batch(ident=["a"], timestamp=[2.0], v=[2]))
    assert store.get("a")["v"] == (2, 2.0)  # kept in memory, still unsaved
    path.rmdir()
    store.save()
    store.close()
    with TelemetryStore(path) as again:
        assert again.get("a")["v"] == (2, 2.0)


def test_unsaved_folds_reach_the_file_on_save(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.parquet"
    with TelemetryStore(path) as store:
        assert store.update(batch(ident=["a"], timestamp=[1.0], v=[1]), persist=False) == 2
        assert not path.exists()
        assert store.get("a")["v"] == (1, 1.0)
        store.save()
        stamp = path.stat().st_mtime_ns
        store.save()  # nothing new: no rewrite
        assert path.stat().st_mtime_ns == stamp
    assert pl.read_parquet(path).width == 3


def test_a_version_2_file_is_read_and_rewritten_as_version_3(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.parquet"
    rows = {
        "ident": ["b", "a", "a"],
        "name": ["v", "v", "timestamp"],
        "value": ['"x"', "1", "5.0"],
        "timestamp": [2.0, 4.0, 5.0],
    }
    pl.DataFrame(rows).write_parquet(path, metadata={"telebench.telemetry.version": "2"})
    with TelemetryStore(path) as store:
        assert store.get("a") == {"timestamp": (5.0, 5.0), "v": (1, 4.0)}
        assert store.get("b") == {"v": ("x", 2.0)}
        store.save()  # an older layout counts as unsaved
    assert pl.read_parquet_metadata(path)["telebench.telemetry.version"] == "3"
    with TelemetryStore(path) as store:
        assert store.frame().rows() == [
            ("a", "timestamp", "5.0", 5.0),
            ("a", "v", "1", 4.0),
            ("b", "v", '"x"', 2.0),
        ]


def test_legacy_sqlite_is_migrated_once(tmp_path: Path) -> None:
    legacy = tmp_path / "telemetry.sqlite"
    with sqlite3.connect(legacy) as conn:
        conn.execute(
            "CREATE TABLE telemetry (ident TEXT NOT NULL, name TEXT NOT NULL,"
            " value TEXT NOT NULL, timestamp REAL NOT NULL, PRIMARY KEY (ident, name))"
        )
        conn.execute("INSERT INTO telemetry VALUES ('a', 'v', '\"x\"', 3.0)")
    conn.close()
    path = tmp_path / "telemetry.parquet"
    with TelemetryStore(path, legacy=legacy) as store:
        assert store.get("a") == {"v": ("x", 3.0)}
    assert not legacy.exists()
    assert (tmp_path / "telemetry.sqlite.migrated").exists()
    with TelemetryStore(path, legacy=legacy) as store:
        assert store.get("a") == {"v": ("x", 3.0)}


def test_newer_foreign_and_closed_stores_raise(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.parquet"
    pl.DataFrame({"ident": ["a"], "name": ["v"], "value": ["1"], "timestamp": [1.0]}).write_parquet(
        path, metadata={"telebench.telemetry.version": str(SCHEMA_VERSION + 1)}
    )
    with pytest.raises(StoreError, match="newer than supported"):
        TelemetryStore(path)
    pl.DataFrame({"ident": ["a"], "v": [1.0]}).write_parquet(path)
    with pytest.raises(StoreError, match="a parameter; found v: Float64"):
        TelemetryStore(path)
    pl.DataFrame({"name": ["a"]}).write_parquet(path)
    with pytest.raises(StoreError, match=r"expected an 'ident' column.*found name: String"):
        TelemetryStore(path)
    path.write_bytes(b"not parquet")
    with pytest.raises(StoreError, match="cannot open"):
        TelemetryStore(path)
    store = TelemetryStore(tmp_path / "other.parquet")
    store.close()
    with pytest.raises(StoreError, match=r"other\.parquet.*closed"):
        store.get("a")
    with pytest.raises(StoreError, match="cannot open"):
        TelemetryStore(tmp_path / "missing-dir" / "t.parquet")


def test_update_50k_rows_folds_every_device(tmp_path: Path) -> None:
    n, devices = 50_000, 1_000
    ts = pl.int_range(n, eager=True).cast(pl.Float64)
    cols: dict[str, pl.Series] = {
        "ident": (ts.cast(pl.Int64) % devices).cast(pl.String),
        "timestamp": ts,
    }
    for i in range(13):
        cols[f"p{i}"] = ts * 0.5 if i % 2 else (ts.cast(pl.Int64) % 7 == 0)
    df = pl.DataFrame(cols)
    with TelemetryStore(tmp_path / "t.parquet") as store:
        assert store.update(df) == devices * 14
        assert store.get("999")["timestamp"] == (49_999.0, 49_999.0)
        assert store.get("999")["p1"] == (49_999 * 0.5, 49_999.0)
        assert store.update(df) == devices * 14  # equal timestamps: the later arrival wins
        assert store.frame().height == devices * 14


_ints = st.one_of(st.none(), st.integers(0, 3))
_bools = st.one_of(st.none(), st.booleans())


@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 4), _ints, _bools), max_size=8),
        min_size=1,
        max_size=4,
    )
)
def test_batches_fold_like_newest_wins_value_by_value(
    batches: list[list[tuple[str, int, object, object]]],
) -> None:
    # The model: every (device, parameter) keeps the value of its newest message, the later
    # arrival on a tie, whichever batch brought it.
    model: dict[tuple[str, str], tuple[float, object]] = {}
    with TelemetryStore(":memory:") as store:
        for rows in batches:
            for ident, ts, p, q in rows:
                for name, value in (("timestamp", float(ts)), ("p", p), ("q", q)):
                    held = model.get((ident, name))
                    if value is not None and (held is None or ts >= held[0]):
                        model[ident, name] = (float(ts), value)
            frame = pl.DataFrame(
                rows,
                schema={
                    "ident": pl.String,
                    "timestamp": pl.Float64,
                    "p": pl.Int64,
                    "q": pl.Boolean,
                },
                orient="row",
                strict=False,
            )
            store.update(frame)
        for ident in "abc":
            expected = {n: (v, ts) for (i, n), (ts, v) in model.items() if i == ident}
            assert store.get(ident) == expected
