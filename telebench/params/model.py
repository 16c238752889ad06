"""The registry's record types and the helpers its tables are written with.

>>> Source(protocol="teltonika", field="AVL 66", divisor=1000, size=2).divisor
1000
>>> avl_io(66, 2, 1000).field
'AVL 66'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "GT6",
    "OSM",
    "TEL",
    "WIA",
    "Param",
    "ParamType",
    "Source",
    "avl_io",
    "param",
    "raw_field",
]

ParamType = Literal["boolean", "integer", "number", "string"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where a parameter comes from in one protocol.

    ``field`` names the raw field in the protocol's own words (``AVL 66``, ``hdop``,
    ``terminal info bit 1``); ``divisor`` scales the raw integer into the registry's unit;
    ``size`` is the raw width in bytes where the protocol fixes one; ``signed`` says whether
    the raw integer is two's complement.
    """

    protocol: str
    field: str
    divisor: int = 1
    size: int | None = None
    signed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One message parameter: flespi name, type, unit, meaning and per-protocol sources."""

    name: str
    type: ParamType
    unit: str | None
    description: str
    sources: tuple[Source, ...] = ()

    def source(self, protocol: str) -> Source | None:
        """The source of this parameter in ``protocol``, or ``None``.

        Examples
        --------
        >>> from telebench.params import PARAMS
        >>> PARAMS["position.hdop"].source("wialon_ips").field
        'hdop'
        """
        for src in self.sources:
            if src.protocol == protocol:
                return src
        return None


def param(name: str, type_: ParamType, unit: str | None, description: str, *src: Source) -> Param:
    """A registry entry, its sources given in order (the tables' shorthand).

    >>> param("x.y", "number", "V", "A voltage", raw_field("osmand", "y")).sources[0].field
    'y'
    """
    return Param(name=name, type=type_, unit=unit, description=description, sources=src)


def avl_io(avl_id: int, size: int, divisor: int = 1, *, signed: bool = False) -> Source:
    """A Teltonika IO element source (protocols.md §3.10).

    >>> avl_io(24, 2).field, avl_io(17, 2, signed=True).signed
    ('AVL 24', True)
    """
    return Source(
        protocol="teltonika", field=f"AVL {avl_id}", divisor=divisor, size=size, signed=signed
    )


def raw_field(protocol: str, field: str, divisor: int = 1) -> Source:
    """A named field of ``protocol``, scaled by ``divisor``.

    >>> raw_field("teltonika", "timestamp (ms)", 1000).divisor
    1000
    """
    return Source(protocol=protocol, field=field, divisor=divisor)


#: The protocols' names, short for the tables.
TEL, WIA, GT6, OSM = "teltonika", "wialon_ips", "gt06", "osmand"
