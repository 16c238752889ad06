"""Telemetry, plugins, deletion, snapshots and raw capture through a running hub."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import polars as pl

from telebench.hub import Compute, Erase, Function, Hub
from telebench.hub.durable import read_checkpoint
from telebench.protocols.samples import sample_messages
from telebench.store.partfiles import list_parts, live_parts
from telebench.store.telemetry import TelemetryStore
from tests.hub.conftest import make_config
from tests.hub.device import Device

IDENT = "868204002602414"


def _send(hub: Hub, messages: list[dict[str, object]]) -> None:
    with Device("wialon_ips", hub.port("wialon_ips"), IDENT) as device:
        device.login()
        device.send(messages)  # type: ignore[arg-type]


def test_telemetry_keeps_the_newest_value_even_after_black_box_data(hub: Hub) -> None:
    messages = sample_messages("wialon_ips", 4)
    _send(hub, messages[2:])
    _send(hub, messages[:2])  # older black-box records arrive last
    telemetry = hub.telemetry(IDENT)
    newest = max(messages, key=lambda m: m["timestamp"])  # type: ignore[arg-type, return-value]
    value, stamp = telemetry["position.latitude"]
    assert value == newest["position.latitude"]
    assert stamp == newest["timestamp"]


def test_a_telemetry_query_folds_in_memory_and_the_file_follows_on_schedule(
    tmp_path: Path,
) -> None:
    store = tmp_path / "s"
    with Hub(config=make_config(store, telemetry_interval=3600.0)) as hub:
        _send(hub, sample_messages("wialon_ips", 2))
        live = hub.telemetry(IDENT)
        assert "position.latitude" in live
        # The query did not rewrite the file: the scheduled fold (or the stop) will.
        assert read_checkpoint(store / "telemetry.checkpoint") == 0
        assert not (store / "telemetry.parquet").exists()
    assert read_checkpoint(store / "telemetry.checkpoint") > 0
    with TelemetryStore(store / "telemetry.parquet") as saved:
        assert saved.get(IDENT) == live


def _boom(frame: pl.DataFrame) -> pl.DataFrame:
    raise RuntimeError("plugin bug")


def test_plugins_transform_before_storage_and_a_failing_one_is_logged(tmp_path: Path) -> None:
    plugins = [
        Compute("position.speed.mph", '"position.speed" * 0.5'),
        Function(_boom, name="boom"),
        Erase(["position.hdop"]),
    ]
    config = dataclasses.replace(make_config(tmp_path / "s"), plugins=plugins)
    with Hub(config=config) as hub:
        messages = sample_messages("wialon_ips", 3)
        _send(hub, messages)
        frame = hub.messages().collect()
        assert frame.height == 3
        assert frame["position.speed.mph"].to_list() == [
            m["position.speed"] * 0.5 for m in messages
        ]  # type: ignore[operator]
        assert "position.hdop" not in frame.columns or frame["position.hdop"].null_count() == 3
        errors = hub.logs(event="plugin.error")
        assert errors.height >= 1
        assert "plugin bug" in errors["reason"][0]


def test_delete_a_time_range_and_snapshot_restore(hub: Hub, tmp_path: Path) -> None:
    messages = sample_messages("wialon_ips", 6)
    _send(hub, messages)
    stamps = sorted(float(m["timestamp"]) for m in messages)  # type: ignore[arg-type]
    day = dt.datetime.fromtimestamp(stamps[0], dt.UTC).date()
    paths = hub.snapshot(day, tmp_path / "snap")
    assert [p.name for p in paths] == [f"{day.isoformat()}.json.gz"]
    assert hub.delete_messages(f"ident={IDENT}", begin=stamps[0], end=stamps[2]) == 3
    assert hub.messages().collect()["timestamp"].to_list() == stamps[3:]
    assert hub.restore(paths[0]) == 3  # only the deleted ones come back; the rest are dups
    assert hub.messages().collect()["timestamp"].to_list() == stamps


def test_raw_traffic_capture(tmp_path: Path) -> None:
    config = dataclasses.replace(make_config(tmp_path / "s"), capture_raw=["8682*"])
    with Hub(config=config) as hub:
        _send(hub, sample_messages("wialon_ips", 1))
        chunks = hub.raw_traffic(IDENT)
    assert [(d, data.split(b"#")[1]) for _, d, data in chunks] == [
        ("in", b"L"),
        ("out", b"AL"),
        ("in", b"D"),
        ("out", b"AD"),
    ]


def test_hourly_housekeeping_applies_ttl_and_snapshots_yesterday(hub: Hub) -> None:
    messages = sample_messages("wialon_ips", 4)
    _send(hub, messages)
    stamps = sorted(float(m["timestamp"]) for m in messages)  # type: ignore[arg-type]
    hub.devices.update(hub.devices.get(IDENT, "wialon_ips").id, messages_ttl=3600)  # type: ignore[union-attr]
    now = stamps[-1] + 86_400  # the next day: past the 1 h TTL, and yesterday is snapshotted
    hub.flush()
    assert hub._flusher is not None
    hub._flusher.housekeeping(now)
    assert hub.messages().collect().height == 0
    day = dt.datetime.fromtimestamp(stamps[0], dt.UTC).date().isoformat()
    assert (hub.store / "snapshots" / f".{day}.done").exists()
    assert (hub.store / "snapshots" / IDENT / f"{day}.json.gz").exists()


def test_chores_due_together_run_one_a_flush(hub: Hub) -> None:
    _send(hub, sample_messages("wialon_ips", 2))
    hub.flush()
    flusher = hub._flusher
    assert flusher is not None
    later = time.monotonic() + 10 * 86_400.0  # every chore is due
    assert [flusher.chore(later) for _ in range(4)] == [
        "telemetry",
        "compaction",
        "housekeeping",
        None,
    ]
    assert hub.telemetry(IDENT)  # the fold ran


def test_a_stopped_hub_leaves_no_compaction_leftovers(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with Hub(config=config) as hub:
        for message in sample_messages("wialon_ips", 3):  # one flushed file each
            _send(hub, [message])
            hub.flush()
        assert hub.compact()["files_in"] == 3
        files = list_parts(config.store / "messages")
        assert len(files) == 4  # the merged inputs stay 30 s for scans that listed them
        assert len(live_parts(config.store / "messages")) == 1
    files = list_parts(config.store / "messages")
    assert [(p.first, p.last) for p in files] == [(1, 3)]
    assert pl.read_parquet(files[0].path).height == 3
