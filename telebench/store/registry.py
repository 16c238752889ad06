"""The device registry: which idents the hub knows, on which protocol, with what settings.

Devices live in a SQLite database (WAL, ``synchronous=NORMAL``) and are matched, as in
flespi, by ``(ident, protocol)``. Groups of devices are picked with flespi-style selectors
(``all``, ``1,2,3``, ``ident=35209*&enabled=true``, ``metadata.fleet=north``).

Examples
--------
>>> with DeviceRegistry(":memory:") as reg:
...     dev = reg.add("356307042441013", "teltonika", metadata={"fleet": "north"})
...     [d.ident for d in reg.select("metadata.fleet=no*&enabled=true")]
['356307042441013']
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal

from telebench.errors import ConfigError, StoreError
from telebench.protocols import PROTOCOLS
from telebench.store import selectors
from telebench.store._sqlite import SqliteStore
from telebench.store.selectors import INT_MAX

__all__ = ["DEFAULT_MESSAGES_TTL", "SCHEMA_VERSION", "Device", "DeviceRegistry", "check_password"]

MetaValue = str | int | float | bool | None
Policy = Literal["register", "channel_only", "refuse"]

#: Default message retention, as flespi: 365 days in seconds.
DEFAULT_MESSAGES_TTL: Final = 365 * 24 * 3600
#: Version of the schema this module writes; older databases are migrated on open.
SCHEMA_VERSION: Final = 1
_MAX_IDENT_LEN: Final = 255
_CACHE_MAX: Final = 65536
_FORBIDDEN_IDENT_CHARS: Final = frozenset("#+/")
_COLUMNS: Final = (
    "id, ident, name, protocol, metadata, enabled, password, messages_ttl, messages_rotate, created"
)
_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        """
        CREATE TABLE devices (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ident TEXT NOT NULL,
            protocol TEXT NOT NULL,
            name TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
            enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
            password TEXT,
            messages_ttl INTEGER NOT NULL CHECK (messages_ttl >= 0),
            messages_rotate INTEGER NOT NULL DEFAULT 0 CHECK (messages_rotate >= 0),
            created REAL NOT NULL,
            UNIQUE (ident, protocol)
        )
        """,
    ),
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """One registered device (flespi's device object, reduced to what the hub uses).

    ``messages_ttl`` is in seconds (``0`` = do not store messages), ``messages_rotate`` in
    bytes (``0`` = no size cap), ``created`` in unix seconds; ``password`` ``None`` means
    any password is accepted.
    """

    id: int
    ident: str
    name: str
    protocol: str
    metadata: dict[str, MetaValue]
    enabled: bool
    password: str | None
    messages_ttl: int
    messages_rotate: int
    created: float


def check_password(device: Device, password: str | None) -> bool:
    """Whether ``password`` authenticates ``device`` (constant-time comparison).

    Examples
    --------
    >>> dev = Device(id=1, ident="1", name="1", protocol="gt06", metadata={}, enabled=True,
    ...              password="s3cret", messages_ttl=0, messages_rotate=0, created=0.0)
    >>> check_password(dev, "s3cret"), check_password(dev, "guess"), check_password(dev, None)
    (True, False, False)
    >>> check_password(dataclasses.replace(dev, password=None), "anything")
    True
    """
    if device.password is None:
        return True
    if password is None:
        return False
    return hmac.compare_digest(device.password.encode(), password.encode())


def _check_ident(ident: object) -> str:
    if not isinstance(ident, str) or not ident:
        raise ConfigError(f"ident must be a non-empty string, got {ident!r}")
    if len(ident) > _MAX_IDENT_LEN:
        raise ConfigError(f"ident {ident[:32]!r}... is longer than {_MAX_IDENT_LEN} chars")
    for ch in ident:
        if not " " <= ch <= "~" or ch in _FORBIDDEN_IDENT_CHARS:
            raise ConfigError(
                f"ident {ident!r} contains {ch!r}; only printable ASCII without '#', '+', '/'"
            )
    return ident


def _check_protocol(value: object) -> object:
    if value not in PROTOCOLS:
        raise ConfigError(f"protocol {value!r} unknown; known: {', '.join(sorted(PROTOCOLS))}")
    return value


def _check_type(field: str, types: tuple[type, ...], what: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if not isinstance(value, types):
            raise ConfigError(f"{field} must be {what}, got {type(value).__name__}")
        return int(value) if isinstance(value, bool) else value

    return check


def _check_size(field: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < INT_MAX:
            raise ConfigError(f"{field} must be an integer >= 0, got {value!r}")
        return value

    return check


def _check_field(field: str, value: object) -> object:
    """Validate one device field and return its SQL value."""
    check = _VALIDATORS.get(field)
    if check is None:
        known = ", ".join(sorted(_VALIDATORS))
        raise ConfigError(f"unknown device field {field!r}; updatable fields: {known}")
    return check(value)


def _dump_metadata(metadata: object) -> str:
    if not isinstance(metadata, Mapping):
        raise ConfigError(f"metadata must be a mapping, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or any(c in key for c in '"\\&='):
            raise ConfigError(f"metadata key {key!r} must be a non-empty str without '\"\\&='")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ConfigError(f"metadata[{key!r}] has unsupported type {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"metadata[{key!r}] must be finite, got {value!r}")
    return json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"))


_VALIDATORS: Final[dict[str, Callable[[object], object]]] = {
    "ident": _check_ident,
    "protocol": _check_protocol,
    "name": _check_type("name", (str,), "a string"),
    "metadata": _dump_metadata,
    "enabled": _check_type("enabled", (bool,), "a bool"),
    "password": _check_type("password", (str, type(None)), "a string or None"),
    "messages_ttl": _check_size("messages_ttl"),
    "messages_rotate": _check_size("messages_rotate"),
}


class DeviceRegistry(SqliteStore):
    """Devices in a SQLite file, matched by ``(ident, protocol)``, with a lookup cache.

    Parameters
    ----------
    path:
        Database file (created if absent) or ``":memory:"``.

    Examples
    --------
    >>> reg = DeviceRegistry(":memory:")
    >>> reg.add("863071011111111", "gt06", name="van 7").id
    1
    >>> reg.resolve("863071011111111", "gt06", policy="refuse").name
    'van 7'
    >>> reg.resolve("999", "gt06", policy="refuse") is None
    True
    >>> reg.disable("ident=86307*"), reg.get("863071011111111", "gt06").enabled
    (1, False)
    >>> reg.close()
    """

    _label = "device registry"
    _schema_version = SCHEMA_VERSION
    _migrations = _MIGRATIONS
    # synchronous=NORMAL (from the base) on purpose: only an OS crash may lose the newest
    # registrations, and devices redo those when they reconnect.
    _pragmas = (*SqliteStore._pragmas, "foreign_keys=ON")
    # add() and update() turn a uniqueness violation into a ConfigError naming the device.
    _passthrough = (sqlite3.IntegrityError,)

    def __init__(self, path: str | Path) -> None:
        self._cache: dict[tuple[str, str], Device | None] = {}
        super().__init__(path)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction (see the base class) that also clears the cache."""
        with self._lock:
            self._cache.clear()
            try:
                with super()._write() as conn:
                    yield conn
            finally:
                self._cache.clear()

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Device]:
        return [_row_to_device(r) for r in self._rows(sql, params)]

    def close(self) -> None:
        """Close the database; further calls fail with ``StoreError``."""
        with self._lock:
            self._cache.clear()
            super().close()

    def add(
        self,
        ident: str,
        protocol: str,
        *,
        name: str | None = None,
        metadata: Mapping[str, MetaValue] | None = None,
        enabled: bool = True,
        password: str | None = None,
        messages_ttl: int = DEFAULT_MESSAGES_TTL,
        messages_rotate: int = 0,
    ) -> Device:
        """Register a device; ``ConfigError`` if ``(ident, protocol)`` is taken or invalid.

        Examples
        --------
        >>> with DeviceRegistry(":memory:") as reg:
        ...     dev = reg.add("42", "osmand")
        ...     dev.name, dev.messages_ttl, dev.metadata
        ('42', 31536000, {})
        """
        name = ident if name is None else name
        metadata = {} if metadata is None else metadata
        fields: dict[str, object] = {"ident": ident, "protocol": protocol, "name": name}
        fields |= {"metadata": metadata, "enabled": enabled, "password": password}
        fields |= {"messages_ttl": messages_ttl, "messages_rotate": messages_rotate}
        values = {k: _check_field(k, v) for k, v in fields.items()}
        values["created"] = time.time()
        cols = ", ".join(values)
        marks = ", ".join("?" * len(values))
        try:
            with self._write():
                cur = self._conn.execute(
                    f"INSERT INTO devices ({cols}) VALUES ({marks})", tuple(values.values())
                )
                new_id = cur.lastrowid
        except sqlite3.IntegrityError as exc:
            raise ConfigError(
                f"device with ident {ident!r} and protocol {protocol!r} already exists"
            ) from exc
        dev = self.get_by_id(int(new_id or 0))
        if dev is None:  # pragma: no cover - just inserted
            raise StoreError(f"device {ident!r} vanished after insert")
        return dev

    def get(self, ident: str, protocol: str) -> Device | None:
        """The device registered as ``(ident, protocol)``, or ``None`` (served from cache)."""
        key = (ident, protocol)
        with self._lock:
            if key in self._cache:
                dev = self._cache[key]
            else:
                found = self._query(
                    f"SELECT {_COLUMNS} FROM devices WHERE ident = ? AND protocol = ?", key
                )
                dev = found[0] if found else None
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = dev
        # A fresh metadata dict, so a caller mutating it cannot poison the cache.
        return None if dev is None else dataclasses.replace(dev, metadata=dict(dev.metadata))

    def get_by_id(self, device_id: int) -> Device | None:
        """The device with this numeric id, or ``None``."""
        found = self._query(f"SELECT {_COLUMNS} FROM devices WHERE id = ?", (device_id,))
        return found[0] if found else None

    def update(self, device_id: int, **fields: Any) -> Device:
        """Change fields of device ``device_id``; unknown fields raise ``ConfigError``.

        Examples
        --------
        >>> with DeviceRegistry(":memory:") as reg:
        ...     dev = reg.add("42", "osmand")
        ...     reg.update(dev.id, name="bus", metadata={"route": 7}).metadata
        {'route': 7}
        """
        values = {k: _check_field(k, v) for k, v in fields.items()}
        if values:
            sets = ", ".join(f"{k} = ?" for k in values)
            try:
                with self._write():
                    cur = self._conn.execute(
                        f"UPDATE devices SET {sets} WHERE id = ?", (*values.values(), device_id)
                    )
                    changed = cur.rowcount
            except sqlite3.IntegrityError as exc:
                taken = {k: fields[k] for k in ("ident", "protocol") if k in fields}
                raise ConfigError(
                    f"cannot update device {device_id}: {taken} collides with an existing "
                    "device (ident and protocol must be unique)"
                ) from exc
            if not changed:
                raise StoreError(f"no device with id {device_id}")
        dev = self.get_by_id(device_id)
        if dev is None:
            raise StoreError(f"no device with id {device_id}")
        return dev

    def select(self, selector: str) -> list[Device]:
        """Devices matching a flespi-style selector, ordered by id.

        Examples
        --------
        >>> with DeviceRegistry(":memory:") as reg:
        ...     _ = [reg.add(i, "gt06") for i in ("3520900", "3520901", "4000")]
        ...     [d.ident for d in reg.select("ident=35209?1")], len(reg.select("1,3"))
        (['3520901'], 2)
        """
        where, params = selectors.where(selector)
        return self._query(f"SELECT {_COLUMNS} FROM devices WHERE {where} ORDER BY id", params)

    def _bulk(self, sql: str, selector: str) -> int:
        where, params = selectors.where(selector)
        with self._write():
            return int(self._conn.execute(f"{sql} WHERE {where}", params).rowcount)

    def remove(self, selector: str) -> int:
        """Delete the selected devices; returns how many were deleted."""
        return self._bulk("DELETE FROM devices", selector)

    def enable(self, selector: str) -> int:
        """Enable the selected devices; returns how many matched."""
        return self._bulk("UPDATE devices SET enabled = 1", selector)

    def disable(self, selector: str) -> int:
        """Disable the selected devices; returns how many matched."""
        return self._bulk("UPDATE devices SET enabled = 0", selector)

    def resolve(self, ident: str, protocol: str, *, policy: Policy) -> Device | None:
        """The device for an ident met on a channel, applying ``policy`` if it is unknown.

        ``"register"`` adds it (name = ident); ``"channel_only"`` and ``"refuse"`` return
        ``None`` and leave the decision to the caller. A disabled device is returned as is.
        """
        if policy not in ("register", "channel_only", "refuse"):
            raise ConfigError(f"policy {policy!r}: expected 'register', 'channel_only' or 'refuse'")
        dev = self.get(ident, protocol)
        if dev is not None or policy != "register":
            return dev
        try:
            return self.add(ident, protocol)
        except ConfigError:
            dev = self.get(ident, protocol)  # registered concurrently by another writer
            if dev is None:
                raise
            return dev

    check_password = staticmethod(check_password)


def _row_to_device(row: tuple[Any, ...]) -> Device:
    values = dict(zip(_COLUMNS.split(", "), row, strict=True))
    values["metadata"] = json.loads(values["metadata"])
    values["enabled"] = bool(values["enabled"])
    return Device(**values)
