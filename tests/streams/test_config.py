"""Stream configs, filters and the registry with its cursors."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from telebench.errors import ConfigError, StoreError
from telebench.streams import Cursor, StreamConfig, StreamStore, compile_filter
from telebench.streams.config import parse_header, parse_subscription
from telebench.streams.store import position


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "bad name"}, "stream name"),
        ({"uri": "ftp://h/"}, "expected http"),
        ({"uri": "http://%ident%.example/"}, "%ident% only in path"),
        ({"limit_messages": 0}, "limit_messages"),
        ({"limit_messages": True}, "limit_messages"),
        ({"timeout": -1}, "timeout"),
        ({"queue_ttl": 1.5}, "queue_ttl"),
        ({"headers": {"Bad Name": "x"}}, "header name"),
        ({"headers": {"X-A": "a\r\nb"}}, "CR, LF"),
        ({"subscriptions": ("channel:x",)}, "subscription"),
        ({"filter": "speed >"}, "unexpected end"),
        ({"filter": "sql: ((("}, "not a valid expression"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_invalid_configs_name_the_field(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"name": "s", "uri": "http://127.0.0.1/in"}
    with pytest.raises(ConfigError, match=message):
        StreamConfig(**{**base, **fields})  # type: ignore[arg-type]


def test_config_round_trip_and_helpers() -> None:
    cfg = StreamConfig(
        "s", "https://h/x?d=%ident%", headers={"Authorization": "Bearer t"},
        subscriptions=("devices:ident=35*", "channel:2"), filter="exists('din')",
    )  # fmt: skip
    assert StreamConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.render_uri("a b") == "https://h/x?d=a%20b"
    assert parse_header("X-Key:  v ") == ("X-Key", "v")
    assert parse_subscription("channel:7") == ("channel", 7)
    with pytest.raises(ConfigError, match="unknown stream field"):
        cfg.replace(colour="red")


def test_flespi_like_filters() -> None:
    df = pl.DataFrame(
        {
            "position.speed": [0.0, 30.0, 60.0, None],
            "engine.ignition.status": [True, False, True, True],
            "protocol.name": ["gt06", "teltonika", "teltonika", "gt06"],
        }
    )
    cases = {
        "position.speed > 10": [False, True, True, False],
        "$engine.ignition.status && position.speed >= 0": [True, False, True, False],
        "!engine.ignition.status || protocol.name == 'gt06'": [True, True, False, True],
        "position.speed == null": [False, False, False, True],
        "exists('position.speed') && (position.speed < 50 || false)": [True, True, False, False],
        "missing.param > 1": [False] * 4,
        'sql: "position.speed" BETWEEN 20 AND 70': [False, True, True, False],
    }
    for text, expected in cases.items():
        assert compile_filter(text).mask(df).to_list() == expected, text


def test_store_crud_cursors_and_min_cursor(tmp_path: Path) -> None:
    with StreamStore(tmp_path) as store:
        store.add(StreamConfig("a", "http://h/"), start=10)
        store.add(StreamConfig("b", "http://h/%ident%"))
        with pytest.raises(ConfigError, match="already exists"):
            store.add(StreamConfig("a", "http://h/"))
        assert [c.name for c in store.list()] == ["a", "b"]
        assert store.cursor("b") is None  # starts at the head when delivery first sees it
        assert store.min_cursor() == 10
        store.start_at("b", position(4, 0))
        store.commit("b", position(4, 3), {"x": position(6, 1), "y": position(4, 2)}, {})
        assert store.cursor("b") == Cursor(3, 3)
        assert store.ident_cursors("b") == {"x": position(6, 1)}  # y is behind the base
        assert store.min_cursor() == 3
        store.commit("a", position(12), {}, {"delivered": 5, "last_status": 200})
        assert store.stats("a")["delivered"] == 5
        revision = store.revision()
        store.update("a", limit_messages=5)
        assert store.revision() > revision
        assert store.get("a").limit_messages == 5
        store.disable("b")
        assert store.min_cursor() == 11
        uid = store.uid("b")
        store.enable("b")
        assert store.cursor("b") is None
        assert store.ident_cursors("b") == {}
        assert store.uid("b") != uid  # a new incarnation: the old worker cannot commit
        assert store.commit("b", position(9), {}, {}, uid=uid) is False
        assert store.cursor("b") is None
        with pytest.raises(ConfigError, match="renamed"):
            store.update("a", name="c")
        store.remove("a")
        with pytest.raises(StoreError, match="no stream named 'a'"):
            store.get("a")
    with StreamStore(tmp_path) as store:  # persisted
        assert [c.name for c in store.list()] == ["b"]
