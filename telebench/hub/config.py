"""Hub configuration: where to store, which channels to listen on, which plugins to run.

A hub reads one TOML file (:func:`load_config`). Every key is optional; without any
``[[channel]]`` table the hub listens on :func:`default_channels` (Traccar's port numbers).
A relative ``store`` set in the file is resolved against the file's directory::

    store = "data/hub"            # DIR: devices.sqlite, wal/, messages/ ...
    flush_interval = 1.0          # s between WAL -> Parquet flushes
    compact_interval = 60.0       # s between compactions of small Parquet parts
    retention_interval = 3600.0   # s between runs of the per-device messages_ttl cleanup
    telemetry_interval = 30.0     # s between folds of new messages into telemetry
    daily_snapshots = true        # yesterday as snapshots/<ident>/<day>.json.gz
    logs_ttl = 2592000.0          # s the hub log is kept (30 days)
    fsync = true                  # fsync the WAL before acking devices
    commit_interval = 0.005       # s between WAL fsyncs while busy (0: back to back)
    capture_raw = ["35630704*"]   # idents (wildcards) whose raw bytes are captured
    log_level = "INFO"
    dedup_window = 1000000        # latest messages remembered to drop retransmitted copies
    decoder_processes = 0         # processes decoding Teltonika TCP records (0: the loop
                                  # does, in C; default 1 where the C extension is not built)
    background_nice = 0           # nice of Polars' threads, 0..19 (telebench hub: 19)
    max_unflushed_mb = 1024.0     # acked but not yet in Parquet; beyond it acks wait

    [[channel]]                   # channel[0]
    protocol = "teltonika"        # teltonika, wialon_ips, gt06, osmand
    transport = "tcp"             # tcp or udp ("http" = tcp for osmand)
    host = "0.0.0.0"
    port = 5027                   # 0 = any free port (tests)
    idle_timeout = 600.0          # s; flespi closes idle connections after 10 min
    max_frame_size = 65536        # bytes
    max_connections = 18000       # keep below the open-files limit
    unknown_devices = "register"  # register | channel_only | refuse
    on_bad_checksum = "reject"    # reject | flag | raise
    options = { codec = 8 }       # protocol session options

    [[plugin]]                    # plugin[0]; see telebench.hub.plugins
    type = "compute"
    parameter = "position.speed.mph"
    expression = '"position.speed" * 0.621371'
    selector = "metadata.fleet=us"

    [[plugin]]
    type = "erase"
    parameters = ["can.raw"]

Errors name the table and key, 0-based: ``channel[2].port: expected an integer 0..65535,
got 'abc'``.

Examples
--------
>>> cfg = HubConfig()
>>> [(c.protocol, c.transport, c.port) for c in cfg.channels][:2]
[('teltonika', 'tcp', 5027), ('wialon_ips', 'tcp', 5039)]
>>> [c.port for c in with_ports(cfg).channels]
[0, 0, 0, 0, 0, 0]
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from telebench.errors import ConfigError
from telebench.hub.plugin_config import plugins_from_config
from telebench.hub.plugins import Plugin
from telebench.protocols import PROTOCOLS, Transport
from telebench.protocols.teltonika import avl_json

__all__ = [
    "DEFAULT_PORTS",
    "ChannelConfig",
    "HubConfig",
    "default_channels",
    "default_decoder_processes",
    "load_config",
    "with_ports",
]

#: Traccar's port numbers for each protocol (TCP, and UDP where the protocol has it).
DEFAULT_PORTS: Final[dict[str, int]] = {
    "teltonika": 5027,
    "wialon_ips": 5039,
    "gt06": 5023,
    "osmand": 5055,
}
_UNKNOWN_DEVICES: Final = ("register", "channel_only", "refuse")
_ON_BAD_CHECKSUM: Final = ("reject", "flag", "raise")
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_MAX_PORT: Final = 65535


def _int(key: str, value: object, low: int, high: int | None = None) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and isinstance(value, int) and value >= low and (high is None or value <= high):
        return value
    bound = f"{low}..{high}" if high is not None else f">= {low}"
    raise ConfigError(f"{key}: expected an integer {bound}, got {value!r}")


def _positive(key: str, value: object, unit: str = "seconds") -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    raise ConfigError(f"{key}: expected a number of {unit} > 0, got {value!r}")


def _seconds_between(key: str, value: object, low: float = 0.0, high: float = 1.0) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and isinstance(value, int | float) and low <= value <= high:
        return float(value)
    raise ConfigError(
        f"{key}: expected a number of seconds from {low:g} to {high:g}, got {value!r}"
    )


def _choice(key: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _str(key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class ChannelConfig:
    """One listening socket: a protocol on a transport, host and port.

    ``transport`` is the socket type, ``tcp`` or ``udp``; OsmAnd's ``tcp`` channel speaks
    HTTP (``http`` is accepted as a synonym). :attr:`codec_transport` is what to pass to
    :func:`telebench.protocols.new_session`.

    Examples
    --------
    >>> ChannelConfig("osmand", port=5055).codec_transport
    'http'
    >>> ChannelConfig("gt06", transport="udp", port=5023)
    Traceback (most recent call last):
    ...
    telebench.errors.ConfigError: transport: protocol 'gt06' does not run over 'udp'; it ...
    """

    protocol: str
    _: dataclasses.KW_ONLY
    port: int
    transport: Literal["tcp", "udp"] = "tcp"
    host: str = "127.0.0.1"
    idle_timeout: float = 600.0
    max_frame_size: int = 65536
    max_connections: int = 18000
    unknown_devices: Literal["register", "channel_only", "refuse"] = "register"
    on_bad_checksum: Literal["reject", "flag", "raise"] = "reject"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            known = ", ".join(sorted(PROTOCOLS))
            raise ConfigError(f"protocol: expected one of {known}, got {self.protocol!r}")
        given: str = self.transport  # "http" is accepted as a synonym of "tcp"
        transport = "tcp" if given == "http" else given
        allowed = {"tcp" if t == "http" else t for t in PROTOCOLS[self.protocol]}
        if transport not in allowed:
            raise ConfigError(
                f"transport: protocol {self.protocol!r} does not run over {self.transport!r};"
                f" it supports: {', '.join(sorted(allowed))}"
            )
        set_ = object.__setattr__
        set_(self, "transport", transport)
        set_(self, "port", _int("port", self.port, 0, _MAX_PORT))
        set_(self, "host", _str("host", self.host))
        set_(self, "idle_timeout", _positive("idle_timeout", self.idle_timeout))
        _int("max_frame_size", self.max_frame_size, 16)
        _int("max_connections", self.max_connections, 1)
        _choice("unknown_devices", self.unknown_devices, _UNKNOWN_DEVICES)
        _choice("on_bad_checksum", self.on_bad_checksum, _ON_BAD_CHECKSUM)
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"options: expected a table, got {self.options!r}")
        set_(self, "options", dict(self.options))

    @property
    def codec_transport(self) -> Transport:
        """The codec's transport: ``http`` for OsmAnd over TCP, else :attr:`transport`."""
        if self.transport == "tcp" and "http" in PROTOCOLS[self.protocol]:
            return "http"
        return self.transport

    @property
    def label(self) -> str:
        """Short name for logs, e.g. ``teltonika/tcp:5027``."""
        return f"{self.protocol}/{self.transport}:{self.port}"


def default_channels(host: str = "127.0.0.1") -> list[ChannelConfig]:
    """TCP channels for every protocol, plus UDP for Teltonika and Wialon IPS (same ports).

    Examples
    --------
    >>> [c.label for c in default_channels()]  # doctest: +NORMALIZE_WHITESPACE
    ['teltonika/tcp:5027', 'wialon_ips/tcp:5039', 'gt06/tcp:5023', 'osmand/tcp:5055',
     'teltonika/udp:5027', 'wialon_ips/udp:5039']
    """
    tcp = [ChannelConfig(p, port=port, host=host) for p, port in DEFAULT_PORTS.items()]
    udp = [
        ChannelConfig(p, transport="udp", port=DEFAULT_PORTS[p], host=host)
        for p in ("teltonika", "wialon_ips")
    ]
    return tcp + udp


def default_decoder_processes() -> int:
    """0 where Teltonika's C path is built, else 1 (``decoder_processes``'s default).

    In C, decoding a record and writing its JSON costs the loop about 0.7 µs, less than
    a round trip to a decoder process; in Python it costs about 2 µs, which a process takes
    off the loop (at 50,000 records/s on 2 cores, the loop was then the limit).

    >>> default_decoder_processes() == (0 if avl_json.COMPILED else 1)
    True
    """
    return 0 if avl_json.COMPILED else 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class HubConfig:
    """Everything a hub needs to run; validated on construction.

    Examples
    --------
    >>> HubConfig(flush_interval=0)
    Traceback (most recent call last):
    ...
    telebench.errors.ConfigError: flush_interval: expected a number of seconds > 0, got 0
    """

    store: Path = Path("data/hub")
    channels: list[ChannelConfig] = dataclasses.field(default_factory=default_channels)
    flush_interval: float = 1.0
    compact_interval: float = 60.0
    retention_interval: float = 3600.0
    telemetry_interval: float = 30.0
    daily_snapshots: bool = True
    logs_ttl: float = 30 * 86400.0
    fsync: bool = True
    commit_interval: float = 0.005
    plugins: list[Plugin] = dataclasses.field(default_factory=list)
    capture_raw: list[str] = dataclasses.field(default_factory=list)
    log_level: str = "INFO"
    dedup_window: int = 1_000_000
    decoder_processes: int = dataclasses.field(default_factory=default_decoder_processes)
    background_nice: int = 0
    max_unflushed_mb: float = 1024.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.store, str | Path) or not str(self.store):
            raise ConfigError(f"store: expected a directory path, got {self.store!r}")
        set_(self, "store", Path(self.store))
        intervals = (
            "flush_interval",
            "compact_interval",
            "retention_interval",
            "telemetry_interval",
        )
        for key in intervals:
            set_(self, key, _positive(key, getattr(self, key)))
        set_(self, "max_unflushed_mb", _positive("max_unflushed_mb", self.max_unflushed_mb, "MB"))
        set_(self, "commit_interval", _seconds_between("commit_interval", self.commit_interval))
        for flag in ("fsync", "daily_snapshots"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag}: expected true or false, got {getattr(self, flag)!r}")
        level = self.log_level.upper() if isinstance(self.log_level, str) else self.log_level
        set_(self, "log_level", _choice("log_level", level, _LOG_LEVELS))
        _int("dedup_window", self.dedup_window, 1)
        _int("decoder_processes", self.decoder_processes, 0)
        _int("background_nice", self.background_nice, 0, 19)
        raw: object = self.capture_raw
        if not isinstance(raw, list | tuple):
            raise ConfigError(f"capture_raw: expected a list of ident patterns, got {raw!r}")
        for i, pattern in enumerate(self.capture_raw):
            _str(f"capture_raw[{i}]", pattern)
        set_(self, "capture_raw", list(self.capture_raw))
        set_(self, "channels", list(self.channels))
        set_(self, "plugins", list(self.plugins))
        self._check_channels()

    def _check_channels(self) -> None:
        seen: dict[tuple[str, str, int], int] = {}
        for i, channel in enumerate(self.channels):
            if not isinstance(channel, ChannelConfig):
                raise ConfigError(f"channel[{i}]: expected a ChannelConfig, got {channel!r}")
            key = (channel.transport, channel.host, channel.port)
            if channel.port and key in seen:
                raise ConfigError(
                    f"channel[{i}].port: {channel.transport} {channel.host}:{channel.port} is"
                    f" already used by channel[{seen[key]}]"
                )
            seen[key] = i


def with_ports(config: HubConfig, ports: Mapping[str, int] | None = None) -> HubConfig:
    """A copy of ``config`` with the channels of each protocol in ``ports`` on that port.

    ``None`` puts every channel on port 0 (an ephemeral port chosen by the OS), for tests.

    Examples
    --------
    >>> cfg = with_ports(HubConfig(), {"gt06": 0, "teltonika": 15027})
    >>> [c.label for c in cfg.channels if c.protocol in ("gt06", "teltonika")]
    ['teltonika/tcp:15027', 'gt06/tcp:0', 'teltonika/udp:15027']
    """
    if ports is not None:
        for protocol in ports:
            if protocol not in PROTOCOLS:
                raise ConfigError(f"with_ports: unknown protocol {protocol!r}")
    channels = [
        dataclasses.replace(c, port=0 if ports is None else ports[c.protocol])
        if ports is None or c.protocol in ports
        else c
        for c in config.channels
    ]
    return dataclasses.replace(config, channels=channels)


_TOP_KEYS: Final = frozenset(f.name for f in dataclasses.fields(HubConfig)) - {
    "channels",
    "plugins",
} | {"channel", "plugin"}
_CHANNEL_KEYS: Final = frozenset(f.name for f in dataclasses.fields(ChannelConfig)) - {"_"}


def _check_keys(where: str, table: Mapping[str, object], known: frozenset[str]) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = (
                f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
            )
            raise ConfigError(f"{where}{key}: unknown key{hint}")


def _tables(doc: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(f"{key}: expected [[{key}]] tables, got {value!r}")
    return value


def _channels(doc: Mapping[str, object]) -> list[ChannelConfig] | None:
    tables = _tables(doc, "channel")
    if "channel" not in doc:
        return None
    channels = []
    for i, table in enumerate(tables):
        _check_keys(f"channel[{i}].", table, _CHANNEL_KEYS)
        if "protocol" not in table or "port" not in table:
            missing = "protocol" if "protocol" not in table else "port"
            raise ConfigError(f"channel[{i}].{missing}: missing (required)")
        try:
            channels.append(ChannelConfig(**table))  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ConfigError(f"channel[{i}].{exc}") from exc
    return channels


def load_config(path: Path) -> HubConfig:
    """Read a hub configuration from a TOML file (format in the module docstring).

    Raises
    ------
    telebench.errors.ConfigError
        If the file is missing, not TOML, or has an unknown key or a bad value; the message
        names the file, the table and the key.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        _check_keys("", doc, _TOP_KEYS)
        fields: dict[str, Any] = {k: v for k, v in doc.items() if k not in ("channel", "plugin")}
        channels = _channels(doc)
        if channels is not None:
            fields["channels"] = channels
        fields["plugins"] = plugins_from_config(_tables(doc, "plugin"))
        if isinstance(fields.get("store"), str) and fields["store"]:
            fields["store"] = path.parent / fields["store"]
        return HubConfig(**fields)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
