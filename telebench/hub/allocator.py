"""Large buffers stay in the heap: glibc would map and unmap fresh pages for each one.

Each flush joins its batch's NDJSON into one buffer for the parser: 38 MB every 1.5 s at
50,000 records/s. glibc's ``malloc`` serves anything over its mmap threshold (which adapts
up to 32 MiB) with a new mapping, so each join page-faulted about 9,000 zeroed pages: 37 ms,
holding the GIL, so the event loop and every ack waited. Served from the heap, whose
pages the next join reuses, the same join takes 5 ms.

:func:`keep_large_buffers` raises both the mmap threshold and the trim threshold (memory
returned to the system when the heap's free top grows beyond it) for the process. The
cost is memory a process keeps for reuse: about the largest batch. ``telebench hub``
calls it at start-up; an in-process ``Hub`` leaves its host's allocator alone, as it
leaves its collector alone. Elsewhere than glibc it does nothing.

Examples
--------
>>> keep_large_buffers(0)  # 0 bytes: leave the allocator alone
False
"""

from __future__ import annotations

import ctypes
import logging
import platform
from typing import Final

__all__ = ["LARGE_BUFFER_BYTES", "keep_large_buffers"]

_LOG = logging.getLogger("telebench.hub")
#: Allocations up to this size come from the heap (a flush of 4 s of backlog at 50,000
#: records/s is about 100 MB).
LARGE_BUFFER_BYTES: Final = 256 * 2**20
_M_TRIM_THRESHOLD: Final = -1  # from glibc's malloc.h
_M_MMAP_THRESHOLD: Final = -3


def keep_large_buffers(limit: int = LARGE_BUFFER_BYTES) -> bool:
    """Serve allocations up to ``limit`` bytes from the heap; whether glibc took it."""
    if limit <= 0 or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        taken = bool(libc.mallopt(_M_MMAP_THRESHOLD, limit))
        taken = taken and bool(libc.mallopt(_M_TRIM_THRESHOLD, limit))
    except (OSError, AttributeError) as exc:  # no such library or symbol: not fatal
        _LOG.debug("could not tune malloc: %s", exc)
        return False
    return taken
