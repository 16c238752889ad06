"""The embedded hub: channels, durable ingest, message store, telemetry, commands, logs.

Start one in-process with :class:`Hub` (``with Hub(store="data/hub") as hub: ...``) or
from a shell with ``telebench hub``. The hub owns every server-side socket of telebench.
"""

from __future__ import annotations

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
