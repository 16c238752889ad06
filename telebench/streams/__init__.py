"""HTTP streams out of the hub: flespi-style batches POSTed to a URI, never losing a message.

* :class:`StreamConfig` — a stream's settings (URI with ``%ident%``, headers, batch size,
  timeout, filter, subscriptions, ``queue_ttl``, enabled);
* :class:`StreamStore` — the registry in ``DIR/streams.sqlite`` with the delivery cursors;
  :meth:`StreamStore.min_cursor` tells the hub which WAL entries streams still need;
* :class:`StreamDelivery` — the engine the hub starts: ``start()``, ``notify(seq)``, ``stop()``;
* :class:`WalReader` — reads the WAL folder the hub appends to.

Examples
--------
>>> cfg = StreamConfig("crm", "https://crm.example/in", headers={"Authorization": "Bearer x"})
>>> cfg.limit_messages, cfg.per_ident
(1000, False)
"""

from __future__ import annotations

from telebench.streams.config import StreamConfig
from telebench.streams.delivery import BATCH_HEADER, StreamDelivery
from telebench.streams.filters import MessageFilter, compile_filter
from telebench.streams.state import StreamState, stream_state
from telebench.streams.store import Cursor, StreamStore
from telebench.streams.walreader import WalReader

__all__ = [
    "BATCH_HEADER",
    "Cursor",
    "MessageFilter",
    "StreamConfig",
    "StreamDelivery",
    "StreamState",
    "StreamStore",
    "WalReader",
    "compile_filter",
    "stream_state",
]
