"""Core value types shared by every layer: a message is a flat dict of flespi parameters.

Examples
--------
>>> msg: Message = {"ident": "356307042441013", "timestamp": 1560161086.0,
...                 "position.speed": 42.0, "engine.ignition.status": True}
>>> sorted(msg)[:2]
['engine.ignition.status', 'ident']
"""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["Message", "Value"]

#: One parameter value. ``None`` means "sent as not available" (Wialon IPS ``NA``).
Value: TypeAlias = bool | int | float | str | None

#: A decoded message: flespi's flat dotted parameter names to values.
Message: TypeAlias = dict[str, Value]
