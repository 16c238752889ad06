"""telebench.plot: real figures rendered to PNG, decoded back, layers counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
import pytest
import shapely
from matplotlib import image
from matplotlib.axes import Axes
from matplotlib.collections import Collection

from simulators.net.report import LoadReport, SeriesRow
from telebench.calc import Counters, Geofences, circle, corridor, parkings, trips
from telebench.errors import ConfigError, SchemaError
from telebench.plot import (
    ATTRIBUTION,
    plot_intervals,
    plot_load,
    plot_map,
    road_segments,
)

T0 = 1_767_600_000.0  # 2026-01-05 08:00 UTC


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _network() -> SimpleNamespace:
    """A 3 x 3 grid of streets around Helsinki, every street two-way (24 directed edges)."""
    lon, lat = np.meshgrid(24.94 + 0.004 * np.arange(3), 60.16 + 0.002 * np.arange(3))
    pairs = [(i, i + 1) for i in range(9) if i % 3 != 2] + [(i, i + 3) for i in range(6)]
    src = np.array([a for a, b in pairs] + [b for a, b in pairs])
    dst = np.array([b for a, b in pairs] + [a for a, b in pairs])
    return SimpleNamespace(lon=lon.ravel(), lat=lat.ravel(), edge_src=src, edge_dst=dst)


def _messages() -> pl.DataFrame:
    """Two devices: each parked, then driving along the grid's bottom street, then parked."""
    rows = []
    for k, ident in enumerate(["dev-a", "dev-b"]):
        for i in range(20):
            moving = 5 <= i < 15
            rows.append({
                "ident": ident,
                "timestamp": T0 + 60.0 * i + 7 * k,
                "position.longitude": 24.94 + 0.0008 * min(max(i - 5, 0), 10),
                "position.latitude": 60.16 + 0.002 * k,
                "position.speed": 30.0 if moving else 0.0,
                "engine.ignition.status": moving,
            })  # fmt: skip
    return pl.DataFrame(rows)


def _render(ax: Axes, path: Path) -> np.ndarray:
    ax.figure.savefig(path, dpi=60)
    pixels: np.ndarray = image.imread(path)
    assert pixels.ndim == 3
    assert pixels.shape[0] > 100
    assert pixels.shape[1] > 100
    assert float(pixels[..., :3].std()) > 0.01  # something was drawn, not a blank canvas
    return pixels


def _layer(ax: Axes, gid: str) -> Collection:
    found = [c for c in ax.collections if c.get_gid() == gid]
    assert len(found) == 1, [c.get_gid() for c in ax.collections]
    return found[0]


def test_road_segments_one_per_street_with_its_end_positions() -> None:
    net = _network()
    segments = road_segments(net)
    assert segments.shape == (12, 2, 2)  # 24 directed edges, 12 streets
    ends = {tuple(sorted([tuple(a), tuple(b)])) for a, b in segments.tolist()}
    expected = {
        tuple(sorted([(net.lon[s], net.lat[s]), (net.lon[d], net.lat[d])]))
        for s, d in zip(net.edge_src, net.edge_dst, strict=True)
    }
    assert ends == expected


def test_map_draws_every_layer_with_one_artist_each(tmp_path: Path) -> None:
    msgs = _messages()
    found_trips = trips(msgs, counters=Counters(route=True), min_duration=0).collect()
    found_parkings = parkings(msgs, min_duration=0).collect()
    hole = shapely.Polygon(
        [(24.939, 60.159), (24.95, 60.159), (24.95, 60.165), (24.939, 60.165)],
        holes=[[(24.941, 60.160), (24.943, 60.160), (24.943, 60.161)]],
    )
    fences = Geofences.from_shapes({
        "yard": hole,
        "depot": circle(60.162, 24.944, 80.0),
        "street": corridor([(24.94, 60.16), (24.948, 60.16)], 30.0),
    })  # fmt: skip
    ax = plot_map(roads=_network(), messages=msgs, trips=found_trips, parkings=found_parkings,
                  fences=fences, title="all layers")  # fmt: skip
    _render(ax, tmp_path / "map.png")
    assert len(_layer(ax, "roads").get_segments()) == 12
    assert len(_layer(ax, "messages").get_offsets()) == msgs.height
    assert found_trips.height == 2
    assert len(_layer(ax, "trips").get_segments()) == 2
    assert found_parkings.height == 4
    assert len(_layer(ax, "parkings").get_offsets()) == 4
    assert len(_layer(ax, "fences").get_segments()) == 4  # yard: 2 rings
    assert len(_layer(ax, "fences-fill").get_paths()) == 3
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        ["yard", "depot", "street", ATTRIBUTION]
    )
    assert ax.get_title() == "all layers"
    lat0 = np.mean(ax.get_ylim())
    assert float(ax.get_aspect()) == pytest.approx(1 / np.cos(np.radians(lat0)))


def test_trips_follow_their_messages_when_there_is_no_route(tmp_path: Path) -> None:
    msgs = _messages()
    found = trips(msgs, min_duration=0).collect()
    assert "route" not in found.columns
    ax = plot_map(messages=msgs, trips=found)
    _render(ax, tmp_path / "tracks.png")
    lines = _layer(ax, "trips").get_segments()
    for line, row in zip(lines, found.iter_rows(named=True), strict=True):
        inside = msgs.filter(
            (pl.col("ident") == row["ident"])
            & pl.col("timestamp").is_between(row["begin"], row["end"])
        )
        np.testing.assert_array_equal(
            line, inside.select("position.longitude", "position.latitude").to_numpy()
        )
    assert not any(t.get_text() == ATTRIBUTION for t in ax.texts)  # no roads, no OSM credit


def test_trips_alone_are_straight_lines_from_begin_to_end() -> None:
    found = trips(_messages(), min_duration=0).collect()
    ax = plot_map(trips=found.lazy())
    lines = _layer(ax, "trips").get_segments()
    assert [line.tolist() for line in lines] == [
        [[r["begin.longitude"], r["begin.latitude"]], [r["end.longitude"], r["end.latitude"]]]
        for r in found.iter_rows(named=True)
    ]


def test_truth_parkings_and_plain_geometries() -> None:
    truth = pl.DataFrame({"ident": ["a"], "start_latitude": [60.1], "start_longitude": [24.9]})
    square = shapely.box(24.8, 60.0, 25.0, 60.2)
    ax = plot_map(parkings=truth, fences=[square, shapely.LineString([(24.8, 60.0), (25, 60.2)])])
    assert _layer(ax, "parkings").get_offsets().tolist() == [[24.9, 60.1]]
    assert len(_layer(ax, "fences").get_segments()) == 2
    assert not ax.texts  # unnamed fences, no roads


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"messages": pl.DataFrame({"lat": [1.0]})}, SchemaError, "position.longitude"),
        ({"parkings": pl.DataFrame({"ident": ["a"]})}, SchemaError, "position column pairs"),
        ({"trips": pl.DataFrame({"ident": ["a"]})}, SchemaError, "begin.longitude"),
        ({"roads": np.zeros((3, 3))}, ConfigError, "(3, 3)"),
    ],
)
def test_map_errors_name_what_is_missing(kwargs: dict[str, Any], error: type, words: str) -> None:
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        plot_map(**kwargs)


def test_load_chart_plots_the_series(tmp_path: Path) -> None:
    rows = [
        SeriesRow(t=float(i), sim_time=T0 + 600 * i, connected=min(i, 3), sent_per_s=100.0 * i,
                  acked_per_s=90.0 * i, latency_p50_ms=2.0 + i, latency_p95_ms=9.0 + i)
        for i in range(1, 6)
    ]  # fmt: skip
    # The drain row, 20 ms after the last: 30 records in it would chart as 1,500/s.
    rows.append(SeriesRow(t=5.02, sim_time=T0 + 3000, connected=3, sent_per_s=1500.0,
                          acked_per_s=1500.0, latency_p50_ms=1.0, latency_p95_ms=1.0))  # fmt: skip
    report = LoadReport(devices=3, connected_peak=3, sim_seconds=3000.0, wall_seconds=5.0,
                        sent=1500, resent=0, acked=1350, lost=0, unsent=0, reconnects=0,
                        series=rows)  # fmt: skip
    fig = plot_load(report)
    top, bottom, twin = fig.axes
    assert [line.get_label() for line in top.lines] == ["sent records/s", "acked records/s"]
    assert top.lines[1].get_ydata().tolist() == [90.0, 180.0, 270.0, 360.0, 450.0]
    assert bottom.lines[1].get_ydata().tolist() == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert twin.lines[0].get_ydata().tolist() == [1, 2, 3, 3, 3]
    assert twin.get_ylim() == pytest.approx((0.0, 3.3))
    fig.savefig(tmp_path / "load.png", dpi=60)
    assert float(image.imread(tmp_path / "load.png")[..., :3].std()) > 0.01


def test_timeline_rows_lanes_and_times(tmp_path: Path) -> None:
    msgs = _messages()
    found_trips = trips(msgs, min_duration=0).collect()
    found_parkings = parkings(msgs, min_duration=0).collect()
    truth = pl.DataFrame({"ident": ["dev-a", "dev-b"], "start_time": [T0 + 300, T0 + 307],
                          "end_time": [T0 + 900, T0 + 907]})  # fmt: skip
    ax = plot_intervals(found_trips, found_parkings, truth_trips=truth, title="timeline")
    _render(ax, tmp_path / "timeline.png")
    assert [c.get_gid() for c in ax.collections] == ["trips", "parkings", "truth trips"]
    assert [len(c.get_paths()) for c in ax.collections] == [2, 4, 1 + 1]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dev-a", "dev-b"]
    # dev-b's true trip: lower half of row 1, from its start to its end on date numbers.
    box = ax.collections[2].get_paths()[1].get_extents()
    epoch = mdates.date2num(np.datetime64("1970-01-01T00:00:00"))
    assert box.x0 == pytest.approx((T0 + 307) / 86400 + epoch)
    assert box.x1 == pytest.approx((T0 + 907) / 86400 + epoch)
    assert (box.y0, box.y1) == pytest.approx((1.08, 1.48))
    computed = ax.collections[0].get_paths()[1].get_extents()
    assert (computed.y0, computed.y1) == pytest.approx((1.52, 1.92))


def test_timeline_picks_devices_and_needs_something_to_draw() -> None:
    found = trips(_messages(), min_duration=0).collect()
    ax = plot_intervals(found, ident="dev-b")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dev-b"]
    box = ax.collections[0].get_paths()[0].get_extents()
    assert (box.y0, box.y1) == pytest.approx((0.1, 0.9))  # no truth: full-height lane
    with pytest.raises(ConfigError, match="pass trips"):
        plot_intervals(None)
