"""Tests of NDJSON parsing, registry typing and the promotion rule."""

from __future__ import annotations

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebench.errors import SchemaError
from telebench.params import PARAMS
from telebench.store.frames import (
    CORE_SCHEMA,
    _non_null_keys,
    convert,
    messages_frame,
    promote,
    unify,
)

CORE_MSG = {
    "ident": "352093081234567",
    "timestamp": 1_700_000_000.5,
    "server.timestamp": 1_700_000_001.25,
    "channel.id": 3,
    "protocol.name": "teltonika",
    "peer": "10.0.0.1:5000",
    "device.id": 42,
}


def ndjson(*messages: dict[str, object]) -> bytes:
    return b"".join(orjson.dumps(m) + b"\n" for m in messages)


def test_core_columns_always_typed() -> None:
    df = messages_frame(ndjson({"ident": 5, "timestamp": 1}))
    assert dict(df.schema) == dict(CORE_SCHEMA)
    assert df.row(0, named=True)["ident"] == "5"
    assert df["timestamp"].to_list() == [1.0]


def test_empty_input_gives_core_schema() -> None:
    assert dict(messages_frame(b"").schema) == dict(CORE_SCHEMA)
    assert messages_frame(b"\n  \n").is_empty()


def test_core_value_that_cannot_be_typed_is_an_error() -> None:
    with pytest.raises(SchemaError, match="timestamp"):
        messages_frame(ndjson({"ident": "a", "timestamp": "soon"}))


@pytest.mark.parametrize("raw", [b'{"ident": "a"}\n{not json}\n', b"[1, 2]\n", b"\xff\xfe\n"])
def test_invalid_ndjson_is_a_schema_error(raw: bytes) -> None:
    with pytest.raises(SchemaError, match="NDJSON"):
        messages_frame(raw)


def test_registry_types_are_applied() -> None:
    msg = {
        **CORE_MSG,
        "position.speed": 59,  # number sent as int (Wialon)
        "position.satellites": 7.0,  # integer sent as float
        "engine.ignition.status": 1,  # boolean sent as 0/1
    }
    row = messages_frame(ndjson(msg)).row(0, named=True)
    assert row["position.speed"] == 59.0
    assert isinstance(row["position.satellites"], int)
    assert row["engine.ignition.status"] is True


def test_value_not_castable_to_registry_type_is_kept_by_promotion() -> None:
    msgs = [
        {**CORE_MSG, "position.satellites": 7, "engine.ignition.status": 2},
        {**CORE_MSG, "position.satellites": 7.5, "engine.ignition.status": True},
    ]
    df = messages_frame(ndjson(*msgs))
    assert df["position.satellites"].to_list() == [7.0, 7.5]
    assert df["engine.ignition.status"].to_list() == [2, 1]


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([True, 3], pl.Int64, [1, 3]),
        ([True, 2.5], pl.Float64, [1.0, 2.5]),
        ([1, 2.5], pl.Float64, [1.0, 2.5]),
        ([True, "x"], pl.String, ["true", "x"]),
        ([5, "x"], pl.String, ["5", "x"]),
        ([5.5, "x"], pl.String, ["5.5", "x"]),
        ([{"a": 1}, [1, "q"]], pl.String, ['{"a":1}', '[1,"q"]']),
        ([{"a": 1}, {"b": 2}], pl.String, ['{"a":1}', '{"b":2}']),
        ([18446744073709551615, 1], pl.String, ["18446744073709551615", "1"]),
        ([None, None], pl.Null, [None, None]),
    ],
)
def test_mixed_unknown_parameter_promotes(
    values: list[object], dtype: type[pl.DataType], expected: list[object]
) -> None:
    df = messages_frame(ndjson(*({**CORE_MSG, "custom.x": v} for v in values)))
    assert df["custom.x"].dtype == dtype
    assert df["custom.x"].to_list() == expected


def test_mixed_types_in_several_columns_at_once() -> None:
    msgs = [
        {**CORE_MSG, "a": True, "b": {"k": 1}, "c": "s"},
        {**CORE_MSG, "a": 4, "b": [1], "c": 2},
        {**CORE_MSG, "d": 1.5},
    ]
    df = messages_frame(ndjson(*msgs))
    assert df["a"].to_list() == [1, 4, None]
    assert df["b"].to_list() == ['{"k":1}', "[1]", None]
    assert df["c"].to_list() == ["s", "2", None]
    assert df["d"].to_list() == [None, None, 1.5]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (pl.Null(), pl.Boolean(), pl.Boolean()),
        (pl.Boolean(), pl.Int64(), pl.Int64()),
        (pl.Int64(), pl.Float64(), pl.Float64()),
        (pl.Float64(), pl.String(), pl.String()),
        (pl.Int32(), pl.Int64(), pl.Int64()),
        (pl.Struct({"a": pl.Int64()}), pl.Int64(), pl.String()),
        (pl.String(), pl.Null(), pl.String()),
    ],
)
def test_promote(a: pl.DataType, b: pl.DataType, expected: pl.DataType) -> None:
    assert promote(a, b) == expected
    assert promote(b, a) == expected


def test_convert_follows_the_rule() -> None:
    out = pl.select(
        convert(pl.lit(True), pl.Boolean(), pl.Int64()).alias("b2i"),
        convert(pl.lit(5), pl.Int64(), pl.String()).alias("i2s"),
        convert(pl.lit(5.5), pl.Float64(), pl.String()).alias("f2s"),
        convert(pl.lit(False), pl.Boolean(), pl.String()).alias("b2s"),
    )
    assert out.row(0) == (1, "5", "5.5", "false")


def test_unify_promotes_and_fills_missing() -> None:
    a = pl.LazyFrame({"ident": ["a"], "x": [1], "y": [True]})
    b = pl.LazyFrame({"ident": ["b"], "x": [2.5], "z": ["q"]})
    c = pl.LazyFrame({"ident": ["c"], "y": ["s"]})
    out = unify([a, b, c]).collect()
    assert out.schema["x"] == pl.Float64
    assert out.schema["y"] == pl.String
    assert out.rows() == [("a", 1.0, "true", None), ("b", 2.5, None, "q"), ("c", None, "s", None)]
    assert unify([]).collect().is_empty()


_TYPE_VALUES = {
    "boolean": st.booleans(),
    "integer": st.integers(-(2**63), 2**63 - 1),
    "number": st.floats(allow_nan=False, allow_infinity=False),
    "string": st.text(),
}
_BY_TYPE = {t: sorted(n for n, p in PARAMS.items() if p.type == t) for t in _TYPE_VALUES}


@pytest.mark.parametrize("ptype", sorted(_TYPE_VALUES))
def test_every_registry_type_round_trips(ptype: str) -> None:
    name = _BY_TYPE[ptype][0]

    @settings(max_examples=20, deadline=None)
    @given(st.lists(_TYPE_VALUES[ptype], min_size=1, max_size=5))
    def check(values: list[object]) -> None:
        msgs = [{**CORE_MSG, name: v} for v in values]
        assert messages_frame(ndjson(*msgs))[name].to_list() == values

    check()


def test_every_registered_parameter_round_trips() -> None:
    samples = {"boolean": True, "integer": -7, "number": 12.345, "string": 'a"b\u2028c\n'}
    msg = {**CORE_MSG, **{n: samples[p.type] for n, p in PARAMS.items() if n not in CORE_MSG}}
    row = messages_frame(ndjson(msg)).row(0, named=True)
    assert row == msg


@settings(max_examples=20, deadline=None)
@given(st.lists(st.one_of(st.booleans(), st.integers(-(2**62), 2**62), st.text()), max_size=6))
def test_unknown_parameter_of_one_type_round_trips(values: list[object]) -> None:
    kinds = {type(v) for v in values}
    msgs = [{**CORE_MSG, "custom.p": v} for v in values]
    df = messages_frame(ndjson(*msgs))
    if len(kinds) == 1:
        assert df["custom.p"].to_list() == values
    elif values:
        assert df["custom.p"].null_count() == 0  # promoted, never lost


_TAILS: dict[str, tuple[dict[str, object], str, list[object]]] = {
    "new key": ({"late": 5}, "late", [5]),
    "int then float": ({"custom.n": 2.5}, "custom.n", [1.0, 2.5]),
    "bool then int": ({"custom.b": 7}, "custom.b", [1, 7]),
    "null value": ({"custom.n": None, "late": "x"}, "late", ["x"]),
    "colon in string": ({"custom.s": 'k":v', "late": 1}, "late", [1]),
    "nested": ({"late": {"a": 1}}, "late", ['{"a":1}']),
}


@pytest.mark.parametrize("case", sorted(_TAILS))
def test_large_batches_keep_late_keys_and_types(case: str) -> None:
    tail, column, expected = _TAILS[case]
    head = [{**CORE_MSG, "custom.n": 1, "custom.b": True, "custom.s": "s"}] * 4000
    df = messages_frame(ndjson(*head, {**CORE_MSG, **tail}))
    assert len(df) == 4001
    values = df[column].to_list()
    assert [v for v in values if v is not None][-len(expected) :] == expected
    assert values[-1] == expected[-1]


@given(
    st.lists(
        st.sampled_from([b'"', b":", b"null", b"nul", b"l", b"ll", b"x", b'":null', b'":nu', b"\n"])
    )
)
def test_non_null_key_count_is_the_text_count(parts: list[bytes]) -> None:
    text = b"".join(parts)
    assert _non_null_keys(text) == text.count(b'":') - text.count(b'":null')
