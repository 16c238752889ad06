"""The delivery process killed with SIGKILL mid-stream, then restarted: nothing lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from telebench.receiver import Faults, ReceiverServer
from telebench.store.wal import WriteAheadLog
from tests.streams.helpers import (
    add_stream,
    assert_in_order,
    cursor_of,
    received,
    start_delivery,
    stats_of,
    wait_for,
    write_entries,
)

_RUN = (
    "import sys, time; from telebench.streams import StreamDelivery, WalReader; "
    "from pathlib import Path; s = Path(sys.argv[1]); "
    "StreamDelivery(s, WalReader(s / 'wal'), backoff=(0.02, 0.1), reload_interval=0.05).start(); "
    "time.sleep(60)"
)


def test_sigkill_mid_stream_then_restart(tmp_path: Path) -> None:
    store = tmp_path / "hub"
    with WriteAheadLog(store / "wal", fsync=False) as wal:
        total = write_entries(wal, 60, 10, idents=4)
    faults = Faults(delay=0.01)
    with ReceiverServer(tmp_path / "out", fsync=False, faults=faults) as rx:
        add_stream(store, rx.url + "/", limit_messages=20)
        proc = subprocess.Popen([sys.executable, "-c", _RUN, str(store)])
        try:
            wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] >= 100, 20)
        finally:
            proc.kill()  # the hub dies without stopping anything
            proc.wait()
        assert stats_of(store)["delivered"] < total
        delivery = start_delivery(store)
        wait_for(lambda: rx.store is not None and rx.store.stats()["messages"] == total)
        wait_for(lambda: cursor_of(store) is not None and cursor_of(store).seq == 60)
        delivery.stop()
        stats = rx.store.stats() if rx.store else {}
    df = received(tmp_path / "out")
    assert df["n"].to_list() == list(range(total))  # stored once each, in order
    assert_in_order(df)
    # A batch answered 200 whose cursor the kill lost is resent with the same id.
    assert stats["duplicate_batches"] in (0, 1)
