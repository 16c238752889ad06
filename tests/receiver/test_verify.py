"""``receiver verify``: the hub store against what a receiver stored, per ident."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from telebench.cli.receiver import receiver_group
from telebench.receiver.storage import ReceivedStore
from telebench.receiver.verify import verify
from telebench.store.dataset import MessageDataset
from telebench.store.frames import messages_frame


def _messages(ident: str, count: int) -> list[dict[str, object]]:
    return [
        {"ident": ident, "timestamp": 1_700_000_000.0 + n, "server.timestamp": 1_700_000_100.0 + n,
         "channel.id": 1, "protocol.name": "gt06", "peer": "127.0.0.1:1", "device.id": 1}
        for n in range(count)
    ]  # fmt: skip


def _hub(tmp_path: Path, messages: list[dict[str, object]]) -> Path:
    store = tmp_path / "hub"
    ndjson = b"".join(orjson.dumps(m) + b"\n" for m in messages)
    MessageDataset(store).write(messages_frame(ndjson), first_seq=1, last_seq=1)
    return store


def test_report_counts_missing_duplicated_out_of_order(tmp_path: Path) -> None:
    a, b = _messages("a", 6), _messages("b", 3)
    store = _hub(tmp_path, a + b)
    out = tmp_path / "out"
    rx = ReceivedStore(out, fsync=False)
    rx.add([a[0], a[1], a[3]], batch="1")
    rx.add([a[2], a[4]], batch="2")  # a[2] arrives after a[3]: out of order
    rx.add([a[4]], batch="3")  # the same message in another batch: a duplicate
    rx.add(b, batch="4")
    rx.close()
    report = verify(store, out)
    assert report.rows(named=True) == [
        {"ident": "a", "expected": 6, "received": 6, "missing": 1, "duplicated": 1,
         "out_of_order": 1, "extra": 0},
        {"ident": "b", "expected": 3, "received": 3, "missing": 0, "duplicated": 0,
         "out_of_order": 0, "extra": 0},
    ]  # fmt: skip
    result = CliRunner().invoke(receiver_group, ["verify", "--store", str(store),
                                                 "--received", str(out)])  # fmt: skip
    assert result.exit_code == 1
    assert "missing 1, duplicated 1, out of order 1" in result.output


def test_complete_delivery_exits_zero_and_since_bounds_the_hub(tmp_path: Path) -> None:
    a = _messages("a", 4)
    store = _hub(tmp_path, a)
    rx = ReceivedStore(tmp_path / "out", fsync=False)
    rx.add(a[2:], batch="x")
    rx.close()
    args = ["verify", "--store", str(store), "--received", str(tmp_path / "out")]
    assert CliRunner().invoke(receiver_group, args).exit_code == 1
    since = str(a[2]["server.timestamp"])
    result = CliRunner().invoke(receiver_group, [*args, "--since", since])
    assert result.exit_code == 0, result.output
    assert "expected 2, missing 0" in result.output


def test_receiver_command_needs_out() -> None:
    result = CliRunner().invoke(receiver_group, ["--port", "0"])
    assert result.exit_code == 2
    assert "--out DIR is required" in result.output
