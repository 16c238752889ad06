"""The shared SQLite base: opening, migrations, transactions, error translation."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from telebench.errors import StoreError
from telebench.store._sqlite import SqliteStore


class Notes(SqliteStore):
    _label = "note store"
    _schema_version = 1
    _migrations: ClassVar[Mapping[int, Sequence[str]]] = {
        1: ("CREATE TABLE notes (text TEXT NOT NULL UNIQUE)",)
    }


class NotesV2(Notes):
    _schema_version = 2
    _migrations: ClassVar[Mapping[int, Sequence[str]]] = {
        **Notes._migrations,
        2: ("ALTER TABLE notes ADD COLUMN n INTEGER",),
    }


class StrictNotes(Notes):
    _passthrough = (sqlite3.IntegrityError,)


def _add(store: SqliteStore, text: str) -> None:
    with store._write() as conn:
        conn.execute("INSERT INTO notes (text) VALUES (?)", (text,))


def _add_then_fail(store: SqliteStore) -> None:
    with store._write() as conn:
        conn.execute("INSERT INTO notes (text) VALUES ('lost')")
        raise ZeroDivisionError


def test_pragmas_and_schema_version(tmp_path: Path) -> None:
    with Notes(tmp_path / "n.sqlite") as notes:
        assert notes._rows("PRAGMA journal_mode") == [("wal",)]
        assert notes._rows("PRAGMA synchronous") == [(1,)]  # NORMAL
        assert notes._rows("SELECT version FROM schema_version") == [(1,)]


def test_migrates_only_the_missing_versions(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite"
    with Notes(path) as notes:
        _add(notes, "kept")
    with NotesV2(path) as notes:
        assert notes._rows("SELECT text, n FROM notes") == [("kept", None)]
        assert notes._rows("SELECT version FROM schema_version ORDER BY 1") == [(1,), (2,)]
    with pytest.raises(StoreError, match=r"note store '.*n\.sqlite' has schema version 2, newer"):
        Notes(path)


def test_unopenable_and_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open note store"):
        Notes(tmp_path / "missing" / "n.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just some text" * 100)
    with pytest.raises(StoreError, match=r"cannot open note store '.*junk\.sqlite': file is not a"):
        Notes(junk)


def test_failed_write_rolls_back_and_reraises(tmp_path: Path) -> None:
    with Notes(tmp_path / "n.sqlite") as notes:
        with pytest.raises(ZeroDivisionError):
            _add_then_fail(notes)
        assert notes._rows("SELECT count(*) FROM notes") == [(0,)]
        _add(notes, "a")
        with pytest.raises(StoreError, match=r"note store .*UNIQUE constraint failed"):
            _add(notes, "a")
        assert not notes._conn.in_transaction
        _add(notes, "b")  # the connection is usable again
        assert notes._rows("SELECT text FROM notes ORDER BY 1") == [("a",), ("b",)]


def test_passthrough_errors_are_not_translated(tmp_path: Path) -> None:
    with StrictNotes(tmp_path / "n.sqlite") as notes:
        _add(notes, "a")
        with pytest.raises(sqlite3.IntegrityError):
            _add(notes, "a")


def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    notes = Notes(tmp_path / "n.sqlite")
    notes.close()
    with pytest.raises(StoreError, match="closed database"):
        notes._rows("SELECT 1")
    with pytest.raises(StoreError, match="closed database"):
        _add(notes, "x")
