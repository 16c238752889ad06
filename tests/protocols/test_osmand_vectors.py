"""OsmAnd conformance: every shared vector decoded to exact values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from telebench.errors import MalformedPacketError
from telebench.protocols import decode
from telebench.protocols.osmand.packets import KNOT_KMH, MS_KMH
from tests.vectors import payload_of, vector_params


def _epoch(utc: str) -> float:
    return datetime.fromisoformat(utc.replace("Z", "+00:00")).timestamp()


# expected key -> (message key, conversion from the vector's unit to the registry's)
_FIELDS = {
    "latitude": ("position.latitude", 1.0),
    "longitude": ("position.longitude", 1.0),
    "altitude": ("position.altitude", 1.0),
    "course": ("position.direction", 1.0),
    "hdop": ("position.hdop", 1.0),
    "accuracy_m": ("position.accuracy", 1.0),
    "batteryLevel": ("battery.level", 1.0),
    "speed_mps": ("position.speed", MS_KMH),
}


@pytest.mark.parametrize("vector", vector_params("osmand"))
def test_vector(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    payload = payload_of(vector)
    if expected["http_status"] != 200:
        with pytest.raises(MalformedPacketError, match="device id missing"):
            decode("osmand", payload)
        return
    [msg] = decode("osmand", payload)
    assert msg["ident"] == expected.get("id", expected.get("device_id"))
    if "time_utc" in expected:
        assert msg["timestamp"] == _epoch(expected["time_utc"])
    else:
        assert "timestamp" not in msg  # no device time: the hub stamps server time
    for key, (name, factor) in _FIELDS.items():
        if key in expected:
            # Wire values are decimal text; the product is the registry unit (km/h, %).
            assert msg[name] == pytest.approx(expected[key] * factor, rel=1e-12)
    if "speed_knots" in expected and "speed_mps" not in expected:
        assert msg["position.speed"] == pytest.approx(expected["speed_knots"] * KNOT_KMH)
    if "valid" in expected:
        assert msg["position.valid"] is expected["valid"]
    if "motion" in expected:
        assert msg["movement.status"] is expected["motion"]
    if "odometer" in expected:
        assert msg["vehicle.mileage"] == expected["odometer"] / 1000
    if "event" in expected:
        assert msg["custom.event"] == expected["event"]
    if "activity" in expected:
        assert msg["custom.activity"] == expected["activity"]
    for key, value in expected.get("attributes", {}).items():
        name = "engine.ignition.status" if key == "ignition" else f"custom.{key}"
        assert msg[name] == value
