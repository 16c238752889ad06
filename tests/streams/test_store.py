"""The stream registry's SQLite file: opening one written before it was versioned."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from telebench.streams import StreamConfig, StreamStore


def test_opens_a_registry_without_schema_version(tmp_path: Path) -> None:
    with StreamStore(tmp_path) as streams:
        streams.add(StreamConfig("crm", "http://127.0.0.1:9/in"), start=5)
    conn = sqlite3.connect(tmp_path / "streams.sqlite")
    with conn:
        conn.execute("DROP TABLE schema_version")
    conn.close()
    with StreamStore(tmp_path) as streams:
        assert [s.name for s in streams.list()] == ["crm"]
        assert streams.base("crm") is not None
        assert streams._rows("SELECT version FROM schema_version") == [(1,)]
