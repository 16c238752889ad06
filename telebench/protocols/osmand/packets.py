"""OsmAnd / Traccar Client positions: query-string and JSON forms (protocols.md §6).

Pure functions from an HTTP request's parts to one message. The query form
(``GET /?id=..&lat=..`` or a form-encoded POST body) carries speed in knots; the JSON form of
Traccar Client >= 9 carries ``coords.speed`` in m/s. Keys the registry does not name become
``custom.<key>`` (numbers as float, ``true``/``false`` as bool, else text), as traccar keeps
them as attributes.

Examples
--------
>>> msg = parse_query("id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=10&batt=87")
>>> msg["ident"], msg["timestamp"], msg["position.speed"], msg["battery.level"]
('123456', 1377177267.0, 18.52, 87.0)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Final
from urllib.parse import parse_qsl, urlencode

from telebench.errors import MalformedPacketError
from telebench.model import Message, Value
from telebench.params import custom_name

__all__ = [
    "KNOT_KMH",
    "MS_KMH",
    "build_query",
    "parse_json",
    "parse_query",
    "parse_request",
    "parse_timestamp",
]

PROTOCOL: Final = "osmand"
#: One knot in km/h (exact, by definition of the nautical mile).
KNOT_KMH: Final = 1.852
#: One metre per second in km/h.
MS_KMH: Final = 3.6
#: Timestamps at or above this are milliseconds (traccar's rule).
_MS_THRESHOLD: Final = 2**31 - 1


def _fail(reason: str, field: str, text: str = "") -> MalformedPacketError:
    where = f" ({field}={text!r})" if text else f" ({field})"
    return MalformedPacketError(PROTOCOL, reason + where)


def _number(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _fail("not a number", key, text) from None
    if not math.isfinite(value):
        raise _fail("not a finite number", key, text)
    return value


def parse_timestamp(text: str) -> float:
    """UNIX seconds from seconds, milliseconds, ISO-8601 or ``yyyy-MM-dd HH:mm:ss`` (UTC).

    Examples
    --------
    >>> parse_timestamp("1442068686579"), parse_timestamp("2016-01-27T18:55:47Z")
    (1442068686.579, 1453920947.0)
    """
    stripped = text.strip()
    try:
        number = float(stripped)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise _fail("not a finite timestamp", "timestamp", text)
        return number / 1000 if number >= _MS_THRESHOLD else number
    try:
        parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        raise _fail("unrecognised timestamp", "timestamp", text) from None
    if parsed.tzinfo is None:  # traccar reads naive times as UTC
        return parsed.replace(tzinfo=UTC).timestamp()
    return parsed.timestamp()


def _boolean(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _fail("not a boolean", key, text)


def _attribute(text: str) -> Value:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _location(msg: Message, key: str, text: str) -> None:
    lat, sep, lon = text.partition(",")
    if not sep:
        raise _fail("expected 'lat,lon'", key, text)
    msg["position.latitude"] = _number(key, lat)
    msg["position.longitude"] = _number(key, lon)


_Setter = Callable[[Message, str, str], None]


def _num_to(name: str, factor: float = 1.0) -> _Setter:
    def setter(msg: Message, key: str, text: str) -> None:
        value = _number(key, text)
        msg[name] = value * factor if factor != 1.0 else value

    return setter


def _bool_to(name: str) -> _Setter:
    def setter(msg: Message, key: str, text: str) -> None:
        msg[name] = _boolean(key, text)

    return setter


def _ident(msg: Message, key: str, text: str) -> None:
    msg["ident"] = text


def _time(msg: Message, key: str, text: str) -> None:
    msg["timestamp"] = parse_timestamp(text)


#: Query keys -> how they become parameters (traccar's OsmAnd decoder names).
_QUERY_FIELDS: Final[Mapping[str, _Setter]] = {
    "id": _ident,
    "deviceid": _ident,
    "timestamp": _time,
    "lat": _num_to("position.latitude"),
    "lon": _num_to("position.longitude"),
    "location": _location,
    "speed": _num_to("position.speed", KNOT_KMH),
    "bearing": _num_to("position.direction"),
    "heading": _num_to("position.direction"),
    "altitude": _num_to("position.altitude"),
    "accuracy": _num_to("position.accuracy"),
    "hdop": _num_to("position.hdop"),
    "batt": _num_to("battery.level"),
    "charge": _bool_to("battery.charging.status"),
    "valid": _bool_to("position.valid"),
    "ignition": _bool_to("engine.ignition.status"),
}


def parse_query(query: str | Mapping[str, str], *, ident: str | None = None) -> Message:
    """One message from a query string (or form body, or already-split pairs).

    Raises :class:`~telebench.errors.MalformedPacketError` naming the field when ``id`` is
    missing or a value cannot be read.

    Examples
    --------
    >>> parse_query("id=1&lat=1.5&lon=2&rpm=933&ignition=true")["custom.rpm"]
    933.0
    """
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else query.items()
    msg: Message = {}
    for key, text in pairs:
        setter = _QUERY_FIELDS.get(key)
        if setter is not None:
            setter(msg, key, text)
        else:
            msg[custom_name(key)] = _attribute(text)
    return _finish(msg, ident)


def _finish(msg: Message, ident: str | None) -> Message:
    if not msg.get("ident") and ident:
        msg["ident"] = ident
    if not msg.get("ident"):
        raise _fail("device id missing", "id / deviceid / device_id")
    if "position.latitude" in msg and "position.longitude" in msg:
        msg.setdefault("position.valid", True)
    return msg


def _json_number(obj: Mapping[str, object], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail("not a number", key, str(value))
    return float(value)


def _json_coords(msg: Message, coords: Mapping[str, object]) -> None:
    for key, name, factor in (
        ("latitude", "position.latitude", 1.0),
        ("longitude", "position.longitude", 1.0),
        ("accuracy", "position.accuracy", 1.0),
        ("altitude", "position.altitude", 1.0),
        ("speed", "position.speed", MS_KMH),
        ("heading", "position.direction", 1.0),
    ):
        value = _json_number(coords, key)
        # Negative speed and heading mean "unknown" in Traccar Client.
        if value is None or (value < 0 and key in ("speed", "heading")):
            continue
        msg[name] = value * factor if factor != 1.0 else value


def _json_battery(msg: Message, battery: Mapping[str, object]) -> None:
    level = _json_number(battery, "level")
    if level is not None and level >= 0:
        msg["battery.level"] = round(level * 100, 6)
    charging = battery.get("is_charging")
    if isinstance(charging, bool):
        msg["battery.charging.status"] = charging


def _mapping(value: object, key: str) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail("expected a JSON object", key)
    return value


def _json_extras(msg: Message, location: Mapping[str, object]) -> None:
    moving = location.get("is_moving")
    if isinstance(moving, bool):
        msg["movement.status"] = moving
    odometer = _json_number(location, "odometer")
    if odometer is not None:
        msg["vehicle.mileage"] = odometer / 1000
    if isinstance(location.get("event"), str):
        msg[custom_name("event")] = str(location["event"])
    activity = _mapping(location.get("activity"), "activity")
    if isinstance(activity.get("type"), str):
        msg[custom_name("activity")] = str(activity["type"])
    for key, value in _mapping(location.get("extras"), "extras").items():
        if isinstance(value, bool | int | float | str):
            msg[custom_name(key)] = float(value) if type(value) is int else value


def parse_json(body: bytes | str, *, ident: str | None = None) -> Message:
    """One message from a Traccar Client JSON body (``{"location": {...}, "device_id": ..}``).

    Examples
    --------
    >>> body = '{"device_id": "77", "location": {"timestamp": "2021-07-21T08:06:34.444Z",'
    >>> body += ' "coords": {"latitude": 1.5, "longitude": 2.5, "speed": 10}}}'
    >>> m = parse_json(body)
    >>> m["ident"], m["timestamp"], m["position.speed"]
    ('77', 1626854794.444, 36.0)
    """
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(f"invalid JSON: {exc}", "body") from exc
    root = _mapping(doc, "body")
    location = _mapping(root.get("location"), "location")
    msg: Message = {}
    device = root.get("device_id")
    if isinstance(device, str | int) and not isinstance(device, bool):
        msg["ident"] = str(device)
    if isinstance(location.get("timestamp"), str | int | float):
        msg["timestamp"] = parse_timestamp(str(location["timestamp"]))
    _json_coords(msg, _mapping(location.get("coords"), "coords"))
    _json_battery(msg, _mapping(location.get("battery"), "battery"))
    _json_extras(msg, location)
    return _finish(msg, ident)


def parse_request(
    target: str, body: bytes, *, content_type: str = "", ident: str | None = None
) -> Message:
    """One message from an HTTP request's target, body and content type.

    A JSON body (by content type, or by its first character) is the Traccar Client 9 form;
    otherwise the query string and a form-encoded body are read together.

    Examples
    --------
    >>> parse_request("/?id=5&lat=1&lon=2", b"")["position.valid"]
    True
    >>> parse_request("/", b"id=5&speed=1", content_type="application/x-www-form-urlencoded")
    {'ident': '5', 'position.speed': 1.852}
    """
    if body and (content_type.lower().startswith("application/json") or body.lstrip()[:1] == b"{"):
        return parse_json(body, ident=ident)
    query = target.partition("?")[2]
    if body:
        form = body.decode("utf-8", errors="replace")
        query = f"{query}&{form}" if query else form
    return parse_query(query, ident=ident)


_REVERSE: Final[Mapping[str, tuple[str, float]]] = {
    "position.latitude": ("lat", 1.0),
    "position.longitude": ("lon", 1.0),
    "position.speed": ("speed", 1 / KNOT_KMH),
    "position.direction": ("bearing", 1.0),
    "position.altitude": ("altitude", 1.0),
    "position.accuracy": ("accuracy", 1.0),
    "position.hdop": ("hdop", 1.0),
    "battery.level": ("batt", 1.0),
}


def build_query(msg: Mapping[str, Value]) -> str:
    """The query string Traccar Client would send for ``msg`` (speed converted to knots).

    Examples
    --------
    >>> build_query({"ident": "1", "timestamp": 1377177267.0, "position.latitude": 60.0})
    'id=1&timestamp=1377177267.0&lat=60.0'
    """
    pairs: list[tuple[str, str]] = [("id", str(msg["ident"]))]
    if msg.get("timestamp") is not None:
        pairs.append(("timestamp", repr(msg["timestamp"])))
    for name, value in msg.items():
        if name in _REVERSE and isinstance(value, int | float):
            key, factor = _REVERSE[name]
            pairs.append((key, repr(value * factor if factor != 1.0 else value)))
        elif name.startswith("custom.") and value is not None:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            pairs.append((name.removeprefix("custom."), text))
        elif name == "engine.ignition.status":
            pairs.append(("ignition", str(value).lower()))
    return urlencode(pairs)
