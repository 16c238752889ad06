"""Simulation scenarios: fleet size, protocol mix, area, shifts, reporting rules, faults.

A scenario is a small TOML file (see ``data/scenarios/``); every key is optional::

    devices = 200
    duration = "1d"              # seconds, or "90s", "30m", "8h", "2d"
    start = 2026-01-05T00:00:00Z
    seed = 7
    osm = "roads.osm.pbf"        # relative to the TOML file; default: bundled Helsinki
    newest_first = false
    disconnect_rate = 0.5        # disconnects per device per hour (network layer)

    [protocol_mix]
    teltonika = 0.5
    wialon_ips = 0.3
    gt06 = 0.2

    [variants]                   # "transport[:codec or version]", picked round-robin
    teltonika = ["tcp:8", "tcp:8E", "udp:8E"]
    wialon_ips = ["tcp:2.0", "tcp:1.1"]

    [shift]                      # ShiftPattern fields
    [report]                     # ReportRules fields
    [faults]                     # bad_crc, garbage, slow: rates in [0, 1]

Examples
--------
>>> s = Scenario(devices=3, duration=3600)
>>> s.variants["teltonika"][0]
('tcp', {'codec': 8})
>>> parse_duration("1.5h")
5400
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from telebench.errors import ConfigError
from telebench.protocols import PROTOCOLS

__all__ = [
    "DEFAULT_VARIANTS",
    "Faults",
    "ReportRules",
    "Scenario",
    "ShiftPattern",
    "load_scenario",
    "parse_duration",
    "parse_variant",
]

Variant = tuple[str, dict[str, object]]

_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIM_PROTOCOLS: Final = ("teltonika", "wialon_ips", "gt06")
_CODECS: Final = {"8": 0x08, "8e": 0x8E}
_VERSIONS: Final = ("1.1", "2.0")
DEFAULT_VARIANTS: Final[dict[str, tuple[str, ...]]] = {
    "teltonika": ("tcp:8", "tcp:8E", "udp:8E"),
    "wialon_ips": ("tcp:2.0", "tcp:1.1"),
    "gt06": ("tcp",),
}


@dataclass(frozen=True)
class ShiftPattern:
    """When vehicles work and how they stop (hours are UTC hours of the day)."""

    start_hour: float = 7.0
    hours: float = 9.0
    jitter_minutes: float = 45.0
    delivery_minutes: tuple[float, float] = (3.0, 15.0)  # ignition off at a stop
    stop_probability: float = 0.3  # a short halt with the engine idling instead
    stop_seconds: tuple[float, float] = (20.0, 180.0)
    long_haul: bool = False  # far destinations instead of a local round


@dataclass(frozen=True)
class ReportRules:
    """Teltonika-style recording: whichever of period, distance, angle comes first."""

    period_s: int = 30
    distance_m: float = 300.0
    angle_deg: float = 15.0
    parked_period_s: int = 600


@dataclass(frozen=True)
class Faults:
    """Fault injection rates in [0, 1], applied by the network layer."""

    bad_crc: float = 0.0
    garbage: float = 0.0
    slow: float = 0.0


def _default_mix() -> dict[str, float]:
    return {"teltonika": 0.5, "wialon_ips": 0.3, "gt06": 0.2}


def _default_variants() -> dict[str, list[Variant]]:
    return {p: [parse_variant(p, v) for v in vs] for p, vs in DEFAULT_VARIANTS.items()}


@dataclass
class Scenario:
    """Everything a fleet simulation needs; validated on construction."""

    devices: int = 200
    duration: int = 86400
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 5, tzinfo=UTC))
    protocol_mix: dict[str, float] = field(default_factory=_default_mix)
    variants: dict[str, list[Variant]] = field(default_factory=_default_variants)
    osm: Path | None = None
    shift: ShiftPattern = field(default_factory=ShiftPattern)
    report: ReportRules = field(default_factory=ReportRules)
    disconnect_rate: float = 0.0
    faults: Faults = field(default_factory=Faults)
    newest_first: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.devices < 1:
            raise ConfigError(f"scenario devices must be >= 1, got {self.devices}")
        if self.duration < 1:
            raise ConfigError(f"scenario duration must be >= 1 s, got {self.duration}")
        if self.start.tzinfo is None:
            raise ConfigError(f"scenario start {self.start} needs a UTC offset (e.g. ...Z)")
        _check_mix(self.protocol_mix)
        for proto in self.protocol_mix:
            self.variants.setdefault(proto, _default_variants()[proto])
            if not self.variants[proto]:
                raise ConfigError(f"scenario variants.{proto} is empty")
        for name in ("bad_crc", "garbage", "slow"):
            _check_rate(f"faults.{name}", getattr(self.faults, name))
        if self.disconnect_rate < 0:
            raise ConfigError(f"disconnect_rate must be >= 0, got {self.disconnect_rate}")
        if self.report.period_s < 1 or self.report.parked_period_s < 1:
            raise ConfigError("report.period_s and report.parked_period_s must be >= 1")

    @property
    def start_time(self) -> float:
        """UNIX seconds of simulated t = 0."""
        return self.start.timestamp()


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"scenario {name} must be in [0, 1], got {value}")


def _check_mix(mix: dict[str, float]) -> None:
    if not mix:
        raise ConfigError("scenario protocol_mix is empty")
    for proto, share in mix.items():
        if proto not in _SIM_PROTOCOLS:
            known = ", ".join(_SIM_PROTOCOLS)
            raise ConfigError(f"protocol_mix: unknown protocol {proto!r}; known: {known}")
        if share < 0:
            raise ConfigError(f"protocol_mix.{proto} must be >= 0, got {share}")
    if sum(mix.values()) <= 0:
        raise ConfigError("protocol_mix shares sum to 0")


def parse_variant(protocol: str, text: str) -> Variant:
    """``"udp:8E"`` -> ``("udp", {"codec": 0x8E})``; ``"tcp:1.1"`` -> Wialon IPS 1.1.

    Examples
    --------
    >>> parse_variant("teltonika", "udp:8E")
    ('udp', {'codec': 142})
    >>> parse_variant("wialon_ips", "tcp:1.1")
    ('tcp', {'version': '1.1'})
    """
    transport, _, opt = text.partition(":")
    if protocol not in PROTOCOLS or transport not in PROTOCOLS[protocol]:
        raise ConfigError(f"variant {text!r}: {protocol} cannot run over {transport!r}")
    if protocol == "teltonika":
        codec = _CODECS.get((opt or "8e").lower())
        if codec is None:
            raise ConfigError(f"variant {text!r}: teltonika codec must be 8 or 8E")
        return transport, {"codec": codec}
    if protocol == "wialon_ips":
        version = opt or "2.0"
        if version not in _VERSIONS:
            raise ConfigError(f"variant {text!r}: wialon_ips version must be 1.1 or 2.0")
        return transport, {"version": version}
    if opt:
        raise ConfigError(f"variant {text!r}: {protocol} takes no option")
    return transport, {}


def parse_duration(value: object) -> int:
    """Seconds from an int or a string with a unit (``s``, ``m``, ``h``, ``d``).

    Examples
    --------
    >>> parse_duration(90), parse_duration("30m"), parse_duration("2d")
    (90, 1800, 172800)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value:
        unit = value[-1].lower()
        number = value[:-1] if unit in _UNITS else value
        try:
            return round(float(number) * _UNITS.get(unit, 1))
        except ValueError:
            pass
    raise ConfigError(f"duration {value!r} is not seconds or a number with s/m/h/d")


def _section(cls: type[Any], data: object, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [{cls.__name__}] section must be a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _scenario_kwargs(data: dict[str, Any], base: Path) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for key in ("devices", "seed", "disconnect_rate", "newest_first"):
        if key in data:
            kw[key] = data.pop(key)
    if "duration" in data:
        kw["duration"] = parse_duration(data.pop("duration"))
    if "start" in data:
        start = data.pop("start")
        if not isinstance(start, datetime):
            raise ConfigError(f"start {start!r} must be a TOML datetime like 2026-01-05T00:00Z")
        kw["start"] = start
    if "osm" in data:
        kw["osm"] = base / str(data.pop("osm"))
    if "protocol_mix" in data:
        kw["protocol_mix"] = {str(k): float(v) for k, v in data.pop("protocol_mix").items()}
    if "variants" in data:
        raw = data.pop("variants")
        kw["variants"] = {p: [parse_variant(p, str(v)) for v in vs] for p, vs in raw.items()}
    sections = {"shift": ShiftPattern, "report": ReportRules, "faults": Faults}
    for key, cls in sections.items():
        if key in data:
            kw[key] = _section(cls, data.pop(key), key)
    return kw


def load_scenario(path: Path) -> Scenario:
    """Read a scenario TOML file; ``ConfigError`` names the file and the bad key.

    Examples
    --------
    >>> from pathlib import Path
    >>> s = load_scenario(Path("data/scenarios/city-delivery.toml"))
    >>> s.devices > 0
    True
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"scenario file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario file {path}: invalid TOML: {exc}") from exc
    try:
        kwargs = _scenario_kwargs(data, path.parent)
        if data:
            raise ConfigError(f"unknown keys {sorted(data)}")
        return Scenario(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"scenario file {path}: {exc}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"scenario file {path}: bad value: {exc}") from exc
