"""The interval engine on hand-built tracks with exact expected intervals."""

from __future__ import annotations

import polars as pl
import pytest

from telebench.calc import (
    Calendar,
    Counters,
    Expression,
    Ignition,
    Inactive,
    Speed,
    intervals,
    trips,
)
from telebench.errors import ConfigError, SchemaError


def _track(ign: list[bool | None], ts: list[float] | None = None, ident: str = "a") -> pl.DataFrame:
    n = len(ign)
    return pl.DataFrame(
        {
            "ident": [ident] * n,
            "timestamp": ts if ts is not None else [10.0 * i for i in range(n)],
            "engine.ignition.status": ign,
            "position.latitude": [0.001 * i for i in range(n)],
            "position.longitude": [0.0] * n,
            "position.speed": [40.0 if v else 0.0 for v in ign],
            "vehicle.mileage": [0.1 * i for i in range(n)],
        },
        schema_overrides={"engine.ignition.status": pl.Boolean},
    )


def _spans(lf: pl.LazyFrame) -> list[tuple[float, float, bool, str]]:
    return lf.collect().select("begin", "end", "active", "ended_by").rows()


def test_trip_split_by_ignition_off() -> None:
    df = _track([False, True, True, False, False, True, True, True])
    assert _spans(intervals(df, Ignition())) == [
        (10.0, 20.0, False, "ignition off"),
        (50.0, 70.0, True, "end of data"),
    ]


def test_merge_before_and_after_pull_the_off_neighbours() -> None:
    df = _track([False, True, True, False, False, True, True, False])
    out = intervals(df, Ignition(), merge_message_before=True, merge_message_after=True)
    assert _spans(out) == [
        (0.0, 30.0, False, "ignition off"),
        (40.0, 70.0, False, "ignition off"),
    ]
    counts = out.collect().get_column("messages").to_list()
    assert counts == [4, 4]


def test_gap_splits_and_merge_does_not_cross_it() -> None:
    ts = [0.0, 10, 20, 400, 410, 420]
    df = _track([True, True, True, True, True, False], ts)
    out = intervals(df, Ignition(), max_messages_time_diff=300, merge_message_after=True)
    assert _spans(out) == [(0.0, 20.0, False, "gap"), (400.0, 420.0, False, "ignition off")]


def test_max_inactive_and_now_close_the_last_interval() -> None:
    df = _track([True, True, True], [0.0, 10, 20])
    out = intervals(df, Ignition(), max_inactive=60, now=1000.0)
    assert _spans(out) == [(0.0, 20.0, False, "inactive")]
    assert _spans(intervals(df, Ignition(), max_inactive=60, now=50.0))[0][2] is True


def test_merge_unknown_continues_or_breaks() -> None:
    df = _track([True, None, True, False])
    assert _spans(intervals(df, Ignition(), merge_unknown=True)) == [
        (0.0, 20.0, False, "ignition off")
    ]
    assert [s[:2] for s in _spans(intervals(df, Ignition(), merge_unknown=False))] == [
        (0.0, 0.0),
        (20.0, 20.0),
    ]


def test_min_duration_drops_and_min_off_duration_bridges() -> None:
    df = _track([True, True, False, True, True, True, False, False])
    assert len(_spans(intervals(df, Ignition(), min_duration=15))) == 1
    bridged = intervals(df, Ignition(), min_off_duration=30)
    assert _spans(bridged) == [(0.0, 50.0, False, "ignition off")]


def test_min_distance_and_distance_counters() -> None:
    df = _track([True, True, True, False, True, False])
    out = intervals(df, Ignition(), counters=Counters(distance="odometer")).collect()
    assert out.get_column("distance").to_list() == pytest.approx([0.2, 0.0])
    hav = intervals(df, Ignition()).collect().get_column("distance").to_list()
    assert hav[0] == pytest.approx(0.2224, abs=1e-3)
    kept = intervals(df, Ignition(), min_distance=0.1).collect()
    assert kept.height == 1


def test_out_of_order_and_duplicates_give_the_same_result() -> None:
    df = pl.concat([_track([False, True, True, False, True]), _track([True, False], ident="b")])
    shuffled = pl.concat([df, df.head(3)]).sample(fraction=1.0, shuffle=True, seed=7)
    c = Counters(first=("vehicle.mileage",), last=("vehicle.mileage",), route=True)
    a = intervals(df, Ignition(), counters=c).collect()
    b = intervals(shuffled, Ignition(), counters=c).collect()
    assert a.equals(b)
    assert a.get_column("ident").to_list() == ["a", "a", "b"]
    assert a.get_column("route")[0].startswith("LINESTRING (0.0 0.001, 0.0 0.002")


def test_counters_speed_positions_first_last() -> None:
    df = _track([False, True, True, False])
    c = Counters(first=("vehicle.mileage",), last=("vehicle.mileage",))
    row = (
        intervals(df, Ignition(), merge_message_after=True, counters=c).collect().row(0, named=True)
    )
    assert row["avg_speed"] == 40.0
    assert row["max_speed"] == 40.0
    assert row["begin.latitude"] == pytest.approx(0.001)
    assert row["end.latitude"] == pytest.approx(0.003)
    assert (row["vehicle.mileage.first"], row["vehicle.mileage.last"]) == pytest.approx((0.1, 0.3))


def test_speed_expression_change_and_calendar_selectors() -> None:
    df = _track([False, True, True, False])
    assert [s[:3] for s in _spans(intervals(df, Speed(10)))] == [(10.0, 20.0, False)]
    expr = Expression(pl.col("position.speed") > 10, name="fast")
    assert _spans(intervals(df, expr))[0][3] == "fast false"
    change = intervals(df, Expression(pl.col("engine.ignition.status"), method="change"))
    assert [s[:2] for s in _spans(change)] == [(0.0, 0.0), (10.0, 20.0), (30.0, 30.0)]
    day = _track([True] * 3, [86400.0 - 10, 86400.0, 86400.0 + 10])
    assert [s[3] for s in _spans(intervals(day, Calendar("day")))] == ["split", "end of data"]


def test_inactive_selector_reports_offline_periods() -> None:
    df = _track([True] * 4, [0.0, 10, 500, 510])
    assert _spans(intervals(df, Inactive(100))) == [(10.0, 500.0, False, "message")]
    assert len(_spans(intervals(df, Inactive(100), now=1000.0))) == 2


def test_errors_name_the_problem() -> None:
    with pytest.raises(SchemaError, match="timestamp"):
        intervals(pl.DataFrame({"ident": ["a"]}), Ignition())
    with pytest.raises(ConfigError, match="method"):
        Expression(pl.col("x"), method="sum")
    with pytest.raises(ConfigError, match="Calendar"):
        Calendar("fortnight")


def test_trips_default_selector_falls_back_to_speed() -> None:
    df = _track([False, True, True, False]).drop("engine.ignition.status")
    out = trips(df, min_duration=0).collect()
    assert out.select("begin", "end").rows() == [(10.0, 30.0)]
    assert out.get_column("distance").to_list() == pytest.approx([0.2])


def test_empty_and_single_message_inputs() -> None:
    from telebench.calc import Geofences, circle, geofence_visits, parkings, stops

    empty = pl.DataFrame(
        schema={"ident": pl.String, "timestamp": pl.Float64, "position.latitude": pl.Float64,
                "position.longitude": pl.Float64}
    )  # fmt: skip
    fences = Geofences.from_shapes({"a": circle(0.0, 0.0, 100.0)})
    for frame in (empty, empty.vstack(pl.DataFrame([("a", 1.0, 50.0, 5.0)], schema=empty.schema,
                                                   orient="row"))):  # fmt: skip
        assert trips(frame, min_duration=0).collect().height == 0
        assert parkings(frame).collect().height == 0
        assert stops(frame).collect().height == 0
        assert geofence_visits(frame, fences).collect().height == 0
