"""The event loop the hub (and the ingest benchmark) runs on: uvloop when it is installed.

uvloop runs the loop's own work (selector, transports, callbacks) in C, so the hub's one
event-loop thread, which holds the GIL for everything it does, spends it on the records
rather than on asyncio's machinery. Set ``TELEBENCH_EVENT_LOOP=asyncio`` to run the
standard loop (to compare, or where uvloop misbehaves); without uvloop that is the default.

Examples
--------
>>> import asyncio
>>> loop = new_event_loop()
>>> loop.run_until_complete(asyncio.sleep(0, result="ran"))
'ran'
>>> loop.close()
"""

from __future__ import annotations

import asyncio
import importlib
import os
from types import ModuleType
from typing import Final

__all__ = ["ENV_VAR", "loop_name", "new_event_loop"]

#: Environment variable choosing the loop: ``uvloop`` (default when installed) or ``asyncio``.
ENV_VAR: Final = "TELEBENCH_EVENT_LOOP"


def _uvloop() -> ModuleType | None:
    if os.environ.get(ENV_VAR, "uvloop").strip().lower() == "asyncio":
        return None
    try:  # optional: without it the hub runs on the standard loop
        return importlib.import_module("uvloop")
    except ImportError:
        return None


def loop_name() -> str:
    """``"uvloop"`` or ``"asyncio"``: the loop :func:`new_event_loop` makes here.

    >>> loop_name() in ("uvloop", "asyncio")
    True
    """
    return "asyncio" if _uvloop() is None else "uvloop"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop, uvloop's when available (see the module doc)."""
    uvloop = _uvloop()
    if uvloop is None:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
