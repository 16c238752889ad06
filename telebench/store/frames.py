"""Messages as Polars frames: NDJSON parsing, registry typing and the one promotion rule.

Type promotion rule
-------------------
Every column of a message frame has one of five types, ordered::

    Null < Boolean < Int64 < Float64 < String

When one column holds values of different types (in one NDJSON batch, or across Parquet
files with different schemas) the column takes the *larger* type and every value is
converted to it:

* Boolean -> Int64 / Float64: ``false``/``true`` become ``0``/``1`` (``0.0``/``1.0``);
* Int64 -> Float64: ``5`` becomes ``5.0`` (integers beyond ±2**53 lose precision);
* anything -> String: the value's JSON text, ``true`` -> ``"true"``, ``5`` -> ``"5"``,
  ``5.5`` -> ``"5.5"`` (floats as Polars renders them, e.g. ``1e+300``: valid JSON).

Nested JSON values (lists, objects) are stored as their compact JSON text (String), and an
integer outside the Int64 range is stored as its exact decimal text (String), so neither is
ever lost. Any other Polars dtype met in :func:`unify` ranks with its kind (all integer
widths as Int64, all floats as Float64, anything else as String).

Registry typing. Parameters named in :data:`telebench.params.PARAMS` are converted to their
registry type (boolean -> Boolean, integer -> Int64, number -> Float64, string -> String)
when that conversion is exact: an upcast by the rule above, or a downcast that casts back to
the same values (``59.0`` -> ``59`` for an integer, ``0``/``1`` -> ``false``/``true`` for a
boolean, ``"12"`` -> ``12``). A column whose values do not all convert exactly keeps the
promoted type ``promote(inferred, registry)`` instead; nothing is nulled. Core columns
(:data:`CORE_SCHEMA`) always have their type; a value that cannot take it raises
:class:`~telebench.errors.SchemaError`.

Round trip. A parameter written with its registry type (or, if unknown, with one JSON type
throughout the batch) reads back as the same Python value. A promoted column reads back
converted as listed above.

Examples
--------
>>> df = messages_frame(b'{"ident":"1","timestamp":1,"position.speed":59}\\n')
>>> df["position.speed"].to_list(), df["timestamp"].dtype
([59.0], Float64)
>>> promote(pl.Boolean(), pl.Int64())
Int64
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import orjson
import polars as pl

from telebench.errors import SchemaError
from telebench.params import PARAMS

__all__ = ["CORE_SCHEMA", "REGISTRY_DTYPES", "convert", "messages_frame", "promote", "unify"]

#: The columns every stored message has, with their fixed types.
CORE_SCHEMA: Final[Mapping[str, pl.DataType]] = {
    "ident": pl.String(),
    "timestamp": pl.Float64(),
    "server.timestamp": pl.Float64(),
    "channel.id": pl.Int64(),
    "protocol.name": pl.String(),
    "peer": pl.String(),
    "device.id": pl.Int64(),
}

_PARAM_DTYPES: Final[Mapping[str, pl.DataType]] = {
    "boolean": pl.Boolean(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "string": pl.String(),
}
#: Registry parameter name -> Polars dtype.
REGISTRY_DTYPES: Final[Mapping[str, pl.DataType]] = {
    name: _PARAM_DTYPES[p.type] for name, p in PARAMS.items()
}
_LATTICE: Final = (pl.Null(), pl.Boolean(), pl.Int64(), pl.Float64(), pl.String())
_FLAT: Final = _LATTICE[1:]
#: Batches larger than this are parsed with the schema of their first this-many bytes.
_SAMPLE_BYTES: Final = 256 * 1024


def _rank(dtype: pl.DataType) -> int:
    if dtype == pl.Null:
        return 0
    if dtype == pl.Boolean:
        return 1
    if dtype.is_integer():
        return 2
    if dtype.is_float():
        return 3
    return 4


def promote(a: pl.DataType, b: pl.DataType) -> pl.DataType:
    """The type a column holding values of types ``a`` and ``b`` gets (module docstring).

    Examples
    --------
    >>> promote(pl.Int64(), pl.Float64()), promote(pl.Boolean(), pl.String())
    (Float64, String)
    >>> promote(pl.Null(), pl.Boolean())
    Boolean
    """
    if a == b and _rank(a) < 4:
        return _LATTICE[_rank(a)]
    return _LATTICE[max(_rank(a), _rank(b))]


def convert(expr: pl.Expr, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """``expr`` (of dtype ``source``) converted up to ``target`` by the promotion rule.

    Examples
    --------
    >>> pl.select(convert(pl.lit(True), pl.Boolean(), pl.String())).item()
    'true'
    """
    if source == target:
        return expr
    if _rank(source) == 4 and target == pl.String and source != pl.String:
        # Nested or exotic dtypes: their JSON text.
        return pl.struct(expr.alias("v")).struct.json_encode().str.slice(5).str.head(-1)
    return expr.cast(target)


def _exact_downcast(series: pl.Series, target: pl.DataType) -> pl.Series | None:
    """``series`` cast to a smaller lattice type if every value survives, else ``None``."""
    if series.dtype == pl.String and target == pl.Boolean:
        lowered = series.replace_strict({"true": True, "false": False}, default=None)
        cast = lowered.cast(pl.Boolean)
    else:
        cast = series.cast(target, strict=False)
    if cast.null_count() != series.null_count():
        return None
    back = convert(pl.lit(cast), target, series.dtype)
    if not pl.select(back.eq_missing(series).all()).item():
        return None
    return cast.alias(series.name)


def _coerce(series: pl.Series, target: pl.DataType, *, core: bool) -> pl.Series:
    if series.dtype == target:
        return series
    if promote(series.dtype, target) == target:
        return pl.select(convert(pl.lit(series), series.dtype, target)).to_series()
    cast = _exact_downcast(series, target)
    if cast is not None:
        return cast
    if core:
        shown = series.drop_nulls().head(3).to_list()
        msg = f"core column {series.name!r} must be {target}; values {shown!r}... are not"
        raise SchemaError(msg)
    return series


def _empty_core() -> pl.DataFrame:
    return pl.DataFrame(schema=dict(CORE_SCHEMA))


def _lines(ndjson: bytes) -> pl.Series:
    # JSON text never holds a raw "\n" inside a value, so splitting on it is exact.
    lines = pl.Series("line", ndjson.decode().split("\n")).str.strip_chars()
    return lines.filter(lines.str.len_bytes() > 0)


def _json_path(key: str) -> str:
    return "$[" + orjson.dumps(key).decode() + "]"


def _read_conflicting(ndjson: bytes) -> pl.DataFrame:
    """Slow path for batches whose columns mix JSON types Polars cannot unify itself.

    Each value's JSON kind is found by reading the batch once per scalar type with
    ``ignore_errors`` (a value of another kind reads as null), then the rule applies.
    """
    try:
        lines = _lines(ndjson)
        objects = list(map(orjson.loads, lines))
    except (UnicodeDecodeError, orjson.JSONDecodeError) as exc:
        raise SchemaError(f"messages are not NDJSON objects: {exc}") from exc
    if not all(map(isinstance, objects, itertools.repeat(dict))):
        raise SchemaError("messages are not NDJSON objects: a line is not a JSON object")
    # Key discovery: chain() yields every message's keys (C-level iteration, no loop body).
    keys = list(dict.fromkeys(itertools.chain.from_iterable(objects)))
    probes = {
        dtype: pl.read_ndjson(ndjson, schema=dict.fromkeys(keys, dtype), ignore_errors=True)
        for dtype in (pl.Boolean(), pl.Int64(), pl.Float64())
    }
    columns = []
    for key in keys:
        b, i, f = (probes[t][key] for t in (pl.Boolean(), pl.Int64(), pl.Float64()))
        text = lines.str.json_path_match(_json_path(key))
        big = f.is_not_null() & i.is_null() & text.str.contains(r"^-?\d+$")
        is_str = (text.is_not_null() & b.is_null() & f.is_null()) | big
        if is_str.any():
            col = text
        elif (f.is_not_null() & i.is_null()).any():
            col = f.fill_null(b.cast(pl.Float64))
        elif i.is_not_null().any():
            col = i.fill_null(b.cast(pl.Int64))
        else:
            col = b if b.is_not_null().any() else pl.Series(key, [None] * len(lines))
        columns.append(col.alias(key))
    return pl.DataFrame(columns)


def _fix_inferred(ndjson: bytes, df: pl.DataFrame) -> pl.DataFrame:
    """Fast-path post-processing: nested values to JSON text, huge integers to text."""
    lines: pl.Series | None = None
    fixed = []
    for name, dtype in df.schema.items():
        if dtype.is_nested():
            lines = _lines(ndjson) if lines is None else lines
            fixed.append(lines.str.json_path_match(_json_path(name)).alias(name))
        elif dtype.is_integer() and dtype != pl.Int64:
            # Only integers beyond Int64 make Polars infer a wider type: keep their text.
            wide = df[name]
            narrow = wide.cast(pl.Int64, strict=False)
            exact = narrow.null_count() == wide.null_count()
            fixed.append(narrow if exact else wide.cast(pl.String))
    return df.with_columns(fixed) if fixed else df


def messages_frame(ndjson: bytes) -> pl.DataFrame:
    """Parse newline-delimited JSON messages into a typed frame (module docstring).

    Examples
    --------
    >>> raw = b'{"ident":"a","timestamp":2,"x":true}\\n{"ident":"b","timestamp":1,"x":3}\\n'
    >>> messages_frame(raw).select("ident", "x").rows()
    [('a', 1), ('b', 3)]
    """
    if not ndjson or ndjson.isspace():  # not strip(): a copy of the batch, holding the GIL
        return _empty_core()
    try:
        df = _read_sampled(ndjson)
        if df is None:
            df = pl.read_ndjson(ndjson, infer_schema_length=None)
        df = _fix_inferred(ndjson, df)
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
        df = _read_conflicting(ndjson)
    return _typed(df)


def _read_sampled(ndjson: bytes) -> pl.DataFrame | None:
    """Read a large batch with the schema inferred from its head, if that loses nothing.

    Full schema inference costs more than the parse itself. The head's schema is used when
    it is flat and the parse kept every non-null value: each key of the text ends in
    ``":`` (a ``":`` inside a string only adds to the count), so the text's count of
    ``":`` minus ``":null`` equals the frame's non-null cells only if no key was dropped
    and no value nulled. A value of another type makes the typed parse raise instead.
    """
    cut = ndjson.find(b"\n", _SAMPLE_BYTES)
    if len(ndjson) <= _SAMPLE_BYTES or cut < 0:
        return None
    try:
        schema = pl.scan_ndjson(ndjson[: cut + 1], infer_schema_length=None).collect_schema()
        if not all(dtype in _FLAT for dtype in schema.values()):
            return None
        df = pl.read_ndjson(ndjson, schema=schema)
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
        return None
    cells = df.height * df.width - sum(df.null_count().row(0))
    return df if _non_null_keys(ndjson) == cells else None


#: ``":`` and ``":nu`` as little-endian integers: the patterns _non_null_keys compares.
_KEY: Final = int.from_bytes(b'":', "little")
_NULL_HEAD: Final = int.from_bytes(b'":nu', "little")
_L: Final = ord("l")


def _non_null_keys(ndjson: bytes) -> int:
    """The count of ``":`` minus that of ``":null`` in ``ndjson``.

    In numpy rather than ``bytes.count``: its comparisons release the GIL, which the hub's
    event loop needs while the flusher reads a batch. Each 2-byte pattern is found by
    comparing 16-bit words at both alignments, and ``":nu`` by 32-bit words at all four,
    about 3 times faster than comparing bytes; only ``":nu`` hits (nulls, rare) are looked
    at one by one, to check the ``ll`` after them.

    >>> _non_null_keys(b'{"a":1,"b":null,"c":"x"}')
    2
    """
    size = len(ndjson)
    if size < 4:  # no room for a pattern at every alignment (and no ":null either)
        return ndjson.count(b'":')
    keys = 0
    for start in (0, 1):
        words = np.frombuffer(ndjson, "<u2", count=(size - start) // 2, offset=start)
        keys += int(np.count_nonzero(words == _KEY))
    text = np.frombuffer(ndjson, np.uint8)
    nulls = 0
    for start in range(4):
        words = np.frombuffer(ndjson, "<u4", count=(size - start) // 4, offset=start)
        at = np.flatnonzero(words == _NULL_HEAD) * 4 + start + 4  # just after ":nu
        at = at[at + 2 <= size]
        nulls += int(np.count_nonzero((text[at] == _L) & (text[at + 1] == _L)))
    return keys - nulls


def _typed(df: pl.DataFrame) -> pl.DataFrame:
    columns = []
    for name in df.columns:
        core = CORE_SCHEMA.get(name)
        target = core if core is not None else REGISTRY_DTYPES.get(name)
        series = df[name]
        if target is not None:
            series = _coerce(series, target, core=core is not None)
        columns.append(series)
    out = pl.DataFrame(columns)
    core_cols = [
        pl.col(n) if n in df else pl.lit(None, dtype).alias(n) for n, dtype in CORE_SCHEMA.items()
    ]
    return out.select(*core_cols, pl.exclude(*CORE_SCHEMA))


def unify(frames: Sequence[pl.LazyFrame]) -> pl.LazyFrame:
    """Diagonal concat of ``frames``, promoting conflicting columns by the rule.

    Examples
    --------
    >>> a = pl.LazyFrame({"x": [1]})
    >>> b = pl.LazyFrame({"x": ["s"], "y": [True]})
    >>> unify([a, b]).collect().rows()
    [('1', None), ('s', True)]
    """
    if not frames:
        return pl.LazyFrame()
    schemas = [f.collect_schema() for f in frames]
    target: dict[str, pl.DataType] = {}
    for schema in schemas:
        for name, dtype in schema.items():
            target[name] = promote(target[name], dtype) if name in target else promote(dtype, dtype)
    cast = [
        f.select(convert(pl.col(n), d, target[n]).alias(n) for n, d in s.items())
        for f, s in zip(frames, schemas, strict=True)
    ]
    if len(cast) == 1:
        return cast[0]
    return pl.concat(cast, how="diagonal")
