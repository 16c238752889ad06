"""telebench: a flespi-style telematics hub, fleet simulator and analytics workbench.

Examples
--------
>>> import telebench
>>> telebench.__version__
'0.1.0'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telebench.hub import Hub

__all__ = ["Hub", "__version__"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy: decoding a packet must not pay for importing Polars and asyncio.
    if name == "Hub":
        from telebench.hub import Hub

        return Hub
    raise AttributeError(f"module 'telebench' has no attribute {name!r}")
