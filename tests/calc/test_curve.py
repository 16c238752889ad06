"""Crossing times along the curved path between sparse fixes (speed and course known)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import shapely

from telebench.calc import Geofences, geofence_visits

M = 111_195.0  # metres a degree at the equator
R, DEPTH, V = 200.0, 30.0, 20.0  # a bend of 200 m radius pokes 30 m out of the fence; 20 m/s


def _bend(angles_deg: list[float]) -> pl.DataFrame:
    """Fixes on a circular road that leaves the fence y < 0 and comes back, at 72 km/h."""
    th = np.radians(np.array(angles_deg))
    x, y = R * np.sin(th), DEPTH - R + R * np.cos(th)
    course = np.degrees(np.arctan2(np.cos(th), -np.sin(th))) % 360
    return pl.DataFrame({
        "ident": "a", "timestamp": (th - th[0]) * R / V, "position.latitude": y / M,
        "position.longitude": x / M, "position.speed": V * 3.6, "position.direction": course,
    })  # fmt: skip


def test_an_exit_round_a_bend_is_timed_along_the_bend() -> None:
    fence = Geofences.from_shapes({"south": shapely.box(-0.01, -0.01, 0.01, 0.0)})
    msgs = _bend([-160, -120, -80, -40, 0, 40, 80, 120, 160])  # 140 m apart, one outside
    true_out = 2 * np.arccos((R - DEPTH) / R) * R / V  # 11.1 s outside
    visits = geofence_visits(msgs, fence).collect()
    assert visits.height == 2  # the exit lasts longer than min_dwell (10 s)
    gap = visits.item(1, "begin") - visits.item(0, "end")
    assert gap == pytest.approx(true_out, abs=0.5)
    # the straight chords cut the bend: about 2 s short, under min_dwell, so no exit
    chords = geofence_visits(msgs.drop("position.direction"), fence, min_dwell=0).collect()
    assert chords.item(1, "begin") - chords.item(0, "end") < true_out - 1.5
    assert geofence_visits(msgs.drop("position.direction"), fence).collect().height == 1


def test_a_straight_drive_keeps_the_chord() -> None:
    fence = Geofences.from_shapes({"box": shapely.box(0.0, -0.01, 0.01, 0.01)})
    east = pl.DataFrame({
        "ident": "a", "timestamp": [0.0, 10.0], "position.latitude": 0.0,
        "position.longitude": [-100 / M, 100 / M], "position.speed": 72.0,
        "position.direction": 90.0,
    })  # fmt: skip
    v = geofence_visits(east, fence, min_dwell=0).collect()
    assert v.item(0, "begin") == pytest.approx(5.0)
