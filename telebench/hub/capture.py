"""Raw traffic capture: every byte a device sent and the hub answered, for replay.

Channels capture the idents matching ``HubConfig.capture_raw`` into
``DIR/raw/<ident>.tbraw``, a sequence of records::

    time f64 (UNIX s) | direction u8 (0 device -> hub, 1 hub -> device) | length u32 | bytes

``telebench replay`` sends the device's side of a capture to a hub again.

Examples
--------
>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "1.tbraw"
>>> append_raw(path, "in", b"#L#1;NA\\r\\n", when=5.0)
>>> append_raw(path, "out", b"#AL#1\\r\\n", when=5.1)
>>> [(t, d, data) for t, d, data in read_raw(path)]
[(5.0, 'in', b'#L#1;NA\\r\\n'), (5.1, 'out', b'#AL#1\\r\\n')]
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Final, Literal

from telebench.errors import StoreError

__all__ = ["RAW_RECORD", "append_raw", "read_raw"]

RAW_RECORD: Final = struct.Struct(">dBI")

Direction = Literal["in", "out"]


def append_raw(path: Path, direction: Direction, data: bytes, *, when: float | None = None) -> None:
    """Append one chunk to a capture file (created with its folder if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.time() if when is None else when
    with path.open("ab") as fh:
        fh.write(RAW_RECORD.pack(stamp, direction == "out", len(data)) + data)


def read_raw(path: Path) -> list[tuple[float, Direction, bytes]]:
    """Every chunk of a capture file, oldest first; a torn last record is ignored."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"cannot read capture {path}: {exc}") from exc
    out: list[tuple[float, Direction, bytes]] = []
    at = 0
    while at + RAW_RECORD.size <= len(data):
        when, direction, size = RAW_RECORD.unpack_from(data, at)
        at += RAW_RECORD.size
        if at + size > len(data):
            break  # the hub stopped mid-write
        out.append((when, "out" if direction else "in", data[at : at + size]))
        at += size
    return out
