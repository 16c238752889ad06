"""Geofence shapes: polygons, circles and corridors in longitude/latitude, and loaders.

Circles (centre + radius m) and corridors (line + width m) are buffered in a local metric
plane around the shape, then turned back into lon/lat polygons, so every fence is one
shapely polygon and point tests are plain ``contains_xy``.

GeoJSON conventions: a ``Polygon``/``MultiPolygon`` feature is a polygon; a ``Point`` with a
``radius`` property (m) is a circle; a ``LineString`` with a ``width`` property (m, full
width) is a corridor. The name is ``properties.name`` (else ``geofence-<i>``).

Examples
--------
>>> f = Geofences.from_geojson({"type": "FeatureCollection", "features": [
...     {"type": "Feature", "properties": {"name": "depot", "radius": 100},
...      "geometry": {"type": "Point", "coordinates": [1.52, 42.5]}}]})
>>> f.names, round(float(shapely.area(f.geoms[0]) * 111195**2 * 0.737) / 100)
(('depot',), 314)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from telebench.errors import ConfigError

__all__ = ["Geofences", "circle", "corridor"]

_M_PER_DEG = 111_195.0


def _metric(geom: Any, fn: Any) -> Any:
    """Apply ``fn`` to ``geom`` in a local metric plane centred on it, back to lon/lat."""
    c = shapely.centroid(geom)
    lon0, lat0 = float(shapely.get_x(c)), float(shapely.get_y(c))
    k = np.cos(np.radians(lat0)) * _M_PER_DEG

    def to_m(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.column_stack(((xy[:, 0] - lon0) * k, (xy[:, 1] - lat0) * _M_PER_DEG))

    def to_deg(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.column_stack((xy[:, 0] / k + lon0, xy[:, 1] / _M_PER_DEG + lat0))

    return shapely.transform(fn(shapely.transform(geom, to_m)), to_deg)


def circle(lat: float, lon: float, radius: float) -> Any:
    """A circle of ``radius`` metres as a 64-sided lon/lat polygon (area error < 0.2%).

    >>> round(shapely.bounds(circle(0.0, 0.0, 1000.0))[3] * 111195)
    1000
    """
    if radius <= 0 or not (np.isfinite(lat) and np.isfinite(lon)):
        raise ConfigError(
            f"circle needs a finite centre and radius > 0 m, got {lat}, {lon}, {radius}"
        )
    return _metric(shapely.Point(lon, lat), lambda g: shapely.buffer(g, radius, quad_segs=16))


def corridor(coords: Sequence[Sequence[float]], width: float) -> Any:
    """A corridor ``width`` metres wide (full width) along ``[(lon, lat), ...]``."""
    if width <= 0 or len(coords) < 2:
        raise ConfigError(f"corridor needs >= 2 points and width > 0 m, got {len(coords)}, {width}")
    return _metric(shapely.LineString(coords), lambda g: shapely.buffer(g, width / 2, quad_segs=8))


@dataclass(frozen=True)
class Geofences:
    """Named lon/lat polygons (prepared for fast repeated tests)."""

    names: tuple[str, ...]
    geoms: npt.NDArray[np.object_]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.geoms):
            raise ConfigError("geofence names and geometries differ in length")
        if len(set(self.names)) != len(self.names):
            raise ConfigError("geofence names must be unique")
        shapely.prepare(self.geoms)

    @classmethod
    def from_shapes(cls, shapes: Mapping[str, Any]) -> Geofences:
        """From ``{name: shapely polygon}`` (lon/lat)."""
        geoms = np.array(list(shapes.values()), dtype=object)
        bad = [n for n, g in shapes.items() if shapely.get_type_id(g) not in (3, 6)]
        if bad:
            raise ConfigError(f"geofences {bad[:5]} are not polygons (use circle()/corridor())")
        box = shapely.bounds(geoms)
        empty = [n for n, b in zip(shapes, box, strict=True) if not np.isfinite(b).all()]
        if empty:
            raise ConfigError(f"geofences {empty[:5]} are empty or have non-finite coordinates")
        return cls(tuple(shapes), geoms)

    @classmethod
    def from_geojson(cls, source: str | Path | Mapping[str, Any]) -> Geofences:
        """From a GeoJSON FeatureCollection (file path or parsed dict; module conventions)."""
        data = source if isinstance(source, Mapping) else _read_json(Path(source))
        feats = data.get("features")
        if not isinstance(feats, list):
            raise ConfigError(f"geofences {source!s:.80}: not a GeoJSON FeatureCollection")
        shapes = {}
        for i, feat in enumerate(feats):
            props = feat.get("properties") or {}
            geom = shapely.geometry.shape(feat.get("geometry") or {})
            shapes[str(props.get("name", f"geofence-{i}"))] = _fence(geom, props, i)
        return cls.from_shapes(shapes)

    @classmethod
    def from_geodataframe(cls, gdf: Any, name: str = "name") -> Geofences:
        """From a GeoDataFrame (reprojected to EPSG:4326; optional ``radius``/``width``)."""
        if gdf.crs is not None:
            gdf = gdf.to_crs(4326)
        names = gdf[name] if name in gdf.columns else [f"geofence-{i}" for i in range(len(gdf))]
        props = gdf.drop(columns=gdf.geometry.name).to_dict("records")
        rows = zip(names, gdf.geometry, props, strict=True)
        return cls.from_shapes({str(n): _fence(g, p, i) for i, (n, g, p) in enumerate(rows)})

    def bounds(self) -> npt.NDArray[np.float64]:
        """``(F, 4)`` array of minx, miny, maxx, maxy."""
        return np.asarray(shapely.bounds(self.geoms), dtype=np.float64)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"geofence file {path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"geofence file {path}: invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"geofence file {path} is not a GeoJSON object")
    return data


def _fence(geom: Any, props: Mapping[str, Any], i: int) -> Any:
    kind = shapely.get_type_id(geom)
    if kind in (3, 6):  # Polygon, MultiPolygon
        return geom
    if kind == 0 and props.get("radius"):
        return circle(shapely.get_y(geom), shapely.get_x(geom), float(props["radius"]))
    if kind == 1 and props.get("width"):
        return corridor(shapely.get_coordinates(geom).tolist(), float(props["width"]))
    raise ConfigError(
        f"geofence {i}: a {geom.geom_type} needs a 'radius' (Point) or 'width' (LineString)"
    )
