"""The stream registry: configs, delivery cursors and counters in ``DIR/streams.sqlite``.

Cursors. A message is addressed by its WAL position ``pos = seq << 24 | line`` (``line``
= its index in the WAL entry's NDJSON). A stream's cursor is the position of the next
message it has not delivered: everything before it was answered 200 (or was skipped by
the subscriptions/filter, or dropped by ``queue_ttl``). The public form is
:class:`Cursor` ``(seq, skip)``: every entry up to ``seq`` is done, and the first ``skip``
lines of entry ``seq + 1``. A ``%ident%`` stream keeps a *base* cursor (everything before
it is done for every ident) plus one cursor per ident that is ahead of the base.

A stream that is added (or re-enabled) has no cursor until the delivery engine first sees
it: it then starts at the WAL head, so only new messages are streamed (flespi semantics:
no historic replay; a disabled stream buffers nothing). ``add(..., start=0)`` replays the
whole WAL instead.

Examples
--------
>>> import tempfile
>>> from telebench.streams.config import StreamConfig
>>> store = StreamStore(tempfile.mkdtemp())
>>> _ = store.add(StreamConfig("crm", "http://127.0.0.1:9/in"), start=41)
>>> store.cursor("crm"), store.min_cursor()
(Cursor(seq=41, skip=0), 41)
>>> store.disable("crm"); store.min_cursor() is None
True
>>> store.close()
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any, Final, NamedTuple

from telebench.errors import ConfigError, StoreError
from telebench.store._sqlite import SqliteStore
from telebench.streams.config import StreamConfig

__all__ = ["LINE_BITS", "Cursor", "StreamStore", "position"]

#: Bits of a position that hold the line index within a WAL entry.
LINE_BITS: Final = 24
# Version 1 is the first: its tables may predate the schema_version table, hence IF NOT EXISTS.
_SCHEMA_VERSION: Final = 1
_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        """
        CREATE TABLE IF NOT EXISTS streams (
            name TEXT PRIMARY KEY, uid TEXT NOT NULL, config TEXT NOT NULL,
            created REAL NOT NULL, updated REAL NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS cursors (
            stream TEXT NOT NULL, ident TEXT NOT NULL, pos INTEGER,
            PRIMARY KEY (stream, ident))
        """,
        """
        CREATE TABLE IF NOT EXISTS stats (
            stream TEXT PRIMARY KEY, delivered INTEGER NOT NULL DEFAULT 0,
            batches INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
            last_status INTEGER, last_error TEXT, last_error_time REAL, last_delivery REAL,
            last_batch TEXT)
        """,
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    ),
}
_COUNTERS: Final = ("delivered", "batches", "dropped", "skipped", "failures")
_LAST: Final = ("last_status", "last_error", "last_error_time", "last_delivery", "last_batch")


def position(seq: int, line: int = 0) -> int:
    """The position of line ``line`` of WAL entry ``seq``.

    >>> position(3, 2) >> LINE_BITS, position(3, 2) & 0xFFFFFF
    (3, 2)
    """
    if line >= 1 << LINE_BITS:
        raise StoreError(f"WAL entry {seq} has more than {1 << LINE_BITS} messages")
    return seq << LINE_BITS | line


class Cursor(NamedTuple):
    """Entries ``<= seq`` are delivered, and the first ``skip`` lines of entry ``seq + 1``."""

    seq: int
    skip: int = 0

    @classmethod
    def from_pos(cls, pos: int) -> Cursor:
        """The cursor whose next message is at ``pos``."""
        return cls((pos >> LINE_BITS) - 1, pos & ((1 << LINE_BITS) - 1))

    @property
    def pos(self) -> int:
        """Position of the next message to deliver."""
        return position(self.seq + 1, self.skip)


class StreamStore(SqliteStore):
    """Thread-safe registry of streams (module doc). ``store_dir`` holds ``streams.sqlite``."""

    _label = "stream registry"
    _schema_version = _SCHEMA_VERSION
    _migrations = _MIGRATIONS
    _pragmas = (*SqliteStore._pragmas, "busy_timeout=5000")

    def __init__(self, store_dir: str | Path) -> None:
        path = Path(store_dir) / "streams.sqlite"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open {self._label} {str(path)!r}: {exc}") from exc
        super().__init__(path)

    # --- configs ----------------------------------------------------------------------------

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO meta VALUES ('revision', 1) "
            "ON CONFLICT(key) DO UPDATE SET value = value + 1"
        )

    def revision(self) -> int:
        """A number that changes whenever any stream's config changes."""
        rows = self._rows("SELECT value FROM meta WHERE key = 'revision'")
        return int(rows[0][0]) if rows else 0

    def add(self, config: StreamConfig, *, start: int | None = None) -> StreamConfig:
        """Register a stream; it starts at the WAL head, or after WAL seq ``start``."""
        if start is not None and (isinstance(start, bool) or not isinstance(start, int)):
            raise ConfigError(f"start must be a WAL seq >= 0 or None, got {start!r}")
        now = time.time()
        text = json.dumps(config.to_dict())
        pos = None if start is None else position(max(start, 0) + 1)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM streams WHERE name = ?", (config.name,)).fetchone():
                raise ConfigError(f"stream {config.name!r} already exists")
            conn.execute(
                "INSERT INTO streams VALUES (?, ?, ?, ?, ?)",
                (config.name, secrets.token_hex(4), text, now, now),
            )
            conn.execute("DELETE FROM cursors WHERE stream = ?", (config.name,))
            conn.execute("INSERT INTO cursors VALUES (?, '', ?)", (config.name, pos))
            conn.execute("DELETE FROM stats WHERE stream = ?", (config.name,))
            conn.execute("INSERT INTO stats (stream) VALUES (?)", (config.name,))
            self._bump(conn)
        return config

    def get(self, name: str) -> StreamConfig:
        """The stream called ``name`` (``StoreError`` when there is none)."""
        rows = self._rows("SELECT config FROM streams WHERE name = ?", (name,))
        if not rows:
            raise StoreError(f"no stream named {name!r} in {self.path}")
        return StreamConfig.from_dict(json.loads(rows[0][0]))

    def uid(self, name: str) -> str:
        """Random id of this incarnation of the stream (part of every batch id)."""
        rows = self._rows("SELECT uid FROM streams WHERE name = ?", (name,))
        if not rows:
            raise StoreError(f"no stream named {name!r} in {self.path}")
        return str(rows[0][0])

    def list(self) -> list[StreamConfig]:
        """Every stream, by name."""
        rows = self._rows("SELECT config FROM streams ORDER BY name")
        return [StreamConfig.from_dict(json.loads(text)) for (text,) in rows]

    def update(self, name: str, /, **fields: Any) -> StreamConfig:
        """Change fields of a stream (not its name); re-enabling restarts it at the head."""
        if "name" in fields:
            raise ConfigError("a stream cannot be renamed; remove it and add it again")
        old = self.get(name)
        new = old.replace(**fields)
        with self._write() as conn:
            conn.execute(
                "UPDATE streams SET config = ?, updated = ? WHERE name = ?",
                (json.dumps(new.to_dict()), time.time(), name),
            )
            if new.enabled and not old.enabled:
                # A disabled stream buffered nothing: it resumes from the head, as a new
                # incarnation (new uid: a worker of the old one can no longer commit).
                conn.execute("DELETE FROM cursors WHERE stream = ?", (name,))
                conn.execute("INSERT INTO cursors VALUES (?, '', NULL)", (name,))
                conn.execute(
                    "UPDATE streams SET uid = ? WHERE name = ?", (secrets.token_hex(4), name)
                )
            self._bump(conn)
        return new

    def enable(self, name: str) -> None:
        """Enable a stream (it starts at the WAL head: nothing was buffered meanwhile)."""
        self.update(name, enabled=True)

    def disable(self, name: str) -> None:
        """Disable a stream: nothing is delivered or kept for it until re-enabled."""
        self.update(name, enabled=False)

    def remove(self, name: str) -> None:
        """Delete a stream with its cursors and counters."""
        with self._write() as conn:
            if not conn.execute("DELETE FROM streams WHERE name = ?", (name,)).rowcount:
                raise StoreError(f"no stream named {name!r} in {self.path}")
            conn.execute("DELETE FROM cursors WHERE stream = ?", (name,))
            conn.execute("DELETE FROM stats WHERE stream = ?", (name,))
            self._bump(conn)

    # --- cursors ----------------------------------------------------------------------------

    def base(self, name: str) -> int | None:
        """The stream's base position (``None``: not started, it will start at the head)."""
        rows = self._rows("SELECT pos FROM cursors WHERE stream = ? AND ident = ''", (name,))
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def cursor(self, name: str) -> Cursor | None:
        """The stream's (base) cursor, ``None`` before the delivery engine started it."""
        pos = self.base(name)
        return None if pos is None else Cursor.from_pos(pos)

    def ident_cursors(self, name: str) -> dict[str, int]:
        """Positions of the idents of a ``%ident%`` stream that are ahead of the base."""
        rows = self._rows(
            "SELECT ident, pos FROM cursors WHERE stream = ? AND ident != ''", (name,)
        )
        return {ident: int(pos) for ident, pos in rows}

    def start_at(self, name: str, pos: int) -> None:
        """Set the base of a stream that has none yet (the engine's start-at-head)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE cursors SET pos = ? WHERE stream = ? AND ident = '' AND pos IS NULL",
                (pos, name),
            )

    def commit(
        self,
        name: str,
        base: int,
        idents: dict[str, int],
        counters: dict[str, Any],
        *,
        uid: str | None = None,
    ) -> bool:
        """Advance cursors and counters of a stream in one transaction (the engine's call).

        ``counters`` adds to ``delivered``, ``batches``, ``dropped``, ``skipped``,
        ``failures`` and sets the ``last_*`` fields it names. With ``uid``, nothing is
        written (and ``False`` returned) unless the stream is still that incarnation.
        """
        adds = [int(counters.get(c, 0)) for c in _COUNTERS]
        lasts = [(c, counters[c]) for c in _LAST if c in counters]
        with self._write() as conn:
            if uid is not None:
                row = conn.execute("SELECT uid FROM streams WHERE name = ?", (name,)).fetchone()
                if row is None or row[0] != uid:
                    return False
            conn.execute(
                "UPDATE cursors SET pos = ? WHERE stream = ? AND ident = '' AND pos IS NOT NULL",
                (base, name),
            )
            conn.executemany(
                "INSERT INTO cursors VALUES (?, ?, ?) "
                "ON CONFLICT(stream, ident) DO UPDATE SET pos = excluded.pos",
                [(name, ident, pos) for ident, pos in idents.items()],
            )
            conn.execute(
                "DELETE FROM cursors WHERE stream = ? AND ident != '' AND pos <= ?", (name, base)
            )
            sets = ", ".join([f"{c} = {c} + ?" for c in _COUNTERS] + [f"{c} = ?" for c, _ in lasts])
            conn.execute(
                f"UPDATE stats SET {sets} WHERE stream = ?",
                (*adds, *(v for _, v in lasts), name),
            )
        return True

    def stats(self, name: str) -> dict[str, Any]:
        """Counters and last status/error of a stream."""
        columns = (*_COUNTERS, *_LAST)
        rows = self._rows(f"SELECT {', '.join(columns)} FROM stats WHERE stream = ?", (name,))
        if not rows:
            raise StoreError(f"no stream named {name!r} in {self.path}")
        return dict(zip(columns, rows[0], strict=True))

    def min_cursor(self) -> int | None:
        """The WAL seq up to which every enabled stream is done (``None``: none waits).

        The hub may trim WAL segments whose entries are all ``<=`` this seq. Disabled
        streams and streams not started yet (they start at the head) hold nothing back.
        """
        rows = self._rows(
            "SELECT s.config, c.pos FROM streams s JOIN cursors c "
            "ON c.stream = s.name AND c.ident = '' WHERE c.pos IS NOT NULL"
        )
        seqs = [
            Cursor.from_pos(int(pos)).seq
            for text, pos in rows
            if json.loads(text).get("enabled", True)
        ]
        return min(seqs) if seqs else None
