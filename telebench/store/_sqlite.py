"""SQLite plumbing shared by the side tables (devices, commands, logs, telemetry, streams).

:class:`SqliteStore` opens one connection (usable from any thread, serialised by a lock),
sets the PRAGMAs, migrates the schema and turns every ``sqlite3.Error`` into a
:class:`~telebench.errors.StoreError` that names the store and its file.

Examples
--------
>>> class Notes(SqliteStore):
...     _label = "note store"
...     _schema_version = 1
...     _migrations = {1: ("CREATE TABLE notes (text TEXT NOT NULL)",)}
>>> with Notes(":memory:") as notes:
...     with notes._write() as conn:
...         _ = conn.execute("INSERT INTO notes VALUES ('hello')")
...     notes._rows("SELECT text FROM notes")
[('hello',)]
>>> notes.closed
True
>>> notes._rows("SELECT 1")
Traceback (most recent call last):
...
telebench.errors.StoreError: note store ':memory:': Cannot operate on a closed database.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from telebench.errors import StoreError
from telebench.store._closing import Closing

__all__ = ["SqliteStore"]


class SqliteStore(Closing):
    """A SQLite file (or ``":memory:"``) with a lock, PRAGMAs and versioned migrations.

    Subclasses set the class attributes and call ``super().__init__(path)`` once the
    attributes their hooks need exist (the migration runs inside :meth:`_write`).
    """

    #: What the store is, for error messages ("command queue").
    _label: ClassVar[str] = "sqlite store"
    #: The schema version this code writes; a newer database is refused.
    _schema_version: ClassVar[int] = 0
    #: ``{version: statements}`` that bring version ``version - 1`` to ``version``.
    _migrations: ClassVar[Mapping[int, Sequence[str]]] = {}
    # NORMAL in WAL mode survives a killed process (the hub's promise); only an OS crash
    # may lose the newest writes, which the hub's own write-ahead log does not depend on.
    _pragmas: ClassVar[tuple[str, ...]] = ("journal_mode=WAL", "synchronous=NORMAL")
    #: SQLite errors :meth:`_write` lets through unchanged, for callers that translate them.
    _passthrough: ClassVar[tuple[type[sqlite3.Error], ...]] = ()

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._closed = False
        # Re-entrant, so a subclass may hold it around calls to _rows() or _write().
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                for pragma in self._pragmas:
                    self._conn.execute(f"PRAGMA {pragma}")
            except BaseException:
                self._conn.close()
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self._label} {self.path!r}: {exc}") from exc
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self) -> None:
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
            if version > self._schema_version:
                raise StoreError(
                    f"{self._label} {self.path!r} has schema version {version}, "
                    f"newer than supported {self._schema_version}"
                )
            for v in range(version + 1, self._schema_version + 1):
                for statement in self._migrations[v]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (v,))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction under the lock; SQLite errors become StoreError."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                except BaseException:
                    # SQLite may already have rolled back (e.g. on a full disk).
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except self._passthrough:
                raise
            except sqlite3.Error as exc:
                raise StoreError(f"{self._label} {self.path!r}: {exc}") from exc

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """All rows of one read, under the lock; SQLite errors become StoreError."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self._label} {self.path!r}: {exc}") from exc

    def close(self) -> None:
        """Close the database; further calls fail with ``StoreError``."""
        with self._lock:
            self._conn.close()
            self._closed = True

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (``with store:`` calls it on the way out)."""
        return self._closed
