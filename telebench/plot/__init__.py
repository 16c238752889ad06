"""Offline maps and charts with matplotlib: roads, messages, trips, parkings, fences, load.

No tiles and no network: the map's background is the road network itself (OpenStreetMap
data, hence the attribution). Each layer is one vectorised artist tagged with a gid
(``roads``, ``fences``, ``messages``, ``trips``, ``parkings``; ``trips``/``parkings`` and
``truth trips``/``truth parkings`` on timelines), so a day of 200 vehicles draws in about a
second. New figures come from ``pyplot`` (a notebook shows them inline); close them with
``matplotlib.pyplot.close(fig)`` when drawing many.

Examples
--------
>>> import numpy as np, polars as pl
>>> from types import SimpleNamespace
>>> net = SimpleNamespace(lon=np.array([25.0, 25.01, 25.02]),
...                       lat=np.array([60.0, 60.0, 60.01]),
...                       edge_src=np.array([0, 1, 1]), edge_dst=np.array([1, 0, 2]))
>>> road_segments(net).shape  # the two-way road 0-1 is drawn once
(2, 2, 2)
>>> msgs = pl.DataFrame({"position.longitude": [25.0, 25.02],
...                      "position.latitude": [60.0, 60.01]})
>>> ax = plot_map(roads=net, messages=msgs)
>>> [c.get_gid() for c in ax.collections]
['roads', 'messages']
>>> plt.close(ax.figure)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol, cast

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import polars as pl
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from telebench.errors import ConfigError, SchemaError
from telebench.plot.layers import (
    LAT,
    LON,
    FloatArray,
    Frame,
    as_frame,
    draw_fences,
    require,
    trip_lines,
    xy,
)

__all__ = [
    "ATTRIBUTION",
    "LoadReportLike",
    "RoadNetworkLike",
    "plot_intervals",
    "plot_load",
    "plot_map",
    "road_segments",
]

#: Shown on every map that draws OpenStreetMap roads (ODbL).
ATTRIBUTION: Final = "© OpenStreetMap contributors"

# Where an interval's position is, by preference: stop centroid, begin fix, simulator truth.
_PLACES: Final = (
    ("longitude", "latitude"),
    ("begin.longitude", "begin.latitude"),
    ("start_longitude", "start_latitude"),
)
_ALIASES: Final = {"start_time": "begin", "end_time": "end", "enter_time": "begin",
                   "exit_time": "end"}  # fmt: skip
_MAX_TICKS: Final = 40
# matplotlib.dates is untyped: bind what is used to typed names once.
_date2num: Callable[[Any], float] = mdates.date2num
_date_locator: Callable[[], Any] = mdates.AutoDateLocator
_date_formatter: Callable[[Any], Any] = mdates.ConciseDateFormatter


class RoadNetworkLike(Protocol):
    """What :func:`road_segments` needs (``simulators.roads.RoadNetwork`` has it)."""

    @property
    def lon(self) -> npt.NDArray[Any]: ...
    @property
    def lat(self) -> npt.NDArray[Any]: ...
    @property
    def edge_src(self) -> npt.NDArray[Any]: ...
    @property
    def edge_dst(self) -> npt.NDArray[Any]: ...


class LoadReportLike(Protocol):
    """What :func:`plot_load` needs (``simulators.net.LoadReport`` has it): rows with ``t``,
    ``connected``, ``sent_per_s``, ``acked_per_s``, ``latency_p50_ms``, ``latency_p95_ms``."""

    @property
    def devices(self) -> int: ...
    @property
    def series(self) -> Sequence[Any]: ...


def road_segments(network: RoadNetworkLike) -> FloatArray:
    """``(N, 2, 2)`` array of road segments ``[[lon0, lat0], [lon1, lat1]]``, one per road.

    A two-way road is two directed edges in the graph; it is returned once.

    >>> from types import SimpleNamespace
    >>> net = SimpleNamespace(lon=np.array([1.0, 2.0]), lat=np.array([3.0, 4.0]),
    ...                       edge_src=np.array([0, 1]), edge_dst=np.array([1, 0]))
    >>> road_segments(net).tolist()
    [[[1.0, 3.0], [2.0, 4.0]]]
    """
    pairs = np.column_stack([np.asarray(network.edge_src), np.asarray(network.edge_dst)])
    pairs = np.unique(np.sort(pairs.astype(np.int64), axis=1), axis=0).reshape(-1, 2)
    lon = np.asarray(network.lon, dtype=np.float64)
    lat = np.asarray(network.lat, dtype=np.float64)
    return np.stack([lon[pairs], lat[pairs]], axis=-1)


def plot_map(
    *,
    roads: RoadNetworkLike | npt.NDArray[Any] | None = None,
    messages: Frame | None = None,
    trips: Frame | None = None,
    parkings: Frame | None = None,
    fences: Any = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw the given layers on one lon/lat map (aspect corrected by cos(latitude)).

    ``roads``: a road network or :func:`road_segments` array (light grey background);
    ``messages``: frame with ``position.longitude``/``latitude`` (small points); ``trips``:
    intervals drawn as one coloured line each, along their ``route`` (WKT, from
    ``Counters(route=True)``), else along ``messages`` between ``begin`` and ``end``, else
    straight from begin to end position; ``parkings``: markers at the centroid or begin
    position (``start_latitude`` of simulator truth works too); ``fences``: a
    :class:`~telebench.calc.Geofences`, a ``{name: geometry}`` mapping or geometries.

    >>> trips = pl.DataFrame({"route": ["LINESTRING (1 2, 1.1 2.1)", "LINESTRING (1 2, 1 2.1)"]})
    >>> ax = plot_map(trips=trips, title="two trips")
    >>> len(ax.collections[0].get_segments()), ax.get_title()
    (2, 'two trips')
    >>> plt.close(ax.figure)
    """
    if ax is None:
        ax = plt.subplots(figsize=(9, 8))[1]
    if roads is not None:
        segments = roads if isinstance(roads, np.ndarray) else road_segments(roads)
        _draw_roads(ax, np.asarray(segments, dtype=np.float64))
    if fences is not None:
        draw_fences(ax, fences)
    if messages is not None:
        x, y = xy(messages, LON, LAT)
        ax.scatter(x, y, s=3, c="tab:blue", alpha=0.5, linewidths=0, zorder=2, gid="messages")
    if trips is not None:
        lines = trip_lines(as_frame(trips), messages)
        colours = plt.get_cmap("tab20")(np.arange(len(lines)) % 20)
        ax.add_collection(LineCollection(lines, colors=colours, linewidths=1.6, zorder=3,
                                         gid="trips"))  # fmt: skip
    if parkings is not None:
        x, y = xy(parkings, *_place_columns(as_frame(parkings)))
        size = 28 if x.size <= 500 else 8  # thousands of big markers hide the map
        ax.scatter(x, y, s=size, marker="s", c="tab:red", edgecolors="white", linewidths=0.5,
                   zorder=4, gid="parkings")  # fmt: skip
    _finish_map(ax, title, attribution=roads is not None)
    return ax


def _place_columns(frame: pl.DataFrame) -> tuple[str, str]:
    for lon, lat in _PLACES:
        if lon in frame.columns and lat in frame.columns:
            return lon, lat
    raise SchemaError(f"parkings need one of the position column pairs {list(_PLACES)}")


def _draw_roads(ax: Axes, segments: FloatArray) -> None:
    if segments.ndim != 3 or segments.shape[1:] != (2, 2):
        raise ConfigError(f"roads: expected an (N, 2, 2) segment array, got {segments.shape}")
    ax.add_collection(LineCollection(_seq(segments), colors="#b5b5b5", linewidths=0.6,
                                     zorder=1, gid="roads"))  # fmt: skip


def _seq(array: FloatArray) -> Sequence[FloatArray]:
    """An (N, M, 2) array as collections take it: whole, on their fast path (the stubs only
    name sequences; a list of N arrays would be built and checked one by one)."""
    return cast("Sequence[FloatArray]", array)


def _finish_map(ax: Axes, title: str | None, *, attribution: bool) -> None:
    ax.autoscale_view()
    lat0 = float(np.mean(ax.get_ylim()))
    # Equal metres on both axes near the centre: a degree of longitude is cos(lat) shorter.
    ax.set_aspect(1.0 / max(np.cos(np.radians(lat0)), 0.01), adjustable="datalim")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    if title:
        ax.set_title(title)
    if attribution:
        box = {"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1}
        ax.text(0.995, 0.005, ATTRIBUTION, transform=ax.transAxes, ha="right", va="bottom",
                fontsize=7, color="#555555", zorder=6, bbox=box)  # fmt: skip


def plot_load(report: LoadReportLike) -> Figure:
    """Throughput (sent/acked records/s, connected devices) and ack latency (p50/p95) over
    wall time, from a load report's per-second series (rows under 0.5 s are left out).

    >>> from types import SimpleNamespace as S
    >>> rows = [S(t=float(i), connected=2, sent_per_s=10.0, acked_per_s=9.0,
    ...           latency_p50_ms=3.0, latency_p95_ms=8.0) for i in range(1, 4)]
    >>> fig = plot_load(S(devices=2, series=rows))
    >>> [len(ax.lines) for ax in fig.axes]
    [2, 2, 1]
    >>> plt.close(fig)
    """
    fields = ("t", "connected", "sent_per_s", "acked_per_s", "latency_p50_ms", "latency_p95_ms")
    s = {f: np.array([getattr(row, f) for row in report.series], dtype=np.float64) for f in fields}
    # A row covering a few milliseconds (the last one, after the drain) has a meaningless
    # rate (30,000/s from 3 records): leave out rows under half a second.
    keep = np.diff(s["t"], prepend=0.0) >= 0.5
    s = {f: v[keep] for f, v in s.items()}
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    top.plot(s["t"], s["sent_per_s"], ".-", label="sent records/s")
    top.plot(s["t"], s["acked_per_s"], ".-", label="acked records/s")
    top.set_ylabel("records/s")
    top.legend(loc="upper left")
    bottom.plot(s["t"], s["latency_p50_ms"], ".-", label="p50")
    bottom.plot(s["t"], s["latency_p95_ms"], ".-", label="p95")
    bottom.set_ylabel("ack latency (ms)")
    bottom.set_xlabel("wall time (s)")
    bottom.legend(loc="upper left")
    twin = top.twinx()
    twin.plot(s["t"], s["connected"], color="grey", ls=":", label="connected")
    twin.set_ylabel("connected devices")
    twin.set_ylim(0, max(float(s["connected"].max(initial=0.0)), 1.0) * 1.1)
    fig.suptitle(f"telebench load: {report.devices:,} devices")
    fig.tight_layout()
    return fig


def _spans(frame: Frame, ident: Sequence[str] | None) -> pl.DataFrame:
    """``ident, begin, end`` of intervals (simulator truth names accepted)."""
    d = as_frame(frame)
    d = d.rename({k: v for k, v in _ALIASES.items() if k in d.columns and v not in d.columns})
    require(d, ["ident", "begin"], "intervals")
    end = pl.col("end") if "end" in d.columns else pl.col("begin")
    d = d.select(pl.col("ident").cast(pl.String), pl.col("begin").cast(pl.Float64),
                 end.cast(pl.Float64).fill_null(pl.col("begin")).alias("end"))  # fmt: skip
    return d.drop_nulls() if ident is None else d.filter(pl.col("ident").is_in(ident)).drop_nulls()


def _days(seconds: FloatArray) -> FloatArray:
    """UNIX seconds to matplotlib date numbers (whatever ``date.epoch`` is set to)."""
    epoch = _date2num(np.datetime64("1970-01-01T00:00:00"))
    return seconds / 86400.0 + epoch


def plot_intervals(
    trips: Frame | None,
    parkings: Frame | None = None,
    *,
    ident: str | Sequence[str] | None = None,
    truth_trips: Frame | None = None,
    truth_parkings: Frame | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """A timeline per device: trips and parkings as bars on UTC time, one row per ident.

    With ``truth_trips``/``truth_parkings`` (e.g. ``fleet.ground_truth()["journeys"]``,
    ``["parkings"]``) each row splits: computed on top, truth below. ``ident`` picks devices.

    >>> trips = pl.DataFrame({"ident": ["a", "b"], "begin": [0.0, 600], "end": [300.0, 900]})
    >>> truth = pl.DataFrame({"ident": ["a"], "start_time": [10.0], "end_time": [290.0]})
    >>> ax = plot_intervals(trips, truth_trips=truth)
    >>> [(c.get_gid(), len(c.get_paths())) for c in ax.collections]
    [('trips', 2), ('truth trips', 1)]
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['a', 'b']
    >>> plt.close(ax.figure)
    """
    picked = [ident] if isinstance(ident, str) else ident
    layers = [
        ("trips", trips, "tab:blue", False),
        ("parkings", parkings, "tab:orange", False),
        ("truth trips", truth_trips, "#9ecae1", True),
        ("truth parkings", truth_parkings, "#fdd0a2", True),
    ]
    spans = [(name, _spans(f, picked), c, lower) for name, f, c, lower in layers if f is not None]
    if not spans:
        raise ConfigError("plot_intervals: pass trips, parkings or truth to draw")
    idents = pl.concat([s.get_column("ident") for _, s, _, _ in spans]).unique().sort()
    split = truth_trips is not None or truth_parkings is not None
    if ax is None:
        height = min(max(2.5, 0.28 * len(idents) + 1.5), 12.0)  # crowded rows get thinner
        ax = plt.subplots(figsize=(11, height), layout="constrained")[1]
    for name, s, colour, lower in spans:
        row = idents.search_sorted(s.get_column("ident")).to_numpy().astype(np.float64)
        y0 = row + (0.52 if split and not lower else 0.08 if split else 0.1)
        y1 = y0 + (0.4 if split else 0.8)
        x0, x1 = _days(s.get_column("begin").to_numpy()), _days(s.get_column("end").to_numpy())
        corners = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
        verts = np.stack([np.column_stack(c) for c in corners], axis=1)  # (N, 4, 2): fast path
        ax.add_collection(
            PolyCollection(_seq(verts), facecolors=colour, edgecolors="none", gid=name)
        )
    _finish_timeline(ax, idents.to_list(), [(n, c) for n, _, c, _ in spans], title)
    return ax


def _finish_timeline(
    ax: Axes, idents: list[str], legend: list[tuple[str, str]], title: str | None
) -> None:
    step = max(1, -(-len(idents) // _MAX_TICKS))  # label every step-th row when crowded
    ax.set_yticks(np.arange(0, len(idents), step) + 0.5, idents[::step], fontsize=8)
    ax.set_ylim(len(idents), 0)  # first ident on top
    ax.autoscale(axis="x")
    ax.autoscale_view(scaley=False)
    locator = _date_locator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(_date_formatter(locator))
    ax.set_xlabel("time (UTC)")
    handles = [Patch(color=c, label=n) for n, c in legend]
    # Above the plot, right-aligned: inside it would hide the busiest rows.
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8,
              ncols=len(legend), frameon=False)  # fmt: skip
    if title:
        ax.set_title(title, loc="left")  # the legend is on the right
