"""telebench: a flespi-style telematics hub, fleet simulator and analytics workbench.

Examples
--------
>>> import telebench
>>> telebench.__version__
'0.1.0'
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
