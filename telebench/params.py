"""The parameter registry: every message parameter telebench knows, in flespi's words.

Messages are flat dicts keyed by flespi's dotted parameter names (``position.speed``,
``engine.ignition.status`` ...). Each :class:`Param` says its type and unit and, per
protocol, the raw field it comes from (:class:`Source`). Decoders build their tables from
this registry (the Teltonika IO table is derived from the ``AVL <id>`` sources below), the
CLI prints it (``telebench params``), and the store uses the types.

A raw value becomes a registry value as ``raw / divisor``; encoders do the inverse,
``round(value * divisor)``. Dividing by an integer (rather than multiplying by 0.001) keeps
the round trip exact: ``12345 / 1000 == 12.345`` and ``round(12.345 * 1000) == 12345``.

Fields a protocol sends that the registry does not name keep their raw value under a stable
name: ``custom.param.<AVL id>`` for Teltonika IO elements, ``custom.<name>`` for named
fields (Wialon IPS params, OsmAnd query keys), as flespi does.

Examples
--------
>>> p = PARAMS["external.powersource.voltage"]
>>> p.type, p.unit
('number', 'V')
>>> src = p.source("teltonika")
>>> src.field, src.divisor, src.size
('AVL 66', 1000, 2)
>>> [s.field for s in PARAMS["position.speed"].sources][:2]
['speed', 'speed']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "PARAMS",
    "Param",
    "ParamType",
    "Source",
    "custom_name",
    "teltonika_io_sources",
]

ParamType = Literal["boolean", "integer", "number", "string"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where a parameter comes from in one protocol.

    ``field`` names the raw field in the protocol's own words (``AVL 66``, ``hdop``,
    ``terminal info bit 1``); ``divisor`` scales the raw integer into the registry's unit;
    ``size`` is the raw width in bytes where the protocol fixes one; ``signed`` says whether
    the raw integer is two's complement.
    """

    protocol: str
    field: str
    divisor: int = 1
    size: int | None = None
    signed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One message parameter: flespi name, type, unit, meaning and per-protocol sources."""

    name: str
    type: ParamType
    unit: str | None
    description: str
    sources: tuple[Source, ...] = ()

    def source(self, protocol: str) -> Source | None:
        """The source of this parameter in ``protocol``, or ``None``.

        Examples
        --------
        >>> PARAMS["position.hdop"].source("wialon_ips").field
        'hdop'
        """
        for src in self.sources:
            if src.protocol == protocol:
                return src
        return None


def _p(name: str, type_: ParamType, unit: str | None, description: str, *src: Source) -> Param:
    return Param(name=name, type=type_, unit=unit, description=description, sources=src)


def _t(avl_id: int, size: int, divisor: int = 1, *, signed: bool = False) -> Source:
    """A Teltonika IO element source (protocols.md §3.10)."""
    return Source(
        protocol="teltonika", field=f"AVL {avl_id}", divisor=divisor, size=size, signed=signed
    )


def _s(protocol: str, field: str, divisor: int = 1) -> Source:
    return Source(protocol=protocol, field=field, divisor=divisor)


TEL, WIA, GT6, OSM = "teltonika", "wialon_ips", "gt06", "osmand"

_ALL: Final[tuple[Param, ...]] = (
    # --- identity and time -------------------------------------------------------------
    _p(
        "ident",
        "string",
        None,
        "Device identifier (IMEI or unique id)",
        _s(TEL, "IMEI (login message or UDP header)"),
        _s(WIA, "imei (#L# or UDP prefix)"),
        _s(GT6, "terminal ID (0x01 login, BCD)"),
        _s(OSM, "id / deviceid / device_id"),
    ),
    _p(
        "timestamp",
        "number",
        "s",
        "Device time of the message, UNIX seconds",
        _s(TEL, "timestamp (ms)", 1000),
        _s(WIA, "date;time"),
        _s(GT6, "date-time"),
        _s(OSM, "timestamp / location.timestamp"),
    ),
    _p("server.timestamp", "number", "s", "Time the hub received the message, UNIX seconds"),
    # --- position ----------------------------------------------------------------------
    _p(
        "position.latitude",
        "number",
        "°",
        "Latitude, WGS84, south negative",
        _s(TEL, "latitude (°×10⁷)", 10_000_000),
        _s(WIA, "lat1;lat2 (DDMM.MMMM;N/S)"),
        _s(GT6, "latitude (minutes×30000)", 1_800_000),
        _s(OSM, "lat"),
    ),
    _p(
        "position.longitude",
        "number",
        "°",
        "Longitude, WGS84, west negative",
        _s(TEL, "longitude (°×10⁷)", 10_000_000),
        _s(WIA, "lon1;lon2 (DDDMM.MMMM;E/W)"),
        _s(GT6, "longitude (minutes×30000)", 1_800_000),
        _s(OSM, "lon"),
    ),
    _p(
        "position.altitude",
        "number",
        "m",
        "Altitude above sea level",
        _s(TEL, "altitude"),
        _s(WIA, "height"),
        _s(OSM, "altitude"),
    ),
    _p(
        "position.speed",
        "number",
        "km/h",
        "Ground speed",
        _s(TEL, "speed"),
        _s(WIA, "speed"),
        _s(GT6, "speed"),
        _s(OSM, "speed (knots, or m/s in JSON)"),
    ),
    _p(
        "position.direction",
        "number",
        "°",
        "Course over ground, 0 = north, clockwise",
        _s(TEL, "angle"),
        _s(WIA, "course"),
        _s(GT6, "course/status bits 0-9"),
        _s(OSM, "bearing / heading"),
    ),
    _p(
        "position.satellites",
        "integer",
        None,
        "Satellites used in the fix",
        _s(TEL, "satellites"),
        _s(WIA, "sats"),
        _s(GT6, "GPS info byte, low nibble"),
    ),
    _p(
        "position.hdop",
        "number",
        None,
        "Horizontal dilution of precision",
        _t(182, 2, 10),
        _s(WIA, "hdop"),
        _s(OSM, "hdop"),
    ),
    _p("position.pdop", "number", None, "Position dilution of precision", _t(181, 2, 10)),
    _p(
        "position.valid",
        "boolean",
        None,
        "The position comes from a valid fix",
        _s(TEL, "satellites > 0"),
        _s(WIA, "coordinates present"),
        _s(GT6, "course/status bit 12 (positioned)"),
        _s(OSM, "valid"),
    ),
    _p(
        "position.accuracy",
        "number",
        "m",
        "Horizontal accuracy radius",
        _s(OSM, "accuracy / coords.accuracy"),
    ),
    _p("gnss.speed", "number", "km/h", "GNSS speed IO element", _t(24, 2)),
    _p(
        "gnss.state.enum",
        "integer",
        None,
        "GNSS state: 0 off, 1 on with fix, 2 on without fix, 3 sleep",
        _t(69, 1),
    ),
    # --- events ------------------------------------------------------------------------
    _p(
        "event.priority.enum",
        "integer",
        None,
        "Record priority: 0 low, 1 high, 2 panic",
        _s(TEL, "priority"),
    ),
    _p(
        "event.enum",
        "integer",
        None,
        "IO element that triggered the record (0 = periodic)",
        _s(TEL, "event IO ID"),
    ),
    _p(
        "event.generation.enum",
        "integer",
        None,
        "Codec 16 generation type: 0 on exit ... 7 periodical",
        _s(TEL, "generation type"),
    ),
    _p(
        "alarm.event",
        "boolean",
        None,
        "An alarm is raised in this message",
        _s(GT6, "alarm byte != 0 (0x16/0x26)"),
        _s(WIA, "param SOS"),
    ),
    _p(
        "alarm.type",
        "integer",
        None,
        "Alarm code: 1 SOS, 2 power cut, 3 shock, 4 fence in, 5 fence out",
        _s(GT6, "alarm byte"),
    ),
    _p(
        "device.status.enum",
        "integer",
        None,
        "Terminal alarm bits: 4 SOS, 3 low battery, 2 power cut, 1 shock, 0 normal",
        _s(GT6, "terminal info bits 3-5"),
    ),
    _p(
        "message.buffered.status",
        "boolean",
        None,
        "Re-uploaded (black-box) record",
        _s(GT6, "0x22 GPS real-time/re-upload byte"),
    ),
    _p(
        "report.mode.enum",
        "integer",
        None,
        "Why the device reported (GT06 data upload mode)",
        _s(GT6, "0x22 data upload mode"),
    ),
    # --- engine, movement, vehicle ---------------------------------------------------------
    _p(
        "engine.ignition.status",
        "boolean",
        None,
        "Ignition (ACC) is on",
        _t(239, 1),
        _s(GT6, "terminal info bit 1 (ACC high)"),
        _s(OSM, "ignition"),
        _s(WIA, "param ign"),
    ),
    _p(
        "movement.status",
        "boolean",
        None,
        "The device detects movement",
        _t(240, 1),
        _s(OSM, "location.is_moving"),
    ),
    _p(
        "vehicle.mileage",
        "number",
        "km",
        "Total odometer",
        _t(16, 4, 1000),
        _s(GT6, "0x22 mileage (m)", 1000),
        _s(OSM, "odometer (m)", 1000),
        _s(WIA, "param odometer (km)"),
    ),
    _p("segment.vehicle.mileage", "number", "km", "Trip odometer", _t(199, 4, 1000)),
    _p("vehicle.vin", "string", None, "Vehicle identification number", _t(256, 17)),
    _p(
        "engine.blocked.status",
        "boolean",
        None,
        "Oil and electricity are cut",
        _s(GT6, "terminal info bit 7"),
    ),
    _p(
        "armed.status",
        "boolean",
        None,
        "Defence (alarm arming) is active",
        _s(GT6, "terminal info bit 0"),
    ),
    _p(
        "data.mode.enum",
        "integer",
        None,
        "0 home stop, 1 home moving, 2 roaming stop, 3 roaming moving, 4/5 unknown",
        _t(80, 1),
    ),
    _p(
        "sleep.mode.enum",
        "integer",
        None,
        "0 no sleep, 1 GPS, 2 deep, 3 online, 4 ultra",
        _t(200, 1),
    ),
    # --- power -----------------------------------------------------------------------------
    _p(
        "external.powersource.voltage",
        "number",
        "V",
        "External (vehicle) supply voltage",
        _t(66, 2, 1000),
        _s(WIA, "param pwr_ext"),
    ),
    _p(
        "battery.voltage",
        "number",
        "V",
        "Internal battery voltage",
        _t(67, 2, 1000),
        _s(WIA, "param pwr_int"),
    ),
    _p("battery.current", "number", "A", "Internal battery current", _t(68, 2, 1000)),
    _p(
        "battery.level",
        "number",
        "%",
        "Internal battery level",
        _t(113, 1),
        _s(OSM, "batt / battery.level×100"),
        _s(WIA, "param battery"),
    ),
    _p(
        "battery.level.enum",
        "integer",
        None,
        "Voltage level 0 (no power) .. 6 (very high)",
        _s(GT6, "voltage level"),
    ),
    _p(
        "battery.charging.status",
        "boolean",
        None,
        "The battery is charging",
        _s(GT6, "terminal info bit 2"),
        _s(OSM, "charge / battery.is_charging"),
    ),
    # --- GSM -------------------------------------------------------------------------------
    _p(
        "gsm.signal.level",
        "integer",
        None,
        "GSM signal level (0-5 Teltonika, 0-4 GT06)",
        _t(21, 1),
        _s(GT6, "GSM signal level"),
    ),
    _p("gsm.cellid", "integer", None, "GSM cell id", _t(205, 2), _s(GT6, "cell ID")),
    _p("gsm.lac", "integer", None, "GSM location area code", _t(206, 2), _s(GT6, "LAC")),
    _p("gsm.mcc", "integer", None, "Mobile country code", _s(GT6, "MCC")),
    _p("gsm.mnc", "integer", None, "Mobile network code", _s(GT6, "MNC")),
    _p("gsm.operator.code", "integer", None, "Active operator MCC+MNC", _t(241, 4)),
    _p("gsm.sim.iccid.1", "integer", None, "First half of the SIM ICCID", _t(11, 8)),
    _p("gsm.sim.iccid.2", "integer", None, "Second half of the SIM ICCID", _t(14, 8)),
    # --- inputs and outputs ----------------------------------------------------------------
    _p(
        "din",
        "integer",
        None,
        "Digital inputs bitmask (bit 0 = input 1)",
        _s(TEL, "digital inputs AVL 1-3 combined"),
        _s(WIA, "inputs"),
    ),
    _p("din.1", "boolean", None, "Digital input 1", _t(1, 1)),
    _p("din.2", "boolean", None, "Digital input 2", _t(2, 1)),
    _p("din.3", "boolean", None, "Digital input 3", _t(3, 1)),
    _p(
        "dout",
        "integer",
        None,
        "Digital outputs bitmask (bit 0 = output 1)",
        _s(TEL, "digital outputs AVL 179-180 combined"),
        _s(WIA, "outputs"),
    ),
    _p("dout.1", "boolean", None, "Digital output 1", _t(179, 1)),
    _p("dout.2", "boolean", None, "Digital output 2", _t(180, 1)),
    _p("ain.1", "number", "V", "Analog input 1", _t(9, 2, 1000), _s(WIA, "adc, 1st value")),
    _p("ain.2", "number", "V", "Analog input 2", _t(10, 2, 1000), _s(WIA, "adc, 2nd value")),
    _p("ain.3", "number", "V", "Analog input 3", _s(WIA, "adc, 3rd value")),
    _p("ibutton.code", "string", None, "Driver key (iButton) code", _s(WIA, "ibutton")),
    _p("driver.message", "string", None, "Text message from the driver", _s(WIA, "#M# text")),
    # --- sensors ---------------------------------------------------------------------------
    _p("x.acceleration", "number", "g", "Accelerometer X axis", _t(17, 2, 1000, signed=True)),
    _p("y.acceleration", "number", "g", "Accelerometer Y axis", _t(18, 2, 1000, signed=True)),
    _p("z.acceleration", "number", "g", "Accelerometer Z axis", _t(19, 2, 1000, signed=True)),
    _p(
        "sensor.temperature.1",
        "number",
        "°C",
        "Dallas temperature sensor 1",
        _t(72, 4, 10, signed=True),
    ),
    _p(
        "sensor.temperature.2",
        "number",
        "°C",
        "Dallas temperature sensor 2",
        _t(73, 4, 10, signed=True),
    ),
    _p(
        "sensor.temperature.3",
        "number",
        "°C",
        "Dallas temperature sensor 3",
        _t(74, 4, 10, signed=True),
    ),
    _p("ble.beacons.raw", "string", None, "Raw BLE beacon block (hex)", _t(385, 0)),
    # --- driving behaviour -----------------------------------------------------------------
    _p("trip.event", "integer", None, "Trip start/stop event", _t(250, 1)),
    _p("idling.event", "integer", None, "Idling event", _t(251, 1)),
    _p("unplug.event", "integer", None, "External power unplugged event", _t(252, 1)),
    _p("towing.event", "integer", None, "Towing event", _t(246, 1)),
    _p("crash.event", "integer", None, "Crash event", _t(247, 1)),
    _p("jamming.event", "integer", None, "GSM jamming event", _t(249, 1)),
    _p(
        "green.driving.type.enum",
        "integer",
        None,
        "1 acceleration, 2 braking, 3 cornering",
        _t(253, 1),
    ),
    _p("green.driving.value", "number", "g", "Harsh driving magnitude", _t(254, 1, 10)),
    _p("overspeeding.speed", "number", "km/h", "Speed at over-speeding event", _t(255, 1)),
    # --- integrity -------------------------------------------------------------------------
    _p(
        "checksum.valid",
        "boolean",
        None,
        "False when a frame with a bad CRC was accepted with a flag (absent when it was valid)",
    ),
)

PARAMS: Final[Mapping[str, Param]] = {p.name: p for p in _ALL}


def custom_name(raw_field: str) -> str:
    """The stable name of a raw field the registry does not know.

    Examples
    --------
    >>> custom_name("rpm")
    'custom.rpm'
    """
    return f"custom.{raw_field}"


def teltonika_io_sources() -> Iterator[tuple[int, Param, Source]]:
    """Every Teltonika IO element the registry names, as ``(AVL id, param, source)``.

    Examples
    --------
    >>> ids = {avl_id: p.name for avl_id, p, _ in teltonika_io_sources()}
    >>> ids[239], ids[66]
    ('engine.ignition.status', 'external.powersource.voltage')
    """
    for param in _ALL:
        for src in param.sources:
            if src.protocol == TEL and src.field.startswith("AVL "):
                yield int(src.field.removeprefix("AVL ")), param, src
