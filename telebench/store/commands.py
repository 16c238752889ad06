"""The commands queue: text commands waiting for a device, with flespi's queue semantics.

A command is ``queued`` until the device is connected; the hub then writes it
(:meth:`CommandQueue.mark_sent`, status ``sent``) and the device's next answer completes
the oldest sent command (``done``), since devices answer in order. If the device
disconnects first, :meth:`CommandQueue.requeue_unanswered` puts the command back in the
queue while attempts remain and marks it ``failed`` otherwise. A command not answered
within its ``ttl`` becomes ``expired``.

Examples
--------
>>> with CommandQueue(":memory:") as q:
...     cmd = q.enqueue("356307042441013", "teltonika", "getinfo", now=100.0)
...     [c.text for c in q.due("356307042441013", "teltonika", now=101.0)]
...     q.mark_sent(cmd.id, now=102.0).status
...     done = q.complete("356307042441013", "teltonika", "RTC:2026/11/30", now=103.0)
...     done.status, done.response, done.attempts
['getinfo']
'sent'
('done', 'RTC:2026/11/30', 1)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Final, Literal, get_args

import polars as pl

from telebench.errors import ConfigError, StoreError
from telebench.store._sqlite import SqliteStore

__all__ = ["SCHEMA_VERSION", "STATUSES", "Command", "CommandQueue", "Status"]

Status = Literal["queued", "sent", "done", "expired", "failed"]
#: Every command status, in lifecycle order.
STATUSES: Final[tuple[Status, ...]] = get_args(Status)
#: Version of the schema this module writes; older databases are migrated on open.
SCHEMA_VERSION: Final = 1
_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        """
        CREATE TABLE commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ident TEXT NOT NULL,
            protocol TEXT NOT NULL,
            text TEXT NOT NULL CHECK (text <> ''),
            created REAL NOT NULL,
            expires REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'sent', 'done', 'expired', 'failed')),
            response TEXT,
            responded REAL,
            sent REAL
        )
        """,
        "CREATE INDEX commands_device ON commands (ident, protocol, status, id)",
        "CREATE INDEX commands_status_expires ON commands (status, expires)",
    ),
}
_FIELDS: Final = (
    "id",
    "ident",
    "protocol",
    "text",
    "created",
    "expires",
    "attempts",
    "max_attempts",
    "status",
    "response",
    "responded",
    "sent",
)
_COLUMNS: Final = ", ".join(_FIELDS)
_SCHEMA: Final = {
    "id": pl.Int64,
    "ident": pl.String,
    "protocol": pl.String,
    "text": pl.String,
    "created": pl.Float64,
    "expires": pl.Float64,
    "attempts": pl.Int64,
    "max_attempts": pl.Int64,
    "status": pl.String,
    "response": pl.String,
    "responded": pl.Float64,
    "sent": pl.Float64,
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One command in the queue (times in unix seconds).

    ``attempts`` counts how often it was written to the device; ``response`` and
    ``responded`` are set once the device answered, ``sent`` at the latest write.
    """

    id: int
    ident: str
    protocol: str
    text: str
    created: float
    expires: float
    attempts: int
    max_attempts: int
    status: Status
    response: str | None
    responded: float | None
    sent: float | None


def _row_to_command(row: tuple[Any, ...]) -> Command:
    return Command(**dict(zip(_FIELDS, row, strict=True)))


def _check_enqueue(
    ident: object, protocol: object, text: object, ttl: object, attempts: object, now: object
) -> None:
    for field, value in (("ident", ident), ("protocol", protocol), ("text", text)):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"command {field} must be a non-empty string, got {value!r}")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
        raise ConfigError(f"command ttl must be a finite number of seconds > 0, got {ttl!r}")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ConfigError(f"command max_attempts must be an integer >= 1, got {attempts!r}")
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise ConfigError(f"command now must be finite unix seconds, got {now!r}")


class CommandQueue(SqliteStore):
    """Per-device command queues in a SQLite file (or ``":memory:"``).

    Examples
    --------
    >>> q = CommandQueue(":memory:")
    >>> first = q.enqueue("42", "gt06", "RESET#", ttl=60, max_attempts=1, now=0.0)
    >>> q.mark_sent(first.id, now=1.0).attempts
    1
    >>> q.requeue_unanswered("42", "gt06"), q.get(first.id).status
    (0, 'failed')
    >>> late = q.enqueue("42", "gt06", "WHERE#", ttl=60, now=0.0)
    >>> [c.id for c in q.expire(now=60.0)], q.results("42")["status"].to_list()
    ([2], ['failed', 'expired'])
    >>> q.close()
    """

    _label = "command queue"
    _schema_version = SCHEMA_VERSION
    _migrations = _MIGRATIONS

    def _changed(self, sql: str, params: Sequence[object]) -> list[Command]:
        """Run an ``UPDATE ... RETURNING`` in a transaction; the rows it changed, by id."""
        with self._write():
            rows = self._conn.execute(f"{sql} RETURNING {_COLUMNS}", params).fetchall()
        return sorted((_row_to_command(r) for r in rows), key=lambda c: c.id)

    def _select(self, where: str, params: Sequence[object]) -> list[Command]:
        sql = f"SELECT {_COLUMNS} FROM commands WHERE {where} ORDER BY id"
        return [_row_to_command(r) for r in self._rows(sql, params)]

    def enqueue(
        self,
        ident: str,
        protocol: str,
        text: str,
        *,
        ttl: float = 86400,
        max_attempts: int = 3,
        now: float,
    ) -> Command:
        """Queue ``text`` for the device; it expires ``ttl`` seconds after ``now``.

        ``ConfigError`` on an empty ident, protocol or text, ``ttl <= 0`` or
        ``max_attempts < 1``.
        """
        _check_enqueue(ident, protocol, text, ttl, max_attempts, now)
        (cmd,) = self._changed(
            "INSERT INTO commands (ident, protocol, text, created, expires, max_attempts)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (ident, protocol, text, now, now + ttl, max_attempts),
        )
        return cmd

    def due(self, ident: str, protocol: str, now: float) -> list[Command]:
        """Queued, unexpired commands for the device, oldest first: what to send now."""
        return self._select(
            "ident = ? AND protocol = ? AND status = 'queued' AND expires > ?",
            (ident, protocol, now),
        )

    def mark_sent(self, command_id: int, now: float) -> Command:
        """Record that a queued command was written to the device (one more attempt).

        ``StoreError`` if there is no such command or it is not ``queued``.
        """
        changed = self._changed(
            "UPDATE commands SET status = 'sent', sent = ?, attempts = attempts + 1"
            " WHERE id = ? AND status = 'queued'",
            (now, command_id),
        )
        if not changed:
            cmd = self.get(command_id)
            if cmd is None:
                raise StoreError(f"no command with id {command_id}")
            raise StoreError(f"command {command_id} is {cmd.status!r}; only queued can be sent")
        return changed[0]

    def complete(self, ident: str, protocol: str, response: str, now: float) -> Command | None:
        """Give the device's answer to its oldest ``sent`` command (now ``done``).

        Returns that command, or ``None`` if nothing was awaiting an answer.
        """
        changed = self._changed(
            "UPDATE commands SET status = 'done', response = ?, responded = ?"
            " WHERE id = (SELECT id FROM commands WHERE ident = ? AND protocol = ?"
            " AND status = 'sent' ORDER BY id LIMIT 1)",
            (response, now, ident, protocol),
        )
        return changed[0] if changed else None

    def requeue_unanswered(self, ident: str, protocol: str) -> int:
        """On disconnect: sent-but-unanswered commands go back to the queue.

        A command that already used ``max_attempts`` becomes ``failed`` instead. Returns how
        many were requeued.
        """
        device = "ident = ? AND protocol = ? AND status = 'sent'"
        with self._write():
            self._conn.execute(
                f"UPDATE commands SET status = 'failed' WHERE {device}"
                " AND attempts >= max_attempts",
                (ident, protocol),
            )
            cur = self._conn.execute(
                f"UPDATE commands SET status = 'queued' WHERE {device}", (ident, protocol)
            )
            return int(cur.rowcount)

    def expire(self, now: float) -> list[Command]:
        """Mark queued or sent commands whose ``expires`` is at or before ``now`` expired.

        Returns them, oldest first, so the hub can log ``command.expired``.
        """
        return self._changed(
            "UPDATE commands SET status = 'expired'"
            " WHERE status IN ('queued', 'sent') AND expires <= ?",
            (now,),
        )

    def get(self, command_id: int) -> Command | None:
        """The command with this id, or ``None``."""
        found = self._select("id = ?", (command_id,))
        return found[0] if found else None

    def cancel(self, command_id: int) -> bool:
        """Delete a command that is still ``queued``; ``False`` if none was."""
        with self._write():
            cur = self._conn.execute(
                "DELETE FROM commands WHERE id = ? AND status = 'queued'", (command_id,)
            )
            return cur.rowcount > 0

    def results(self, ident: str | None = None, *, status: str | None = None) -> pl.DataFrame:
        """All commands (of ``ident``, with ``status``, if given) as a DataFrame, by id.

        Examples
        --------
        >>> with CommandQueue(":memory:") as q:
        ...     _ = q.enqueue("7", "osmand", "ping", now=0.0)
        ...     q.results(status="queued").select("id", "text", "attempts").rows()
        [(1, 'ping', 0)]
        """
        if status is not None and status not in STATUSES:
            raise ConfigError(f"status {status!r} unknown; expected one of {', '.join(STATUSES)}")
        clauses, params = ["1"], []
        if ident is not None:
            clauses.append("ident = ?")
            params.append(ident)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        sql = f"SELECT {_COLUMNS} FROM commands WHERE {' AND '.join(clauses)} ORDER BY id"
        return pl.DataFrame(self._rows(sql, params), schema=_SCHEMA, orient="row")
