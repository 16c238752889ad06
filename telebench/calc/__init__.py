"""Calculators: trips, parkings, stops, geofence visits and a flespi-style interval engine.

LazyFrame (or DataFrame) of messages with flespi column names in, LazyFrame out; no
row-wise Python. See :mod:`telebench.calc.intervals` for the model and ``ended_by`` values.

Examples
--------
>>> import polars as pl
>>> msgs = pl.DataFrame({"ident": "a", "timestamp": [0.0, 10, 20],
...                      "engine.ignition.status": [True, True, False]})
>>> intervals(msgs, Ignition()).collect().select("begin", "end", "ended_by").rows()
[(0.0, 10.0, 'ignition off')]
"""

from __future__ import annotations

from telebench.calc.counters import Counters
from telebench.calc.export import FORMATS, export
from telebench.calc.fences import Geofences, circle, corridor
from telebench.calc.geofence import InGeofence, geofence_events, geofence_visits
from telebench.calc.intervals import intervals
from telebench.calc.score import matches, score
from telebench.calc.selectors import (
    Calendar,
    Expression,
    Ignition,
    IgnitionOrSpeed,
    Inactive,
    Movement,
    Selector,
    Speed,
)
from telebench.calc.trips import parkings, stops, trips

__all__ = [
    "FORMATS",
    "Calendar",
    "Counters",
    "Expression",
    "Geofences",
    "Ignition",
    "IgnitionOrSpeed",
    "InGeofence",
    "Inactive",
    "Movement",
    "Selector",
    "Speed",
    "circle",
    "corridor",
    "export",
    "geofence_events",
    "geofence_visits",
    "intervals",
    "matches",
    "parkings",
    "score",
    "stops",
    "trips",
]
