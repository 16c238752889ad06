"""Large buffers come from the heap once ``keep_large_buffers`` has run (glibc only)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap

import pytest

from telebench.hub.allocator import keep_large_buffers

# Whether a 48 MiB buffer got a mapping of its own (rather than heap pages).
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from telebench.hub.allocator import keep_large_buffers

    def big_mappings():
        found = set()
        for line in open("/proc/self/maps"):
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if end - start >= 48 * 2**20 and (len(fields) < 6 or fields[5] != "[heap]"):
                found.add(fields[0])
        return found

    taken = keep_large_buffers() if sys.argv[1] == "tuned" else None
    before = big_mappings()
    buffer = b"".join([b"x" * 2**20] * 48)
    print(json.dumps({"taken": taken, "mapped": len(big_mappings() - before)}))
    """
)


def _run(mode: str) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, check=False, text=True
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, object] = json.loads(run.stdout)
    return result


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc")
def test_a_large_buffer_comes_from_the_heap_once_tuned() -> None:
    assert _run("default") == {"taken": None, "mapped": 1}  # glibc's own: a fresh mapping
    assert _run("tuned") == {"taken": True, "mapped": 0}


def test_a_limit_of_0_changes_nothing() -> None:
    assert keep_large_buffers(0) is False
