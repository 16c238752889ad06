"""The stream receiver: a Flask app (served by waitress) that stores what streams POST.

It proves delivery: each batch is fsync'd before the 200, retried batches are recognised by
their ``X-Telebench-Batch`` id, and :func:`verify` compares what arrived with the hub store.

Examples
--------
>>> validate(b'[{"ident": "a", "timestamp": 1}]')
[{'ident': 'a', 'timestamp': 1}]
"""

from __future__ import annotations

from telebench.receiver.app import Faults, create_app, validate
from telebench.receiver.server import ReceiverServer
from telebench.receiver.storage import ReceivedStore

__all__ = ["Faults", "ReceivedStore", "ReceiverServer", "create_app", "validate"]
