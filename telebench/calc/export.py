"""Trips and parkings to GPX (gpxpy), KML (simplekml) and GeoJSON.

Input is an interval frame from :func:`~telebench.calc.trips.trips` /
:func:`~telebench.calc.trips.parkings` (or :func:`~telebench.calc.trips.stops`). Intervals
with a ``route`` (WKT LINESTRING, ``Counters(route=True)``) become tracks/lines; the others
become a point at the begin position (``begin.latitude``) or centroid (``latitude``).
Every other column is kept as a property (GeoJSON), description (KML) or extension-free
text in the name/description (GPX).

Examples
--------
>>> import json, tempfile, pathlib
>>> import polars as pl
>>> iv = pl.DataFrame({"ident": ["a"], "begin": [0.0], "end": [60.0], "duration": [60.0],
...                    "route": ["LINESTRING (1.5 42.5, 1.51 42.51)"]})
>>> out = pathlib.Path(tempfile.mkdtemp()) / "t.geojson"
>>> export(iv, out, "geojson")
1
>>> json.loads(out.read_text())["features"][0]["geometry"]["type"]
'LineString'
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Final

import gpxpy.gpx
import polars as pl
import shapely
import simplekml

from telebench.errors import ConfigError, SchemaError

__all__ = ["FORMATS", "export"]

FORMATS: Final = ("gpx", "kml", "geojson")


def _geometries(iv: pl.DataFrame) -> list[Any]:
    """A shapely geometry per interval (None when there is no position at all)."""
    if "route" in iv.columns:
        return list(shapely.from_wkt(iv.get_column("route").to_numpy()))
    for lat, lon in (("begin.latitude", "begin.longitude"), ("latitude", "longitude")):
        if lat in iv.columns and lon in iv.columns:
            xs, ys = iv.get_column(lon).to_numpy(), iv.get_column(lat).to_numpy()
            return [
                shapely.Point(x, y) if x == x and y == y else None
                for x, y in zip(xs, ys, strict=True)
            ]
    raise SchemaError("intervals need a 'route' or begin/centroid position columns to export")


def _props(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "route"}


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


def export(intervals: pl.DataFrame | pl.LazyFrame, path: str | Path, fmt: str) -> int:
    """Write ``intervals`` to ``path`` as ``fmt`` (gpx, kml, geojson); returns features written."""
    if fmt not in FORMATS:
        raise ConfigError(f"export format must be one of {FORMATS}, not {fmt!r}")
    iv = intervals.collect() if isinstance(intervals, pl.LazyFrame) else intervals
    missing = [c for c in ("ident", "begin", "end") if c not in iv.columns]
    if missing:
        raise SchemaError(f"intervals lack column(s) {missing}")
    geoms, rows = _geometries(iv), iv.to_dicts()
    feats = [(g, r) for g, r in zip(geoms, rows, strict=True) if g is not None and not g.is_empty]
    writer = {"gpx": _gpx, "kml": _kml, "geojson": _geojson}[fmt]
    Path(path).write_text(writer(feats), encoding="utf-8")
    return len(feats)


def _name(r: dict[str, Any]) -> str:
    return f"{r['ident']} {_iso(r['begin'])} .. {_iso(r['end'])}"


def _geojson(feats: list[tuple[Any, dict[str, Any]]]) -> str:
    out = [
        {"type": "Feature", "geometry": shapely.geometry.mapping(g), "properties": _props(r)}
        for g, r in feats
    ]
    return json.dumps({"type": "FeatureCollection", "features": out}, default=str)


def _gpx(feats: list[tuple[Any, dict[str, Any]]]) -> str:
    doc = gpxpy.gpx.GPX()
    doc.creator = "telebench"
    for g, r in feats:
        desc = json.dumps(_props(r), default=str)
        if g.geom_type == "Point":
            doc.waypoints.append(gpxpy.gpx.GPXWaypoint(g.y, g.x, name=_name(r), description=desc))
            continue
        trk = gpxpy.gpx.GPXTrack(name=_name(r), description=desc)
        seg = gpxpy.gpx.GPXTrackSegment()
        seg.points.extend(gpxpy.gpx.GPXTrackPoint(y, x) for x, y in shapely.get_coordinates(g))
        trk.segments.append(seg)
        doc.tracks.append(trk)
    return str(doc.to_xml())


def _kml(feats: list[tuple[Any, dict[str, Any]]]) -> str:
    kml = simplekml.Kml(name="telebench intervals")
    for g, r in feats:
        coords = [tuple(c) for c in shapely.get_coordinates(g)]
        if g.geom_type == "Point":
            item = kml.newpoint(name=_name(r), coords=coords)
        else:
            item = kml.newlinestring(name=_name(r), coords=coords)
        item.description = json.dumps(_props(r), default=str)
        item.timespan.begin, item.timespan.end = _iso(r["begin"]), _iso(r["end"])
    return str(kml.kml())
