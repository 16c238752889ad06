"""The hub streams what devices send to a real receiver, across a receiver outage."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from telebench.errors import StoreError
from telebench.hub import Hub
from telebench.protocols.samples import sample_messages
from telebench.receiver import ReceiverServer
from telebench.receiver.verify import verify
from telebench.streams import StreamConfig
from tests.hub.conftest import make_config
from tests.hub.device import Device


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_stream_delivers_every_acked_message_despite_an_outage(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with ReceiverServer(tmp_path / "received") as receiver, Hub(config=make_config(store)) as hub:
        hub.streams.add(StreamConfig("crm", f"{receiver.url}/in", limit_messages=3))
        time.sleep(1.5)  # the running hub picks the new stream up within its reload interval
        messages = sample_messages("wialon_ips", 8)
        with Device("wialon_ips", hub.port("wialon_ips"), "868204002602414") as device:
            device.login()
            device.send(messages[:4])
            receiver.stop()  # the receiver goes down mid-stream ...
            device.send(messages[4:])
            time.sleep(0.5)
            receiver.start()  # ... and comes back: the stream resumes from its cursor
        report = None

        def delivered() -> bool:
            nonlocal report
            report = verify(store, tmp_path / "received")
            return int(report["missing"].sum()) == 0 and int(report["received"].sum()) >= 8

        _wait_for(delivered)
    assert report is not None
    assert report["expected"].to_list() == [8]
    assert report["out_of_order"].to_list() == [0]


def test_the_streams_registry_is_one_connection_closed_with_the_hub(tmp_path: Path) -> None:
    # A registry per access held its SQLite file open until a garbage collection.
    with Hub(config=make_config(tmp_path / "store")) as hub:
        registry = hub.streams
        registry.add(StreamConfig("crm", "http://127.0.0.1:9/in"))
        assert hub.streams is registry
        with hub.streams as streams:  # the notebooks' way: closes it on the way out
            assert [s.name for s in streams.list()] == ["crm"]
        assert [s.name for s in hub.streams.list()] == ["crm"]  # opened again
        registry = hub.streams
    with pytest.raises(StoreError, match="closed database"):
        registry.revision()
