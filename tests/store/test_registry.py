"""DeviceRegistry: CRUD, selectors, resolve policies, cache, persistence (real SQLite files)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from telebench.errors import ConfigError, StoreError
from telebench.store.registry import (
    DEFAULT_MESSAGES_TTL,
    SCHEMA_VERSION,
    Device,
    DeviceRegistry,
    check_password,
)


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[DeviceRegistry]:
    with DeviceRegistry(tmp_path / "devices.db") as registry:
        yield registry


@pytest.fixture
def fleet(reg: DeviceRegistry) -> DeviceRegistry:
    reg.add("352090000001", "teltonika", name="truck 1", metadata={"fleet": "north", "cap": 12})
    reg.add("352090000002", "teltonika", name="truck 2", metadata={"fleet": "south", "ev": True})
    reg.add("352091000003", "gt06", name="van [3]", metadata={"fleet": "north", "speed": 1.5})
    reg.add("868000000004", "osmand", name="phone", enabled=False, metadata={"x": None})
    return reg


def ids(devices: list[Device]) -> list[int]:
    return [d.id for d in devices]


def test_add_and_get_round_trip(reg: DeviceRegistry) -> None:
    dev = reg.add("356307042441013", "teltonika", metadata={"a": "b", "n": 3, "f": 2.5})
    assert dev.id == 1
    assert dev.ident == "356307042441013"
    assert dev.name == "356307042441013"
    assert dev.protocol == "teltonika"
    assert dev.metadata == {"a": "b", "f": 2.5, "n": 3}
    assert dev.enabled is True
    assert dev.password is None
    assert dev.messages_ttl == DEFAULT_MESSAGES_TTL == 31_536_000
    assert dev.messages_rotate == 0
    assert dev.created > 1.6e9
    assert reg.get("356307042441013", "teltonika") == dev
    assert reg.get_by_id(1) == dev
    assert reg.get("356307042441013", "gt06") is None
    assert reg.get_by_id(2) is None


def test_same_ident_on_two_protocols_is_two_devices(reg: DeviceRegistry) -> None:
    a = reg.add("123", "teltonika")
    b = reg.add("123", "gt06")
    assert (a.id, b.id) == (1, 2)


def test_duplicate_names_ident_and_protocol(reg: DeviceRegistry) -> None:
    reg.add("123", "teltonika")
    with pytest.raises(ConfigError, match=r"ident '123' and protocol 'teltonika' already exists"):
        reg.add("123", "teltonika")
    assert len(reg.select("all")) == 1


@pytest.mark.parametrize(
    ("ident", "fragment"),
    [
        ("", "ident must be a non-empty string, got ''"),
        ("ab#c", "ident 'ab#c' contains '#'"),
        ("ab+c", "ident 'ab+c' contains '+'"),
        ("a/b", "ident 'a/b' contains '/'"),
        ("ab\x00", "ident 'ab\\x00' contains '\\x00'"),
        ("ab\n", "ident 'ab\\n' contains '\\n'"),
        ("imei\u00e9", "ident 'imei\u00e9' contains '\u00e9'"),
        ("1" * 256, f"ident {'1' * 32!r}... is longer than 255 chars"),
    ],
)
def test_ident_validation(reg: DeviceRegistry, ident: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        reg.add(ident, "teltonika")
    assert reg.select("all") == []


def test_field_validation(reg: DeviceRegistry) -> None:
    with pytest.raises(ConfigError, match="protocol 'nmea' unknown"):
        reg.add("1", "nmea")
    with pytest.raises(ConfigError, match="messages_ttl must be an integer >= 0, got -1"):
        reg.add("1", "gt06", messages_ttl=-1)
    with pytest.raises(ConfigError, match="messages_rotate must be an integer >= 0, got True"):
        reg.add("1", "gt06", messages_rotate=True)
    with pytest.raises(ConfigError, match=r"metadata\['v'\] has unsupported type list"):
        reg.add("1", "gt06", metadata={"v": [1]})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=r"metadata\['v'\] must be finite"):
        reg.add("1", "gt06", metadata={"v": float("nan")})
    with pytest.raises(ConfigError, match="metadata key 'a=b'"):
        reg.add("1", "gt06", metadata={"a=b": 1})
    assert reg.select("all") == []


def test_ttl_zero_and_rotate_and_password_are_stored(reg: DeviceRegistry) -> None:
    dev = reg.add("1", "gt06", messages_ttl=0, messages_rotate=10_000_000, password="pw")
    assert (dev.messages_ttl, dev.messages_rotate, dev.password) == (0, 10_000_000, "pw")


def test_update(reg: DeviceRegistry) -> None:
    dev = reg.add("1", "gt06")
    new = reg.update(dev.id, name="bus", metadata={"route": 7}, enabled=False, password="x")
    assert new == Device(
        id=dev.id,
        ident="1",
        name="bus",
        protocol="gt06",
        metadata={"route": 7},
        enabled=False,
        password="x",
        messages_ttl=DEFAULT_MESSAGES_TTL,
        messages_rotate=0,
        created=dev.created,
    )
    assert reg.update(dev.id) == new


def test_update_rejects_unknown_fields_and_missing_ids(reg: DeviceRegistry) -> None:
    dev = reg.add("1", "gt06")
    with pytest.raises(ConfigError, match="unknown device field 'colour'"):
        reg.update(dev.id, colour="red")
    with pytest.raises(ConfigError, match="unknown device field 'created'"):
        reg.update(dev.id, created=0.0)
    with pytest.raises(ConfigError, match="unknown device field 'id'"):
        reg.update(dev.id, id=5)
    with pytest.raises(StoreError, match="no device with id 99"):
        reg.update(99, name="x")
    assert reg.get_by_id(dev.id) == dev


def test_update_to_a_taken_ident_is_a_duplicate(reg: DeviceRegistry) -> None:
    reg.add("1", "gt06")
    two = reg.add("2", "gt06")
    with pytest.raises(
        ConfigError, match=r"device 2: \{'ident': '1'\} collides with an existing device"
    ):
        reg.update(two.id, ident="1")
    assert reg.get_by_id(two.id) == two


def test_remove(fleet: DeviceRegistry) -> None:
    assert fleet.remove("ident=35209*") == 3
    assert ids(fleet.select("all")) == [4]
    assert fleet.get("352090000001", "teltonika") is None
    assert fleet.remove("all") == 1
    assert fleet.remove("all") == 0


def test_enable_disable_return_matched_counts(fleet: DeviceRegistry) -> None:
    assert fleet.disable("protocol=teltonika") == 2
    assert ids(fleet.select("enabled=false")) == [1, 2, 4]
    assert fleet.enable("all") == 4
    assert ids(fleet.select("enabled=true")) == [1, 2, 3, 4]
    assert fleet.disable("99") == 0


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("all", [1, 2, 3, 4]),
        (" all ", [1, 2, 3, 4]),
        ("3", [3]),
        ("1,2,3", [1, 2, 3]),
        ("4,1,99", [1, 4]),
        ("ident=352090000002", [2]),
        ("ident=35209*", [1, 2, 3]),
        ("ident=3520900000??", [1, 2]),
        ("ident=*4", [4]),
        ("ident=3520900000?", []),
        ("name=truck*", [1, 2]),
        ("name=van [3]", [3]),
        ("name=van [?]", [3]),
        ("name=TRUCK*", []),
        ("protocol=teltonika", [1, 2]),
        ("protocol=o*", [4]),
        ("enabled=true", [1, 2, 3]),
        ("enabled=false", [4]),
        ("metadata.fleet=north", [1, 3]),
        ("metadata.fleet=*th", [1, 2, 3]),
        ("metadata.cap=12", [1]),
        ("metadata.cap=1?", [1]),
        ("metadata.speed=1.5", [3]),
        ("metadata.ev=true", [2]),
        ("metadata.x=null", [4]),
        ("metadata.missing=*", []),
        ("metadata.fleet=north&protocol=gt06", [3]),
        ("ident=35209*&enabled=true&metadata.fleet=s*", [2]),
        ("ident=35209*&protocol=osmand", []),
    ],
)
def test_selectors(fleet: DeviceRegistry, selector: str, expected: list[int]) -> None:
    assert ids(fleet.select(selector)) == expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("", "expected 'all', ids or <field>=<value>"),
        ("   ", "expected 'all', ids or <field>=<value>"),
        ("1,,2", "expected <field>=<value>"),
        ("ident", "'ident': expected <field>=<value>"),
        ("=5", "expected <field>=<value>"),
        ("ident=1&&name=x", "'': expected <field>=<value>"),
        ("colour=red", "selector field 'colour' unknown; expected ident, name, protocol"),
        ("metadata.=x", "selector field 'metadata.' unknown"),
        ("enabled=yes", "expected enabled=true or enabled=false"),
        ('metadata.a"b=1', "metadata key may not contain"),
    ],
)
def test_invalid_selectors(fleet: DeviceRegistry, selector: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fleet.select(selector)
    with pytest.raises(ConfigError, match=message):
        fleet.remove(selector)
    assert len(fleet.select("all")) == 4


def test_selector_values_cannot_inject_sql(fleet: DeviceRegistry) -> None:
    assert fleet.select("name=x' OR 1=1 --") == []
    assert fleet.remove("metadata.fleet=') OR 1 --") == 0
    assert len(fleet.select("all")) == 4


def test_resolve_known_device_under_every_policy(fleet: DeviceRegistry) -> None:
    known = fleet.get("352090000001", "teltonika")
    for policy in ("register", "channel_only", "refuse"):
        assert fleet.resolve("352090000001", "teltonika", policy=policy) == known
    disabled = fleet.resolve("868000000004", "osmand", policy="refuse")
    assert disabled is not None
    assert disabled.enabled is False


def test_resolve_unknown_ident(reg: DeviceRegistry) -> None:
    assert reg.resolve("777", "gt06", policy="refuse") is None
    assert reg.resolve("777", "gt06", policy="channel_only") is None
    assert reg.select("all") == []
    dev = reg.resolve("777", "gt06", policy="register")
    assert dev is not None
    assert (dev.id, dev.ident, dev.name, dev.protocol, dev.enabled) == (
        1,
        "777",
        "777",
        "gt06",
        True,
    )
    assert reg.resolve("777", "gt06", policy="register") == dev
    assert reg.resolve("777", "gt06", policy="refuse") == dev
    assert len(reg.select("all")) == 1


def test_resolve_register_validates_the_ident_and_policy(reg: DeviceRegistry) -> None:
    with pytest.raises(ConfigError, match="contains '#'"):
        reg.resolve("a#b", "gt06", policy="register")
    with pytest.raises(ConfigError, match="policy 'allow'"):
        reg.resolve("1", "gt06", policy="allow")  # type: ignore[arg-type]


def test_cache_is_invalidated_by_every_write(reg: DeviceRegistry) -> None:
    assert reg.resolve("1", "gt06", policy="refuse") is None  # negative entry cached
    dev = reg.add("1", "gt06", name="a")
    assert reg.resolve("1", "gt06", policy="refuse") == dev
    reg.update(dev.id, name="b")
    after_update = reg.resolve("1", "gt06", policy="refuse")
    assert after_update is not None
    assert after_update.name == "b"
    assert reg.disable(str(dev.id)) == 1
    after_disable = reg.resolve("1", "gt06", policy="channel_only")
    assert after_disable is not None
    assert after_disable.enabled is False
    assert reg.enable("all") == 1
    after_enable = reg.get("1", "gt06")
    assert after_enable is not None
    assert after_enable.enabled is True
    assert reg.remove("1") == 1
    assert reg.resolve("1", "gt06", policy="refuse") is None


def test_cached_device_metadata_cannot_be_poisoned(reg: DeviceRegistry) -> None:
    reg.add("1", "gt06", metadata={"k": "v"})
    first = reg.get("1", "gt06")
    assert first is not None
    first.metadata["k"] = "changed"
    again = reg.get("1", "gt06")
    assert again is not None
    assert again.metadata == {"k": "v"}


def test_persistence_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub.db"
    with DeviceRegistry(str(path)) as reg:
        dev = reg.add("1", "teltonika", metadata={"fleet": "n"}, password="pw", messages_ttl=60)
        reg.add("2", "gt06")
        reg.disable("2")
    with DeviceRegistry(path) as reg:
        assert reg.get("1", "teltonika") == dev
        assert ids(reg.select("enabled=false")) == [2]
        assert reg.add("3", "osmand").id == 3
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        conn.close()


def test_ids_are_not_reused_after_remove(tmp_path: Path) -> None:
    with DeviceRegistry(tmp_path / "d.db") as reg:
        reg.add("1", "gt06")
        reg.remove("all")
        assert reg.add("1", "gt06").id == 2


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    DeviceRegistry(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than"):
        DeviceRegistry(path)


def test_unopenable_path_and_closed_registry_raise_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open device registry"):
        DeviceRegistry(tmp_path / "no" / "such" / "dir.db")
    reg = DeviceRegistry(tmp_path / "d.db")
    reg.close()
    with pytest.raises(StoreError, match="closed database"):
        reg.select("all")
    with pytest.raises(StoreError, match="closed database"):
        reg.add("1", "gt06")


def test_check_password(reg: DeviceRegistry) -> None:
    open_dev = reg.add("1", "gt06")
    locked = reg.add("2", "gt06", password="s3cr\u00e9t")
    assert check_password(open_dev, "anything") is True
    assert check_password(open_dev, None) is True
    assert check_password(locked, "s3cr\u00e9t") is True
    assert check_password(locked, "s3cret") is False
    assert check_password(locked, "") is False
    assert check_password(locked, None) is False
    assert DeviceRegistry.check_password(locked, "s3cr\u00e9t") is True


def test_type_checks_and_out_of_range_ids(reg: DeviceRegistry) -> None:
    with pytest.raises(ConfigError, match="enabled must be a bool, got int"):
        reg.add("1", "gt06", enabled=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="password must be a string or None, got int"):
        reg.add("1", "gt06", password=1234)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match="messages_ttl must be an integer >= 0, got 9223372036854775808"
    ):
        reg.add("1", "gt06", messages_ttl=2**63)
    with pytest.raises(ConfigError, match="id 99999999999999999999 is out of range"):
        reg.select("1,99999999999999999999")
