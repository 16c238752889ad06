"""Newest value per device and parameter, as one wide Polars frame: telemetry's algebra.

A *newest frame* has one row per device: an ``ident`` column, then one column per
parameter holding a struct of ``value`` (the value as JSON text, which keeps its Python
type across batches: ``true`` is a bool, ``7`` an int, ``7.0`` a float, ``"7"`` a str) and
``timestamp`` (the ``timestamp`` of the message that carried it); a null struct means
the device has no value of that parameter. :func:`newest_values` folds a message batch
into one, :func:`merge_newest` folds a newer one onto an older one (a value moves only
if its message is at least as new), and :func:`long_form` lists one as
``ident, name, value, timestamp`` rows. Folding stays proportional to the devices
heard from, however many messages they sent, and a merge joins one row a device
rather than one a value.

Examples
--------
>>> batch = pl.DataFrame({"ident": ["a", "a"], "timestamp": [2.0, 1.0], "speed": [50, 70]})
>>> merged, written = merge_newest(empty_newest(), newest_values(batch))
>>> written, long_form(merged).rows()
(2, [('a', 'speed', '50', 2.0), ('a', 'timestamp', '2.0', 2.0)])
"""

from __future__ import annotations

from typing import Final

import polars as pl

from telebench.errors import SchemaError

__all__ = [
    "LONG_SCHEMA",
    "VALUE",
    "empty_newest",
    "encode_values",
    "long_form",
    "merge_newest",
    "newest_rows",
    "newest_values",
    "wide_form",
]

_ROW_INDEX: Final = "__telebench_row"  # scratch column of newest_rows

#: The struct a parameter column of a newest frame holds.
VALUE: Final = pl.Struct({"value": pl.String, "timestamp": pl.Float64})
#: Columns of :func:`long_form`.
LONG_SCHEMA: Final = pl.Schema(
    {"ident": pl.String, "name": pl.String, "value": pl.String, "timestamp": pl.Float64}
)
# Private column names used while folding; no parameter name may contain "__telebench_".
_TS: Final = "__telebench_ts"
_NEW: Final = "__telebench_new"


def _json_expr(name: str, dtype: pl.DataType) -> pl.Expr | None:
    """JSON text of column ``name`` (null stays null); ``None`` for an all-null column."""
    col = pl.col(name)
    if dtype == pl.Null:
        return None
    if dtype == pl.Boolean:
        text = pl.when(col).then(pl.lit("true")).otherwise(pl.lit("false"))
    elif dtype.is_integer():
        text = col.cast(pl.String)
    elif dtype.is_float():
        # Polars prints the shortest repr that round-trips ("0.30000000000000004", "1.0",
        # "1e+20"); non-finite values use the spellings Python's json module reads back.
        f = col.cast(pl.Float64)
        text = (
            pl.when(f.is_nan())
            .then(pl.lit("NaN"))
            .when(f == float("inf"))
            .then(pl.lit("Infinity"))
            .when(f == float("-inf"))
            .then(pl.lit("-Infinity"))
            .otherwise(f.cast(pl.String))
        )
    elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        # Let Polars do the JSON string escaping, then peel off the one-field object.
        text = (
            pl.struct(col.cast(pl.String).alias("v"))
            .struct.json_encode()
            .str.strip_prefix('{"v":')
            .str.strip_suffix("}")
        )
    else:
        raise SchemaError(
            f"telemetry: column {name!r} has dtype {dtype}; expected boolean, integer, "
            "float or string values"
        )
    return pl.when(col.is_not_null()).then(text).alias(name)


def encode_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column of ``frame`` as JSON text (all-null columns dropped).

    Examples
    --------
    >>> df = pl.DataFrame({"b": [True, None], "i": [1, 2], "f": [0.5, 1.0], "s": ['x"', "y"]})
    >>> encode_values(df).rows()
    [('true', '1', '0.5', '"x\\\\""'), (None, '2', '1.0', '"y"')]
    """
    exprs = [_json_expr(c, dt) for c, dt in frame.schema.items()]
    return frame.select([e for e in exprs if e is not None])


def _check_batch(frame: pl.DataFrame) -> None:
    for required in ("ident", "timestamp"):
        if required not in frame.columns:
            raise SchemaError(f"telemetry: batch has no {required!r} column")
        if frame[required].null_count():
            raise SchemaError(f"telemetry: batch has null {required!r} values")
    reserved = [c for c in frame.columns if "__telebench_" in c]
    if reserved:
        raise SchemaError(f"telemetry: column name {reserved[0]!r} is reserved")


def empty_newest() -> pl.DataFrame:
    """A newest frame of no device.

    >>> empty_newest().schema
    Schema([('ident', String)])
    """
    return pl.DataFrame(schema={"ident": pl.String})


def newest_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Fold a message batch (one row a message) to a newest frame (one row a device).

    Every column but ``ident`` is a parameter, ``timestamp`` included (as in flespi);
    nulls mean "not in this message"; ties on ``timestamp`` go to the later row (the later
    arrival). ``SchemaError`` if ``ident`` or ``timestamp`` is missing or null, or a
    column holds non-scalar values.

    Examples
    --------
    >>> df = pl.DataFrame({"ident": ["a", "a"], "timestamp": [5.0, 3.0], "x": [None, 1]})
    >>> newest_values(df).row(0)
    ('a', {'value': '5.0', 'timestamp': 5.0}, {'value': '1', 'timestamp': 3.0})
    """
    _check_batch(frame)
    if frame.height == 0:
        return empty_newest()
    nulls = frame.null_count().row(0, named=True)
    dtypes = frame.schema
    names = [c for c in frame.columns if c != "ident" and nulls[c] < frame.height]
    # After a stable sort by time, the last non-null value in a device's group is its
    # newest. A column without nulls (timestamp, most of a tracker's) takes the group's
    # last row and shares its time; a column with nulls needs its own.
    aggs = [pl.col(_TS).last()]
    stamps = {}
    for i, name in enumerate(names):
        if nulls[name]:
            present = pl.col(name).is_not_null()
            aggs += [
                pl.col(name).last(ignore_nulls=True),
                pl.col(_TS).filter(present).last().alias(f"{_TS}{i}"),
            ]
            stamps[name] = pl.col(f"{_TS}{i}")
        else:
            aggs.append(pl.col(name).last())
            stamps[name] = pl.col(_TS)
    grouped = (
        frame.select("ident", *names, pl.col("timestamp").cast(pl.Float64).alias(_TS))
        .sort(_TS, maintain_order=True)
        .group_by("ident")
        .agg(aggs)
    )
    columns = [pl.col("ident").cast(pl.String)]
    for name in names:
        text = _json_expr(name, dtypes[name])
        assert text is not None  # all-null columns were left out above
        value = pl.struct(text.alias("value"), stamps[name].alias("timestamp"))
        columns.append(pl.when(pl.col(name).is_not_null()).then(value).alias(name))
    return grouped.select(columns)


def merge_newest(older: pl.DataFrame, newer: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Fold newest frame ``newer`` onto ``older``; returns the result and values moved.

    A value of ``newer`` replaces one of ``older`` only if its timestamp is greater or
    equal, so a late black-box message never overwrites fresher data.

    Examples
    --------
    >>> new = newest_values(pl.DataFrame({"ident": ["a"], "timestamp": [9.0], "on": [True]}))
    >>> old = newest_values(pl.DataFrame({"ident": ["a"], "timestamp": [8.0], "v": [1]}))
    >>> merged, written = merge_newest(new, old)
    >>> written, long_form(merged).select("name", "value").rows()
    (1, [('on', 'true'), ('timestamp', '9.0'), ('v', '1')])
    """
    params = newer.columns[1:]
    if not params or newer.height == 0:
        return older, 0
    if older.height == 0:
        moved = newer.select(pl.sum_horizontal(pl.col(params).is_not_null().sum())).item()
        return pl.concat([older, newer], how="diagonal"), int(moved)
    joined = older.join(newer, on="ident", how="full", coalesce=True, suffix=_NEW)
    merged, wins = [], []
    for name in params:
        if name not in older.columns:  # came with this frame: all of it is new
            wins.append(pl.col(name).is_not_null())
            continue
        new, old = pl.col(name + _NEW), pl.col(name)
        fresher = new.struct.field("timestamp") >= old.struct.field("timestamp")
        win = new.is_not_null() & (old.is_null() | fresher)
        merged.append(pl.when(win).then(new).otherwise(old).alias(name))
        wins.append(win)
    moved = joined.select(pl.sum_horizontal(w.sum() for w in wins)).item()
    result = joined.with_columns(merged).drop(n + _NEW for n in params if n in older.columns)
    return result, int(moved)


def long_form(newest: pl.DataFrame) -> pl.DataFrame:
    """A newest frame as ``ident, name, value, timestamp`` rows, by ident then name.

    >>> df = pl.DataFrame({"ident": ["b", "a"], "timestamp": [1.0, 2.0], "v": ["x", None]})
    >>> long_form(newest_values(df)).rows()
    [('a', 'timestamp', '2.0', 2.0), ('b', 'timestamp', '1.0', 1.0), ('b', 'v', '"x"', 1.0)]
    """
    if newest.width == 1:
        return pl.DataFrame(schema=LONG_SCHEMA)
    return (
        newest.unpivot(index="ident", variable_name="name", value_name=_TS)
        .drop_nulls(_TS)
        .unnest(_TS)
        .sort("ident", "name")
    )


def wide_form(rows: pl.DataFrame) -> pl.DataFrame:
    """The newest frame of ``ident, name, value, timestamp`` rows (one per device and name).

    >>> rows = pl.DataFrame({"ident": ["a"], "name": ["v"], "value": ["1"], "timestamp": [2.0]})
    >>> long_form(wide_form(rows)).rows() == rows.rows()
    True
    """
    newest = empty_newest()
    by_name = rows.with_columns(pl.struct("value", "timestamp").alias(_TS))
    for (name,), part in sorted(by_name.partition_by("name", as_dict=True).items()):
        one = part.select("ident", pl.col(_TS).alias(str(name)))
        newest = newest.join(one, on="ident", how="full", coalesce=True)
    return newest


def newest_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows of a message batch that hold some device's newest value of some parameter.

    Telemetry keeps, per device and parameter, the non-null value of the message with the
    greatest ``timestamp`` (the later row on a tie). Those rows are all it reads, so
    dropping the others (keeping the order after a stable sort by time) folds to the same
    values, and the batches waiting for the next fold shrink to about a row per device.

    >>> batch = pl.DataFrame(
    ...     {"ident": ["a", "a", "a", "b"], "timestamp": [1.0, 3.0, 2.0, 1.0], "v": [5, None, 6, 7]}
    ... )
    >>> newest_rows(batch).rows()
    [('b', 1.0, 7), ('a', 2.0, 6), ('a', 3.0, None)]
    """
    if (
        frame.height == 0
        or "ident" not in frame.columns
        or "timestamp" not in frame.columns
        or frame["ident"].null_count()
        or frame["timestamp"].null_count()
    ):
        return frame  # the telemetry store reports what is wrong with it
    ordered = frame.sort("timestamp", maintain_order=True).with_row_index(_ROW_INDEX)
    row = pl.col(_ROW_INDEX)
    nulls = frame.null_count().row(0, named=True)
    # A column without nulls (timestamp, and most of a tracker's) has its newest value in
    # the device's last row: one window serves them all. Each column with some nulls
    # needs its own; an all-null column holds no value to keep.
    newest = [row == row.max().over("ident")]
    newest += [
        row == row.filter(pl.col(name).is_not_null()).max().over("ident")
        for name, count in nulls.items()
        if 0 < count < frame.height and name != "ident"
    ]
    return ordered.filter(pl.any_horizontal(newest)).drop(_ROW_INDEX)
