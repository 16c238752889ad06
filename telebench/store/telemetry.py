"""Device telemetry: the latest value of every parameter of every device, as in flespi.

Each flushed batch of messages is folded in with Polars (unpivot to ``(ident, name, value,
timestamp)``, newest per ``(ident, name)``) and written with one UPSERT that only replaces a
value when the incoming message is at least as new, so a late black-box message never
overwrites fresher data. Values are stored as JSON text, which keeps their Python type:
``true`` is a bool, ``7`` an int, ``7.0`` a float, ``"7"`` a str. Non-finite floats are
written ``NaN``, ``Infinity`` and ``-Infinity`` (not strict JSON, but what ``json.loads``
reads back).

Examples
--------
>>> import polars as pl
>>> batch = pl.DataFrame({"ident": ["a", "a"], "timestamp": [2.0, 1.0], "speed": [50, 70]})
>>> with TelemetryStore(":memory:") as tel:
...     tel.update(batch)
...     tel.get("a")["speed"]
2
(50, 2.0)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

import polars as pl

from telebench.errors import SchemaError
from telebench.model import Value
from telebench.store._sqlite import SqliteStore

__all__ = ["SCHEMA_VERSION", "TelemetryStore", "encode_values", "latest_values"]

#: Version of the schema this module writes; older databases are migrated on open.
SCHEMA_VERSION: Final = 1
_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        """
        CREATE TABLE telemetry (
            ident TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            timestamp REAL NOT NULL,
            PRIMARY KEY (ident, name)
        ) WITHOUT ROWID
        """,
    ),
}
# The whole batch is bound as one JSON array of row objects and unpacked by json_each, so
# the rows never become Python tuples: SQLite does the work with the GIL released, and the
# hub's event loop, which shares the process, keeps running meanwhile.
_UPSERT: Final = (
    "INSERT INTO telemetry (ident, name, value, timestamp)"
    " SELECT json_extract(value, '$.ident'), json_extract(value, '$.name'),"
    " json_extract(value, '$.value'), json_extract(value, '$.timestamp')"
    " FROM json_each(?) WHERE true"  # WHERE: an upsert after SELECT needs it to parse
    " ON CONFLICT(ident, name) DO UPDATE SET value = excluded.value,"
    " timestamp = excluded.timestamp WHERE excluded.timestamp >= telemetry.timestamp"
)
# Private column name prefix used while folding a batch.
_TS: Final = "__telebench_ts"
_FRAME_SCHEMA: Final = {
    "ident": pl.String,
    "name": pl.String,
    "value": pl.String,
    "timestamp": pl.Float64,
}


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


def _check_frame(frame: pl.DataFrame) -> None:
    for required in ("ident", "timestamp"):
        if required not in frame.columns:
            raise SchemaError(f"telemetry: batch has no {required!r} column")
        if frame[required].null_count():
            raise SchemaError(f"telemetry: batch has null {required!r} values")
    reserved = [c for c in frame.columns if c.startswith(_TS)]
    if reserved:
        raise SchemaError(f"telemetry: column name {reserved[0]!r} is reserved")


def latest_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Fold a message batch to the newest ``(ident, name, value, timestamp)`` per param.

    Ties on ``timestamp`` go to the later row (the later arrival).

    Examples
    --------
    >>> df = pl.DataFrame({"ident": ["a", "a"], "timestamp": [5.0, 3.0], "x": [None, 1]})
    >>> latest_values(df).rows()
    [('a', 'timestamp', '5.0', 5.0), ('a', 'x', '1', 3.0)]
    """
    _check_frame(frame)
    values = encode_values(frame.drop("ident"))
    names = values.columns
    ts_names = [f"{_TS}{i}" for i in range(len(names))]
    base = frame.select(
        pl.col("ident").cast(pl.String), pl.col("timestamp").cast(pl.Float64).alias(_TS)
    )
    # Group the wide batch (one row per message) rather than the long one (one row per
    # value): after a stable sort by time, the last non-null value per device is the newest.
    newest = (
        pl.concat([base, values], how="horizontal")
        .sort(_TS, maintain_order=True)
        .group_by("ident")
        .agg(
            *[pl.col(c).last(ignore_nulls=True) for c in names],
            *[
                pl.col(_TS).filter(pl.col(c).is_not_null()).last().alias(t)
                for c, t in zip(names, ts_names, strict=True)
            ],
        )
    )
    # Both unpivots walk the columns in the same order, so the rows line up.
    stamps = newest.select(ts_names).unpivot(value_name="timestamp").get_column("timestamp")
    return (
        newest.select("ident", *names)
        .unpivot(index="ident", variable_name="name", value_name="value")
        .with_columns(stamps)
        .drop_nulls("value")
        .sort("ident", "name")
    )


class TelemetryStore(SqliteStore):
    """Latest parameter values per device in a SQLite file (or ``":memory:"``).

    Examples
    --------
    >>> tel = TelemetryStore(":memory:")
    >>> tel.update(pl.DataFrame({"ident": ["x"], "timestamp": [9.0], "on": [True]}))
    2
    >>> tel.update(pl.DataFrame({"ident": ["x"], "timestamp": [8.0], "on": [False]}))
    0
    >>> tel.get("x")["on"], tel.delete("x", ["on"]), sorted(tel.get("x"))
    ((True, 9.0), 1, ['timestamp'])
    >>> tel.close()
    """

    _label = "telemetry store"
    _schema_version = SCHEMA_VERSION
    _migrations = _MIGRATIONS

    def update(self, frame: pl.DataFrame) -> int:
        """Fold a batch of stored messages in; returns how many values were written.

        Every column but ``ident`` is a parameter (``timestamp`` included, as in flespi);
        nulls mean "not in this message". A stored value is replaced only by one from a
        message whose ``timestamp`` is greater or equal. ``SchemaError`` if ``ident`` or
        ``timestamp`` is missing or null, or a column holds non-scalar values.
        """
        if frame.height == 0:
            return 0
        latest = latest_values(frame)
        with self._write():
            before = self._conn.total_changes
            self._conn.execute(_UPSERT, (latest.write_json(),))
            return self._conn.total_changes - before

    def get(self, ident: str) -> dict[str, tuple[Value, float]]:
        """``name -> (value, timestamp of the message that set it)`` for one device.

        Examples
        --------
        >>> with TelemetryStore(":memory:") as tel:
        ...     _ = tel.update(pl.DataFrame({"ident": ["x"], "timestamp": [1.5], "n": ["7"]}))
        ...     tel.get("x"), tel.get("nobody")
        ({'n': ('7', 1.5), 'timestamp': (1.5, 1.5)}, {})
        """
        rows = self._rows(
            "SELECT ident, name, value, timestamp FROM telemetry WHERE ident = ? ORDER BY name",
            (ident,),
        )
        return {name: (json.loads(value), ts) for _, name, value, ts in rows}

    def frame(self, idents: Sequence[str] | None = None) -> pl.DataFrame:
        """All stored values (of ``idents`` only, if given) as ``ident, name, value, timestamp``.

        ``value`` is the JSON text; rows are ordered by ident then name.

        Examples
        --------
        >>> with TelemetryStore(":memory:") as tel:
        ...     _ = tel.update(pl.DataFrame({"ident": ["x", "y"], "timestamp": [1.0, 2.0]}))
        ...     tel.frame(["y"]).rows()
        [('y', 'timestamp', '2.0', 2.0)]
        """
        sql = "SELECT ident, name, value, timestamp FROM telemetry"
        params: tuple[object, ...] = ()
        if idents is not None:
            if isinstance(idents, str):
                idents = [idents]
            # json_each keeps any number of idents in one bound parameter.
            sql += " WHERE ident IN (SELECT value FROM json_each(?))"
            params = (json.dumps(list(idents)),)
        rows = self._rows(sql + " ORDER BY ident, name", params)
        return pl.DataFrame(rows, schema=_FRAME_SCHEMA, orient="row")

    def delete(self, ident: str, names: Sequence[str] | None = None) -> int:
        """Forget all (or the named) values of ``ident``; returns how many were deleted."""
        with self._write():
            if names is None:
                cur = self._conn.execute("DELETE FROM telemetry WHERE ident = ?", (ident,))
            else:
                if isinstance(names, str):
                    names = [names]
                cur = self._conn.execute(
                    "DELETE FROM telemetry WHERE ident = ? AND name IN "
                    "(SELECT value FROM json_each(?))",
                    (ident, json.dumps(list(names))),
                )
            return int(cur.rowcount)
