"""``telebench calc`` (trips, parkings, stops, geofences from a hub store) and ``telebench export``.

Examples
--------
>>> from click.testing import CliRunner
>>> out = CliRunner().invoke(calc_group, ["trips", "--help"]).output
>>> "--min-duration" in out and "ended_by" in out
True
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click
import polars as pl

from telebench.calc import (
    FORMATS,
    Counters,
    Geofences,
    export,
    geofence_events,
    geofence_visits,
    parkings,
    stops,
    trips,
)
from telebench.errors import TelebenchError
from telebench.store.dataset import MessageDataset
from telebench.store.registry import DeviceRegistry

__all__ = ["calc_group", "export_command"]

F = TypeVar("F", bound=Callable[..., Any])
_FIELDS: Final = [
    "position.latitude", "position.longitude", "position.speed",
    "engine.ignition.status", "movement.status", "vehicle.mileage",
]  # fmt: skip
_OUTPUT: Final = """\b
Output columns: ident, begin, end (UNIX s, device time), duration (s), active (still open
at the end of the data), ended_by (why it ended: ignition off, gap, inactive, end of data...),
then counters."""


def _time(text: str | None) -> float | None:
    """UNIX seconds or an ISO 8601 date/time (UTC unless it says otherwise)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: not UNIX seconds nor ISO 8601") from exc
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()


def _common(fn: F) -> F:
    opts = [
        click.option("--store", required=True, type=click.Path(file_okay=False, path_type=Path),
                     help="Hub store directory (as given to 'telebench hub --store')."),
        click.option("--ident", "idents", multiple=True, help="Device ident (repeatable)."),
        click.option("--selector", help="Device selector, e.g. 'metadata.fleet=north' "
                     "(see 'telebench devices --help')."),
        click.option("--begin", help="From (UNIX s or ISO 8601, inclusive)."),
        click.option("--end", help="To (UNIX s or ISO 8601, inclusive)."),
        click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
                     help="Output Parquet file."),
    ]  # fmt: skip
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _messages(store: Path, idents: tuple[str, ...], selector: str | None, begin: str | None,
              end: str | None, extra: list[str] | None = None) -> pl.LazyFrame:  # fmt: skip
    wanted: list[str] | None = list(idents) or None
    if selector:
        with DeviceRegistry(store / "devices.sqlite") as reg:
            wanted = [*(wanted or []), *(d.ident for d in reg.select(selector))]
    fields = [*_FIELDS, *(extra or [])]
    return MessageDataset(store).scan(wanted, begin=_time(begin), end=_time(end), fields=fields)


def _write(frame: pl.LazyFrame, out: Path, what: str) -> None:
    df = frame.collect()
    out.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(out)
    click.echo(f"{df.height} {what} -> {out}")


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(1)


@click.group(name="calc", epilog=_OUTPUT)
def calc_group() -> None:
    """Trips, parkings, stops and geofence visits from the messages of a hub store.

    \b
    Examples:
      telebench calc trips --store hub --out trips.parquet
      telebench calc parkings --store hub --ident 356307042441013 --begin 2026-11-30 \\
          --out parkings.parquet
      telebench calc stops --store hub --max-diameter 80 --min-duration 600 --out stops.parquet
      telebench calc geofences --store hub --geofences zones.geojson --out visits.parquet
      telebench export --format gpx --input trips.parquet --out trips.gpx
    """


@calc_group.command(name="trips", epilog=_OUTPUT)
@_common
@click.option(
    "--max-gap",
    type=float,
    default=300.0,
    show_default=True,
    help="A silence longer than this (s) ends a trip (ended_by=gap).",
)
@click.option(
    "--min-duration",
    type=float,
    default=0.0,
    show_default=True,
    help="Drop trips shorter than this (s); 0 keeps a van moved a few doors down.",
)
@click.option(
    "--min-distance",
    type=float,
    default=0.0,
    show_default=True,
    help="Drop trips shorter than this (km).",
)
@click.option(
    "--min-stop",
    type=float,
    default=0.0,
    show_default=True,
    help="A stop shorter than this (s) does not split a trip.",
)
@click.option(
    "--route/--no-route",
    default=True,
    show_default=True,
    help="Add the track as a WKT LINESTRING (needed for GPX/KML lines).",
)
def trips_command(store: Path, idents: tuple[str, ...], selector: str | None, begin: str | None,
                  end: str | None, out: Path, max_gap: float, min_duration: float,
                  min_distance: float, min_stop: float, route: bool) -> None:  # fmt: skip
    """Trips: ignition on (or speed > 3 km/h where there is no ignition) until off.

    Distance (km) is the odometer difference where vehicle.mileage is reported, else the
    haversine sum with GPS jumps removed.
    """
    try:
        msgs = _messages(store, idents, selector, begin, end)
        c = Counters(distance="auto", route=route)
        frame = trips(msgs, max_messages_time_diff=max_gap, min_duration=min_duration,
                      min_distance=min_distance, min_off_duration=min_stop, counters=c)  # fmt: skip
        _write(frame, out, "trips")
    except TelebenchError as exc:
        _fail(exc)


@calc_group.command(name="parkings", epilog=_OUTPUT)
@_common
@click.option(
    "--min-duration",
    type=float,
    default=60.0,
    show_default=True,
    help="Drop parkings shorter than this (s).",
)
def parkings_command(store: Path, idents: tuple[str, ...], selector: str | None,
                     begin: str | None, end: str | None, out: Path,
                     min_duration: float) -> None:  # fmt: skip
    """Parkings: ignition off (or stopped) until the next trip; gaps do not split them."""
    try:
        frame = parkings(_messages(store, idents, selector, begin, end), min_duration=min_duration)
        _write(frame, out, "parkings")
    except TelebenchError as exc:
        _fail(exc)


@calc_group.command(name="stops", epilog=_OUTPUT)
@_common
@click.option(
    "--max-diameter",
    type=float,
    default=100.0,
    show_default=True,
    help="All fixes of a stop fit in a box this wide (m).",
)
@click.option(
    "--min-duration",
    type=float,
    default=300.0,
    show_default=True,
    help="A stop lasts at least this long (s).",
)
def stops_command(store: Path, idents: tuple[str, ...], selector: str | None, begin: str | None,
                  end: str | None, out: Path, max_diameter: float,
                  min_duration: float) -> None:  # fmt: skip
    """Stops from positions alone (for trackers without ignition): stays within a diameter."""
    try:
        frame = stops(_messages(store, idents, selector, begin, end),
                      max_diameter=max_diameter, min_duration=min_duration)  # fmt: skip
        _write(frame, out, "stops")
    except TelebenchError as exc:
        _fail(exc)


@calc_group.command(name="geofences")
@_common
@click.option(
    "--geofences",
    "fence_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GeoJSON: polygons; Points with a 'radius' (m); LineStrings with 'width' (m).",
)
@click.option(
    "--min-dwell",
    type=float,
    default=10.0,
    show_default=True,
    help="Debounce: ignore visits and outside blips shorter than this (s).",
)
@click.option(
    "--min-fixes",
    type=int,
    default=1,
    show_default=True,
    help="Debounce: ignore visits and outside blips of fewer fixes.",
)
@click.option("--events", is_flag=True, help="Write enter/exit events instead of visits.")
def geofences_command(store: Path, idents: tuple[str, ...], selector: str | None,
                      begin: str | None, end: str | None, out: Path, fence_file: Path,
                      min_dwell: float, min_fixes: int, events: bool) -> None:  # fmt: skip
    """Geofence visits (ident, geofence, begin, end, duration, active, ended_by, fixes,
    crossing) on device time; a fence crossed between two sparse fixes is a visit with
    crossing=true and interpolated times."""
    try:
        fences = Geofences.from_geojson(fence_file)
        msgs = _messages(store, idents, selector, begin, end)
        fn = geofence_events if events else geofence_visits
        frame = fn(msgs, fences, min_dwell=min_dwell, min_fixes=min_fixes)
        _write(frame, out, "events" if events else "visits")
    except TelebenchError as exc:
        _fail(exc)


@click.command(name="export")
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(FORMATS),
    help="gpx (tracks/waypoints), kml (Google Earth) or geojson.",
)
@click.option(
    "--input",
    "source",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Parquet from 'telebench calc trips|parkings|stops'.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write.")  # fmt: skip
def export_command(fmt: str, source: Path, out: Path) -> None:
    """Export trips/parkings/stops to GPX, KML or GeoJSON (opens in GDAL, gpxpy, QGIS).

    Intervals with a route become lines/tracks, the others points (begin or centroid).

    \b
    Example:
      telebench calc trips --store hub --out trips.parquet
      telebench export --format kml --input trips.parquet --out trips.kml
    """
    try:
        n = export(pl.read_parquet(source), out, fmt)
    except TelebenchError as exc:
        _fail(exc)
    else:
        click.echo(f"{n} features -> {out}")
