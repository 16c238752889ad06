"""Message plugins: each transformer, selection by ident, failure isolation."""

from __future__ import annotations

import re

import polars as pl
import pytest

from telebench.errors import ConfigError, SchemaError
from telebench.hub.plugins import (
    CORE_COLUMNS,
    Compute,
    Erase,
    Function,
    Plugin,
    PluginChain,
    Rename,
)


def batch() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ident": ["a", "b", "a", "c"],
            "timestamp": [1.0, 2.0, 3.0, 4.0],
            "server.timestamp": [1.5, 2.5, 3.5, 4.5],
            "device.id": [1, 2, 1, None],
            "position.speed": [100.0, 3.0, 50.0, None],
            "can.raw": ["x", "y", "z", "w"],
        }
    )


Errors = list[tuple[str, Exception]]


def run(
    plugins: list[Plugin], frame: pl.DataFrame, selected: dict[str, set[str]] | None = None
) -> tuple[pl.DataFrame, Errors]:
    errors: Errors = []
    out = PluginChain(plugins).apply(
        frame,
        idents_for=lambda s: (selected or {}).get(s),
        on_error=lambda p, e: errors.append((p.name, e)),
    )
    return out, errors


def test_compute_sql_with_quoted_dotted_names() -> None:
    out, errors = run([Compute("position.speed.mph", '"position.speed" * 0.5')], batch())
    assert errors == []
    assert out["position.speed.mph"].to_list() == [50.0, 1.5, 25.0, None]
    assert out.columns[:-1] == batch().columns


def test_compute_case_when_and_overwrite() -> None:
    sql = 'CASE WHEN "position.speed" > 5 THEN true ELSE false END'
    out, _ = run([Compute("moving", sql), Compute("position.speed", pl.lit(0.0))], batch())
    assert out["moving"].to_list() == [True, False, True, False]
    assert out["position.speed"].to_list() == [0.0] * 4


def test_compute_rejects_bad_sql_and_core_columns() -> None:
    with pytest.raises(ConfigError, match=r"expression 'foo\(': invalid SQL"):
        Compute("x", "foo(")
    with pytest.raises(ConfigError, match="parameter: 'ident' is a core column"):
        Compute("ident", "'x'")
    with pytest.raises(ConfigError, match=r"expected SQL text or pl\.Expr"):
        Compute("x", 5)  # type: ignore[arg-type]


def test_unquoted_dotted_name_fails_at_run_time_and_is_skipped() -> None:
    # Unquoted, position.speed is field 'speed' of a struct 'position': the column is missing.
    out, errors = run([Compute("mph", "position.speed * 2")], batch())
    assert out.equals(batch())
    assert [name for name, _ in errors] == ["compute:mph"]
    assert isinstance(errors[0][1], pl.exceptions.ColumnNotFoundError)


def test_rename_replaces_target_and_ignores_missing() -> None:
    frame = batch().with_columns(pl.lit(1).alias("speed"))
    out, errors = run([Rename({"position.speed": "speed", "absent": "other"})], frame)
    assert errors == []
    assert "position.speed" not in out.columns
    assert "other" not in out.columns
    assert out["speed"].to_list() == [100.0, 3.0, 50.0, None]


def test_rename_and_erase_refuse_core_columns() -> None:
    for core in sorted(CORE_COLUMNS):
        with pytest.raises(ConfigError, match="core column"):
            Rename({core: "x"})
        with pytest.raises(ConfigError, match="core column"):
            Rename({"x": core})
        with pytest.raises(ConfigError, match="core column"):
            Erase([core])
    with pytest.raises(ConfigError, match="several parameters renamed to one name"):
        Rename({"a": "z", "b": "z"})
    with pytest.raises(ConfigError, match="expected a list of names"):
        Erase("can.raw")


def test_erase_missing_is_fine() -> None:
    out, errors = run([Erase(["can.raw", "absent"])], batch())
    assert errors == []
    assert out.columns == [c for c in batch().columns if c != "can.raw"]


def test_selector_applies_to_selected_rows_only_keeping_order() -> None:
    plugins: list[Plugin] = [
        Compute("flag", pl.lit(True), selector="ident=a"),
        Erase(["can.raw"], selector="ident=a"),
        Compute("mph", '"position.speed" / 2', selector="nobody"),
    ]
    out, errors = run(plugins, batch(), {"ident=a": {"a"}, "nobody": set()})
    assert errors == []
    assert out["ident"].to_list() == ["a", "b", "a", "c"]
    assert out["flag"].to_list() == [True, None, True, None]
    assert out["can.raw"].to_list() == [None, "y", None, "w"]
    assert "mph" not in out.columns  # nothing selected: plugin not run
    assert out.drop("flag", "can.raw").equals(batch().drop("can.raw"))


def test_failing_plugin_is_reported_and_skipped() -> None:
    def boom(frame: pl.DataFrame) -> pl.DataFrame:
        raise RuntimeError("boom")

    out, errors = run([Function(boom, name="boom"), Erase(["can.raw"])], batch())
    assert [(n, str(e)) for n, e in errors] == [("boom", "boom")]
    assert "can.raw" not in out.columns


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda f: f.head(1), "returned 1 rows for 4"),
        (lambda f: f.drop("timestamp"), r"dropped core column\(s\) \['timestamp'\]"),
        (lambda f: f.drop("server.timestamp"), "dropped core column"),
        (lambda f: f.reverse(), "changed or reordered the ident column"),
        (lambda f: "nope", "returned str, not DataFrame"),
    ],
)
def test_function_contract_violations_are_failures(fn: object, match: str) -> None:
    out, errors = run([Function(fn, name="bad")], batch())  # type: ignore[arg-type]
    assert out.equals(batch())
    assert len(errors) == 1
    assert isinstance(errors[0][1], SchemaError)
    assert errors[0][1].args[0].startswith("plugin 'bad'")
    assert re.search(match, str(errors[0][1]))


def test_function_contract_checked_on_selected_rows_too() -> None:
    out, errors = run([Function(lambda f: f.head(0), selector="a")], batch(), {"a": {"a"}})
    assert out.equals(batch())
    assert len(errors) == 1
    assert errors[0][0].startswith("function:")


def test_changed_type_on_selected_rows_takes_the_supertype() -> None:
    plugin = Compute("position.speed", pl.lit(7, dtype=pl.Int32), selector="a")
    out, errors = run([plugin], batch(), {"a": {"a"}})
    assert errors == []
    assert out.schema["position.speed"] == pl.Float64
    assert out["position.speed"].to_list() == [7.0, 3.0, 7.0, None]


def test_changing_a_core_column_type_is_a_failure() -> None:
    fn = Function(lambda f: f.with_columns(pl.col("device.id").cast(pl.String)), selector="a")
    out, errors = run([fn], batch(), {"a": {"a"}})
    assert out.equals(batch())
    assert "changed the type of ['device.id']" in str(errors[0][1])


def test_empty_batch_and_empty_chain_pass_through() -> None:
    empty = batch().head(0)
    assert run([Erase(["can.raw"])], empty)[0].equals(empty)
    assert run([], batch())[0].equals(batch())
    assert len(PluginChain([Erase(["x"])])) == 1
    with pytest.raises(ConfigError, match=r"plugins\[0\]: expected a Plugin"):
        PluginChain(["erase"])  # type: ignore[list-item]


def test_plugin_names_and_selector_validation() -> None:
    assert Erase(["x"]).name == "erase"
    assert Rename({"a": "b"}, name="r1").name == "r1"
    assert Function(len).name == "function:len"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="selector: expected a non-empty string"):
        Erase(["x"], selector=" ")
    with pytest.raises(TypeError, match="abstract"):
        Plugin()  # type: ignore[abstract]


def test_selector_matching_every_row_behaves_like_all() -> None:
    plugins: list[Plugin] = [Compute("x", pl.lit(1), selector="s"), Function(lambda f: f.head(2))]
    out, errors = run(plugins, batch(), {"s": {"a", "b", "c", "zz"}})
    assert out["x"].to_list() == [1, 1, 1, 1]
    assert out.columns == [*batch().columns, "x"]
    assert len(errors) == 1
