"""The embedded hub: channels, durable ingest, message store, telemetry, commands, logs.

Start one in-process with :class:`Hub` (``with Hub(store="data/hub") as hub: ...``) or
from a shell with ``telebench hub``. The hub owns every server-side socket of telebench.

The names below are imported on first use, so the decoder process
(:mod:`telebench.hub.decoder_process`) does not pay for Polars.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telebench.hub.config import ChannelConfig, HubConfig, load_config
    from telebench.hub.hub import Hub
    from telebench.hub.plugins import Compute, Erase, Function, Plugin, Rename

__all__ = [
    "ChannelConfig",
    "Compute",
    "Erase",
    "Function",
    "Hub",
    "HubConfig",
    "Plugin",
    "Rename",
    "load_config",
]

_HOMES = {
    "ChannelConfig": "config",
    "HubConfig": "config",
    "load_config": "config",
    "Hub": "hub",
    "Compute": "plugins",
    "Erase": "plugins",
    "Function": "plugins",
    "Plugin": "plugins",
    "Rename": "plugins",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'telebench.hub' has no attribute {name!r}")
    return getattr(importlib.import_module(f"telebench.hub.{home}"), name)
