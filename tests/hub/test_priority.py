"""Background threads yield to acks: Polars' threads get reniced, no other."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from telebench.hub.priority import Background

SCRIPT = textwrap.dedent(
    """
    import json, os, threading
    import polars as pl
    from telebench.hub.priority import POLARS_THREADS, Background

    pl.DataFrame({"a": range(100_000)}).lazy().select(pl.col("a").sum()).collect()
    seen = {}
    def background():
        seen["count"] = Background(7).apply()
        seen["again"] = Background(7).apply()
        seen["self"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    nice = {}
    for tid in os.listdir("/proc/self/task"):
        try:  # the joined thread may still be leaving the task list
            name = open(f"/proc/self/task/{tid}/comm").read().strip()
            nice[name if name.startswith(POLARS_THREADS) else tid] = os.getpriority(
                os.PRIO_PROCESS, int(tid))
        except OSError:
            continue
    me = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    polars = sorted({v for k, v in nice.items() if k.startswith(POLARS_THREADS)})
    print(json.dumps({**seen, "polars": polars, "main": me}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_polars_threads_are_reniced_and_no_other() -> None:
    # In a child process: renicing this process's Polars pool would outlive the test.
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, check=False)
    assert run.returncode == 0, run.stderr.decode()
    seen = json.loads(run.stdout)
    assert seen["count"] > 0
    assert seen["again"] == 0  # already done: nothing to do the second time
    assert seen["self"] == 0  # the caller holds the GIL at times: it keeps its priority
    assert seen["polars"] == [7]
    assert seen["main"] == 0  # the event loop's and other threads keep their priority


def test_nice_0_changes_nothing() -> None:
    assert Background(0).apply() == 0
