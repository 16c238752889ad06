"""The demo's HTML report: what ran, where the fleet drove, and how right the results are.

One self-contained ``report.html`` in the run folder (charts inlined, no network needed):
key figures, a map of trips, parkings and geofences over the road network, the load
chart, a timeline of computed against true intervals, the scores, geofence visits and the
delivery check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from telebench import plot
from telebench.calc import Geofences, matches
from telebench.report import Report

__all__ = ["DemoResults", "write_demo_report"]

_SCORE_COLUMNS = (
    "precision", "recall", "f1", "tp", "fp", "fn",
    "median_begin_error", "median_end_error", "distance_error",
)  # fmt: skip
_TIMELINE_VEHICLES = 6


@dataclass(frozen=True)
class DemoResults:
    """The frames and figures one demo run produced (what the report shows)."""

    summary: Mapping[str, Any]
    roads: Any  # a RoadNetwork-like object (lon, lat, edge_src, edge_dst)
    messages: pl.DataFrame
    trips: pl.DataFrame
    parkings: pl.DataFrame
    fences: Geofences
    visits: pl.DataFrame
    truth: Mapping[str, pl.DataFrame]
    delivery: pl.DataFrame  # receiver.verify per ident
    load_chart: Path


def _map(results: DemoResults) -> Figure:
    fig = Figure(figsize=(11, 9))
    ax = fig.subplots()
    plot.plot_map(
        roads=results.roads,
        trips=results.trips,
        parkings=results.parkings,
        fences=results.fences,
        ax=ax,
        title="Computed trips (lines) and parkings (dots) over the road network, with geofences",
    )
    return fig


def _timeline(results: DemoResults) -> Figure:
    idents = results.trips.get_column("ident").unique(maintain_order=True).head(_TIMELINE_VEHICLES)
    fig = Figure(figsize=(11, 1.0 + 0.9 * idents.len()))
    ax = fig.subplots()
    keep = pl.col("ident").is_in(idents.implode())
    plot.plot_intervals(
        results.trips.filter(keep),
        results.parkings.filter(keep),
        truth_trips=results.truth["journeys"].filter(keep),
        truth_parkings=results.truth["parkings"].filter(keep),
        ax=ax,
    )
    return fig


def _errors(results: DemoResults) -> Figure:
    """Begin/end errors (s) and computed against true distance of every matched trip."""
    # The pairs the trips score counted (same vehicle, overlapping by half the longer one).
    pairs = matches(results.trips, results.truth["journeys"])
    fig = Figure(figsize=(11, 3.6))
    left, right = fig.subplots(1, 2)
    bins = np.linspace(-120, 120, 49)
    for column, label in (("begin", "trip begin"), ("end", "trip end")):
        error = (pairs[column] - pairs[f"{column}_t"]).to_numpy()
        left.hist(np.clip(error, -120, 120), bins=bins, alpha=0.6, label=label)
    left.set_xlabel("computed minus true (s), clipped to ±120 s")
    left.set_ylabel("trips")
    left.legend()
    true_km = pairs["distance_t"].to_numpy()
    right.scatter(true_km, pairs["distance"].to_numpy(), s=6, alpha=0.5)
    top = float(max(true_km.max(initial=0.0), pairs["distance"].max() or 0.0)) * 1.05
    right.plot([0, top], [0, top], color="grey", lw=0.8, ls="--")
    right.set_xlabel("true distance (km)")
    right.set_ylabel("computed distance (km)")
    fig.tight_layout()
    return fig


def _scores(summary: Mapping[str, Any]) -> pl.DataFrame:
    rows = []
    for name in ("trips", "parkings", "geofences"):
        scored = summary.get(f"{name}_score") or {}
        rows.append({"calculator": name, **{k: scored.get(k) for k in _SCORE_COLUMNS}})
    return pl.DataFrame(rows)


def _visits_per_fence(visits: pl.DataFrame) -> pl.DataFrame:
    return (
        visits.group_by("geofence")
        .agg(
            visits=pl.len(),
            vehicles=pl.col("ident").n_unique(),
            median_minutes=(pl.col("duration").median() / 60).round(1),
            crossings=pl.col("crossing").sum(),
        )
        .sort("visits", descending=True)
    )


def _delivery(delivery: pl.DataFrame) -> pl.DataFrame:
    numeric = [c for c in delivery.columns if c != "ident" and delivery[c].dtype.is_numeric()]
    return delivery.select(pl.len().alias("devices"), *[pl.col(c).sum() for c in numeric])


def write_demo_report(path: Path, results: DemoResults) -> Path:
    """Write the run's ``report.html`` to ``path`` and return it."""
    s = results.summary
    headline = {
        "vehicles": s["vehicles"],
        "simulated hours": s["simulated_hours"],
        "records acked": s["records_acked"],
        "records lost": s["records_lost"],
        "ack p99 (ms)": s["ack_p99_ms"],
        "stream missing": s["streamed_missing"],
        "trips F1": s["trips_score"].get("f1"),
        "parkings F1": s["parkings_score"].get("f1"),
        "geofences F1": s["geofences_score"].get("f1"),
        "run (s)": s["seconds"],
    }
    report = (
        Report(
            "telebench demo",
            subtitle=f"{s['vehicles']} simulated vehicles, {s['simulated_hours']:g} h, "
            "into the hub over real sockets, streamed out and verified",
            footer="Road network © OpenStreetMap contributors (ODbL 1.0). Made by telebench.",
        )
        .headline(headline)
        .section("Where the fleet drove", "Trips and parkings computed from the hub's store.")
        .figure(_map(results), "map: roads, trips, parkings, geofences")
        .section("Ingest", "Records per second sent and acked (each ack after fsync).")
        .figure(results.load_chart, "throughput and ack latency")
        .section(
            "Accuracy against the simulator's ground truth",
            "A computed interval matches a true one of the same vehicle (and geofence) when "
            "they overlap by at least half of the longer one; errors are in seconds.",
        )
        .table(_scores(s), "scores")
        .figure(_timeline(results), "computed (solid) and true (outlined) intervals")
        .figure(_errors(results), "trip begin/end errors; computed against true distance")
        .section("Geofences", f"{len(results.fences.names)} geofences; visits per fence.")
        .table(_visits_per_fence(results.visits), "visits", max_rows=30)
        .section("Delivery", "The receiver's copy against the hub's store.")
        .table(_delivery(results.delivery), "stream verification (sums over devices)")
    )
    return report.write(path)
