"""The telebench CLI: decode, params, errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from telebench.cli import main

GT06_STATUS = "78780A134401040001000508450D0A"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_decode_wialon_text_adds_the_line_end() -> None:
    code, out, _ = run(
        "decode",
        "-p",
        "wialon_ips",
        "--ident",
        "7",
        "--text",
        "#SD#270413;205601;5544.6025;N;03739.6834;E;1;2;3;4",
    )
    assert code == 0
    msg = json.loads(out)
    assert (msg["ident"], msg["timestamp"], msg["position.satellites"]) == ("7", 1367096161.0, 4)


def test_decode_osmand_request() -> None:
    code, out, _ = run("decode", "-p", "osmand", "--text", "GET /?id=5&lat=1&lon=2 HTTP/1.1")
    assert code == 0
    assert json.loads(out)["ident"] == "5"


def test_decode_hex_file(tmp_path: Path) -> None:
    path = tmp_path / "status.hex"
    path.write_text(GT06_STATUS[:10] + "\n" + GT06_STATUS[10:] + "\n")
    code, out, _ = run("decode", "-p", "gt06", "--ident", "1", "--file", str(path))
    assert code == 0
    assert json.loads(out)["battery.level.enum"] == 1


def test_decode_error_names_protocol_offset_and_bytes() -> None:
    code, out, err = run("decode", "-p", "gt06", "--hex", "7878 0A13 4401 0400 0100 0508 45FF FF")
    assert code == 2
    assert out == ""
    assert err.startswith("error: gt06: ")
    assert "at byte 13" in err
    assert "[ff]" in err


def test_decode_requires_exactly_one_payload() -> None:
    code, _, err = run("decode", "-p", "gt06")
    assert code == 2
    assert "exactly one of --hex, --text or --file" in err


def test_bad_hex_is_a_usage_error() -> None:
    code, _, err = run("decode", "-p", "gt06", "--hex", "7878zz")
    assert code == 2
    assert "not hex" in err


def test_params_filters_by_protocol() -> None:
    code, out, _ = run("params", "-p", "teltonika", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    names = {r["name"] for r in rows}
    assert "external.powersource.voltage" in names
    assert "position.accuracy" not in names  # OsmAnd only
    volt = next(r for r in rows if r["name"] == "external.powersource.voltage")
    assert volt["sources"] == {"teltonika": "AVL 66 / 1000"}


def test_params_table_and_search() -> None:
    code, out, _ = run("params", "-s", "ignition")
    assert code == 0
    assert out.splitlines()[0].startswith("engine.ignition.status")


def test_help_teaches_with_examples() -> None:
    code, out, _ = run("decode", "--help")
    assert code == 0
    assert "telebench decode -p teltonika --hex" in out
