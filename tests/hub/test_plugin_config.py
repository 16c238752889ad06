"""Plugins from TOML entries: each type built, errors naming the entry and the key."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from telebench.errors import ConfigError
from telebench.hub.plugin_config import plugins_from_config
from telebench.hub.plugins import Plugin, PluginChain


def batch() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ident": ["a", "b", "a", "c"],
            "timestamp": [1.0, 2.0, 3.0, 4.0],
            "position.speed": [100.0, 3.0, 50.0, None],
            "can.raw": ["x", "y", "z", "w"],
        }
    )


def run(
    plugins: list[Plugin], frame: pl.DataFrame, selected: dict[str, set[str]]
) -> tuple[pl.DataFrame, list[tuple[str, Exception]]]:
    errors: list[tuple[str, Exception]] = []
    out = PluginChain(plugins).apply(
        frame, idents_for=selected.get, on_error=lambda p, e: errors.append((p.name, e))
    )
    return out, errors


def test_plugins_from_config_builds_each_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_hub_plugins.py").write_text(
        "import polars as pl\n"
        "def tag(frame):\n"
        "    return frame.with_columns(pl.lit('x').alias('tag'))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = plugins_from_config(
        [
            {"type": "compute", "parameter": "mph", "expression": '"position.speed" * 2'},
            {"type": "rename", "mapping": {"can.raw": "raw"}, "selector": "ident=a"},
            {"type": "erase", "parameters": ["raw"], "name": "drop-raw"},
            {"type": "function", "target": "my_hub_plugins:tag"},
        ]
    )
    assert [p.name for p in plugins] == ["compute:mph", "rename", "drop-raw", "function:tag"]
    assert plugins[1].selector == "ident=a"
    out, errors = run(plugins, batch(), {"ident=a": {"a"}})
    assert errors == []
    assert out["mph"].to_list() == [200.0, 6.0, 100.0, None]
    assert out["can.raw"].to_list() == [None, "y", None, "w"]
    assert "raw" not in out.columns
    assert out["tag"].to_list() == ["x"] * 4


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "magic"}, "plugin[1].type: expected one of compute, rename, erase, function"),
        ({"parameter": "x"}, "plugin[1].type: expected one of"),
        ({"type": "erase", "params": ["x"]}, "plugin[1].params: unknown key for a erase plugin"),
        ({"type": "erase"}, "plugin[1].parameters: missing"),
        ({"type": "compute", "parameter": "x", "expression": 1}, "plugin[1].expression: expected"),
        ({"type": "compute", "parameter": "x", "expression": "1 +"}, "plugin[1].expression '1 +'"),
        ({"type": "rename", "mapping": ["a"]}, "plugin[1].mapping: expected a non-empty table"),
        ({"type": "rename", "mapping": {"a": "ident"}}, "plugin[1].mapping: 'ident' is a core"),
        ({"type": "erase", "parameters": ["x"], "selector": 3}, "plugin[1].selector: expected"),
        ({"type": "function", "target": "nodots"}, "plugin[1].target: expected 'package.module"),
        ({"type": "function", "target": "no_such_mod_x:f"}, "plugin[1].target: cannot import"),
        ({"type": "function", "target": "json:nothing"}, "plugin[1].target: 'json:nothing': json"),
        ({"type": "function", "target": "json:__doc__"}, "plugin[1].target: 'json:__doc__' is not"),
    ],
)
def test_plugins_from_config_errors_name_entry_and_key(
    entry: dict[str, object], message: str
) -> None:
    good = {"type": "erase", "parameters": ["x"]}
    with pytest.raises(ConfigError) as info:
        plugins_from_config([good, entry])
    assert str(info.value).startswith(message)


def test_plugins_from_config_rejects_non_table() -> None:
    with pytest.raises(ConfigError, match=r"^plugin\[0\]: expected a table"):
        plugins_from_config(["erase"])  # type: ignore[list-item]
