"""Device telemetry: the latest value of every parameter of every device, as in flespi.

The values live in memory as one *newest frame* (:mod:`telebench.store.newest`: one row
per device, one struct column of JSON-text value and timestamp per parameter) and on disk
as one Parquet file of the same shape, rewritten atomically when saved. A batch of
messages is folded in with Polars: its newest value per device and parameter, then a join
one row per device, where an incoming value wins only if its message is at least as new,
so a late black-box message never overwrites fresher data. Values keep their Python type:
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

import contextlib
import io
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import polars as pl

from telebench.errors import StoreError
from telebench.model import Value
from telebench.store._closing import Closing
from telebench.store.newest import (
    LONG_SCHEMA,
    VALUE,
    empty_newest,
    encode_values,
    long_form,
    merge_newest,
    newest_values,
    wide_form,
)
from telebench.store.partfiles import atomic_write_bytes

__all__ = ["SCHEMA_VERSION", "TelemetryStore", "encode_values", "latest_values"]

#: Version of the file layout this module writes (Parquet key-value metadata
#: ``telebench.telemetry.version``); a newer file is refused. Version 2 files (one
#: ``ident, name, value, timestamp`` row per value) are read and rewritten as 3.
SCHEMA_VERSION: Final = 3
_VERSION_KEY: Final = "telebench.telemetry.version"


def latest_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Fold a message batch to the newest ``(ident, name, value, timestamp)`` per param.

    Ties on ``timestamp`` go to the later row (the later arrival). Rows come ordered by
    ident and name.

    Examples
    --------
    >>> df = pl.DataFrame({"ident": ["a", "a"], "timestamp": [5.0, 3.0], "x": [None, 1]})
    >>> latest_values(df).rows()
    [('a', 'timestamp', '5.0', 5.0), ('a', 'x', '1', 3.0)]
    """
    return long_form(newest_values(frame))


class TelemetryStore(Closing):
    """Latest parameter values per device, in memory and in one Parquet file.

    ``path`` is the Parquet file (``DIR/telemetry.parquet`` in a hub's store) or
    ``":memory:"``. Every change rewrites the file atomically (fsync'd temp file renamed
    in), so a killed process leaves the previous or the new state, never a torn one;
    ``update(..., persist=False)`` leaves the write to a later :meth:`save`. A
    telemetry SQLite file of an older telebench (``legacy``) is read once and renamed
    ``*.migrated``. Methods may be called from any thread.

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

    def __init__(self, path: str | Path, *, legacy: Path | None = None) -> None:
        self.path = None if str(path) == ":memory:" else Path(path)
        self._lock = threading.Lock()
        self._closed = False
        self._state = empty_newest()
        self._unsaved = False  # values folded in since the file was last written
        if self.path is None:
            return
        if not self.path.parent.is_dir():
            raise StoreError(f"cannot open telemetry store {str(self.path)!r}: no such folder")
        if self.path.exists():
            self._state, self._unsaved = _read_state(self.path)
        elif legacy is not None and legacy.exists():
            self._state, self._unsaved = _read_legacy(legacy), True
            self._save()
            legacy.replace(legacy.with_name(legacy.name + ".migrated"))

    def update(self, frame: pl.DataFrame, *, persist: bool = True) -> int:
        """Fold a batch of stored messages in; returns how many values were written.

        Every column but ``ident`` is a parameter (``timestamp`` included, as in flespi);
        nulls mean "not in this message". A stored value is replaced only by one from a
        message whose ``timestamp`` is greater or equal. ``SchemaError`` if ``ident`` or
        ``timestamp`` is missing or null, or a column holds non-scalar values. With
        ``persist=False`` the file is left for a later :meth:`save` (the hub can replay
        what a crash loses from its WAL).
        """
        if frame.height == 0:
            return 0
        incoming = newest_values(frame)
        with self._lock:
            merged, written = merge_newest(self._live(), incoming)
            if written:
                self._state, self._unsaved = merged, True
            if persist:
                self._save()
            return written

    def save(self) -> None:
        """Write values folded with ``persist=False`` to the file (nothing if none are)."""
        with self._lock:
            self._live()
            self._save()

    def get(self, ident: str) -> dict[str, tuple[Value, float]]:
        """``name -> (value, timestamp of the message that set it)`` for one device.

        Examples
        --------
        >>> with TelemetryStore(":memory:") as tel:
        ...     _ = tel.update(pl.DataFrame({"ident": ["x"], "timestamp": [1.5], "n": ["7"]}))
        ...     tel.get("x"), tel.get("nobody")
        ({'n': ('7', 1.5), 'timestamp': (1.5, 1.5)}, {})
        """
        rows = self._live().filter(pl.col("ident") == ident)
        if rows.height == 0:
            return {}
        values = rows.row(0, named=True)
        del values["ident"]
        return {
            name: (json.loads(held["value"]), held["timestamp"])
            for name, held in sorted(values.items())
            if held is not None
        }

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
        state = self._live()
        if idents is not None:
            if isinstance(idents, str):
                idents = [idents]
            state = state.filter(pl.col("ident").is_in(list(idents)))
        return long_form(state)

    def delete(self, ident: str, names: Sequence[str] | None = None) -> int:
        """Forget all (or the named) values of ``ident``; returns how many were deleted."""
        if isinstance(names, str):
            names = [names]
        with self._lock:
            state = self._live()
            params = state.columns[1:] if names is None else [n for n in names if n in state]
            hit = pl.col("ident") == ident
            held = state.filter(hit).select(pl.col(params).is_not_null().sum())
            deleted = sum(held.row(0)) if held.height and params else 0
            if deleted:
                if names is None:
                    self._state = state.filter(~hit)
                else:
                    self._state = state.with_columns(pl.when(~hit).then(pl.col(params)))
                self._unsaved = True
                self._save()
            return deleted

    def close(self) -> None:
        """Release the values; further calls fail with ``StoreError``."""
        with self._lock:
            self._closed = True
            self._state = empty_newest()

    def _live(self) -> pl.DataFrame:
        if self._closed:
            raise StoreError(f"telemetry store {str(self.path or ':memory:')!r} is closed")
        return self._state

    def _save(self) -> None:
        """Write the values to the file (atomically) if they changed since the last write."""
        if self.path is not None and self._unsaved:
            buffer = io.BytesIO()
            self._state.write_parquet(buffer, metadata={_VERSION_KEY: str(SCHEMA_VERSION)})
            atomic_write_bytes(buffer.getvalue(), self.path)
        self._unsaved = False


def _read_state(path: Path) -> tuple[pl.DataFrame, bool]:
    """The values in a telemetry Parquet file, and whether it is of an older layout.

    ``StoreError`` if it is not one of ours.
    """
    try:
        version = int(pl.read_parquet_metadata(path).get(_VERSION_KEY, "0"))
        state = pl.read_parquet(path)
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        raise StoreError(f"cannot open telemetry store {str(path)!r}: {exc}") from exc
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"telemetry store {str(path)!r} has schema version {version}, "
            f"newer than supported {SCHEMA_VERSION}"
        )
    if version < SCHEMA_VERSION and state.schema == LONG_SCHEMA:
        return wide_form(state), True
    odd = [
        f"{name}: {dtype}"
        for i, (name, dtype) in enumerate(state.schema.items())
        if dtype != (pl.String if i == 0 else VALUE) or (i == 0) != (name == "ident")
    ]
    if odd or not state.width:
        raise StoreError(
            f"telemetry store {str(path)!r}: expected an 'ident' column, then one struct "
            f"(value: String, timestamp: Float64) a parameter; found {odd[0] if odd else 'none'}"
        )
    return state, False


def _read_legacy(path: Path) -> pl.DataFrame:
    """The values of a telemetry SQLite file (schema 1, telebench before the Parquet file)."""
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            rows = conn.execute("SELECT ident, name, value, timestamp FROM telemetry").fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot migrate telemetry store {str(path)!r}: {exc}") from exc
    return wide_form(pl.DataFrame(rows, schema=LONG_SCHEMA, orient="row"))
