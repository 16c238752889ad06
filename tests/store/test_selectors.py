"""Selector wildcards as SQLite GLOB patterns, run against the registry's own table.

The selectors' grammar and errors are tested through the registry (test_registry.py).
"""

from __future__ import annotations

from telebench.store.registry import DeviceRegistry
from telebench.store.selectors import glob


def test_a_bracket_is_an_ordinary_character_and_wildcards_are_flespis() -> None:
    with DeviceRegistry(":memory:") as registry:
        for ident in ("gps[1]", "gps1", "gps[12]"):
            registry.add(ident, "teltonika")

        def matches(pattern: str) -> list[str]:
            rows = registry._conn.execute(
                "SELECT ident FROM devices WHERE ident GLOB ? ORDER BY id", [glob(pattern)]
            )
            return [ident for (ident,) in rows]

        assert matches("gps[1]") == ["gps[1]"]
        assert matches("gps[?]") == ["gps[1]"]
        assert matches("gps[*") == ["gps[1]", "gps[12]"]
        assert matches("gps?") == ["gps1"]
