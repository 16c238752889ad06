"""``telebench devices``: the device registry from the shell, on a real store folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from telebench.cli.devices import devices_group
from telebench.store.registry import DeviceRegistry


def run(store: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(devices_group, [*args, "--store", str(store)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "hub"
    for args in (
        ("356307042441013", "-p", "teltonika", "--meta", "fleet=north", "--meta", "route=7"),
        ("356307042441021", "-p", "teltonika", "--name", "van 2", "--meta", "fleet=south"),
        ("868204002602414", "-p", "wialon_ips", "--password", "s3cret", "--ttl", "60"),
    ):
        code, _, err = run(folder, "add", *args)
        assert code == 0, err
    return folder


def idents(store: Path, selector: str = "all") -> list[str]:
    code, out, _ = run(store, "list", selector, "--json")
    assert code == 0
    return [json.loads(line)["ident"] for line in out.splitlines()]


def test_add_creates_the_store_and_registers(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "hub"
    code, out, _ = run(folder, "add", "42", "-p", "osmand", "--rotate", "1000", "--disabled")
    assert (code, out) == (0, "added device 1: 42 (osmand)\n")
    with DeviceRegistry(folder / "devices.sqlite") as registry:
        device = registry.get("42", "osmand")
    assert device is not None
    assert (device.messages_rotate, device.enabled, device.name) == (1000, False, "42")


def test_add_typed_metadata_password_and_ttl(store: Path) -> None:
    with DeviceRegistry(store / "devices.sqlite") as registry:
        first = registry.get("356307042441013", "teltonika")
        wialon = registry.get("868204002602414", "wialon_ips")
    assert first is not None
    assert wialon is not None
    assert first.metadata == {"fleet": "north", "route": 7}
    assert (wialon.password, wialon.messages_ttl) == ("s3cret", 60)


def test_add_duplicate_and_bad_input_exit_2(store: Path) -> None:
    code, _, err = run(store, "add", "356307042441013", "-p", "teltonika")
    assert code == 2
    assert err == (
        "error: device with ident '356307042441013' and protocol 'teltonika' already exists\n"
    )
    code, _, err = run(store, "add", "a/b", "-p", "gt06")
    assert code == 2
    assert "contains '/'" in err
    code, _, err = run(store, "add", "1", "-p", "h02")
    assert code == 2
    assert "'h02' is not one of" in err
    code, _, err = run(store, "add", "1", "-p", "gt06", "--meta", "novalue")
    assert code == 2
    assert "expected KEY=VALUE" in err


def test_list_table(store: Path) -> None:
    code, out, _ = run(store, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["id", "ident", "protocol", "name", "enabled", "metadata"]
    assert lines[1].split() == [
        "1",
        "356307042441013",
        "teltonika",
        "356307042441013",
        "yes",
        '{"fleet":"north","route":7}',
    ]
    assert lines[2].split()[3:5] == ["van", "2"]
    assert lines[3].split() == [
        "3",
        "868204002602414",
        "wialon_ips",
        "868204002602414",
        "yes",
        "{}",
    ]


def test_list_selectors(store: Path) -> None:
    assert idents(store) == ["356307042441013", "356307042441021", "868204002602414"]
    assert idents(store, "1,3") == ["356307042441013", "868204002602414"]
    assert idents(store, "ident=3563*") == ["356307042441013", "356307042441021"]
    assert idents(store, "metadata.fleet=north") == ["356307042441013"]
    assert idents(store, "metadata.route=7&protocol=teltonika") == ["356307042441013"]
    assert idents(store, "protocol=gt06") == []


def test_list_json_hides_password(store: Path) -> None:
    code, out, _ = run(store, "list", "3", "--json")
    assert code == 0
    row = json.loads(out)
    assert row["password"] == "***"
    assert (row["id"], row["enabled"], row["messages_ttl"], row["metadata"]) == (3, True, 60, {})


def test_list_no_match_and_bad_selector(store: Path) -> None:
    code, out, err = run(store, "list", "ident=nothing*")
    assert (code, out) == (0, "")
    assert "no device matches selector 'ident=nothing*'" in err
    code, _, err = run(store, "list", "colour=red")
    assert code == 2
    assert err.startswith("error: selector field 'colour' unknown")


def test_missing_store_is_an_error_not_created(tmp_path: Path) -> None:
    folder = tmp_path / "typo"
    code, _, err = run(folder, "list")
    assert code == 2
    assert err.startswith(f"error: no device registry at {folder / 'devices.sqlite'}")
    assert not folder.exists()


def test_store_from_environment(store: Path) -> None:
    result = CliRunner().invoke(
        devices_group, ["list", "--json"], env={"TELEBENCH_STORE": str(store)}
    )
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 3


def test_show(store: Path) -> None:
    code, out, _ = run(store, "show", "ident=868*")
    assert code == 0
    fields = dict(line.split(":", 1) for line in out.splitlines())
    assert fields["ident"].strip() == "868204002602414"
    assert fields["password"].strip() == "***"
    assert fields["messages_ttl"].strip() == "60"
    code, out, _ = run(store, "show", "1,2", "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [1, 2]
    code, _, err = run(store, "show", "99")
    assert code == 2
    assert err == "error: no device matches selector '99'\n"


def test_update_merges_metadata_and_sets_fields(store: Path) -> None:
    code, out, _ = run(
        store,
        "update",
        "ident=3563*",
        "--meta",
        "depot=riga",
        "--unset-meta",
        "route",
        "--name",
        "van",
        "--ttl",
        "10",
    )
    assert (code, out) == (0, "updated 2 device(s)\n")
    with DeviceRegistry(store / "devices.sqlite") as registry:
        first, second = registry.select("1,2")
    assert first.metadata == {"depot": "riga", "fleet": "north"}
    assert second.metadata == {"depot": "riga", "fleet": "south"}
    assert (first.name, second.name, first.messages_ttl) == ("van", "van", 10)


def test_update_password_and_errors(store: Path) -> None:
    assert run(store, "update", "3", "--clear-password")[0] == 0
    assert run(store, "update", "1", "--password", "pw")[0] == 0
    with DeviceRegistry(store / "devices.sqlite") as registry:
        first, wialon = registry.select("1,3")
    assert (first.password, wialon.password) == ("pw", None)
    code, _, err = run(store, "update", "1")
    assert code == 2
    assert "nothing to update" in err
    code, _, err = run(store, "update", "1", "--password", "a", "--clear-password")
    assert code == 2
    assert "not both" in err
    code, _, err = run(store, "update", "ident=none", "--name", "x")
    assert code == 2
    assert "no device matches" in err


def test_enable_disable(store: Path) -> None:
    assert run(store, "disable", "metadata.fleet=*") == (0, "disabled 2 device(s)\n", "")
    assert idents(store, "enabled=false") == ["356307042441013", "356307042441021"]
    assert run(store, "enable", "1")[1] == "enabled 1 device(s)\n"
    assert idents(store, "enabled=false") == ["356307042441021"]
    code, _, err = run(store, "enable", "ident=none")
    assert (code, err) == (2, "error: no device matches selector 'ident=none'\n")


def test_remove(store: Path) -> None:
    code, _, err = run(store, "remove", "all")
    assert code == 2
    assert err == "error: refusing to remove all devices without --yes\n"
    assert len(idents(store)) == 3
    assert run(store, "remove", "2")[1] == "removed 1 device(s)\n"
    assert idents(store) == ["356307042441013", "868204002602414"]
    assert run(store, "remove", "all", "--yes")[1] == "removed 2 device(s)\n"
    assert idents(store) == []


def test_help_teaches_selectors() -> None:
    result = CliRunner().invoke(devices_group, ["remove", "--help"])
    assert result.exit_code == 0
    assert "metadata.fleet=north" in result.output
    assert "ident=35*&metadata.fleet=north" in result.output
    assert "telebench devices remove all --yes" in result.output
