"""The parameter registry: every message parameter telebench knows, in flespi's words.

Messages are flat dicts keyed by flespi's dotted parameter names (``position.speed``,
``engine.ignition.status`` ...). Each :class:`Param` says its type and unit and, per
protocol, the raw field it comes from (:class:`Source`). Decoders build their tables from
this registry (the Teltonika IO table is derived from its ``AVL <id>`` sources), the CLI
prints it (``telebench params``), and the store uses the types. The entries live in
:mod:`~telebench.params.tracking` (identity, time, position, events) and
:mod:`~telebench.params.vehicle` (engine, power, GSM, inputs, sensors, driving, integrity).

A raw value becomes a registry value as ``raw / divisor``; encoders do the inverse,
``round(value * divisor)``. Dividing by an integer (rather than multiplying by 0.001) keeps
the round trip exact: ``12345 / 1000 == 12.345`` and ``round(12.345 * 1000) == 12345``.

Fields a protocol sends that the registry does not name keep their raw value under a stable
name: ``custom.param.<AVL id>`` for Teltonika IO elements, ``custom.<name>`` for named
fields (Wialon IPS params, OsmAnd query keys), as flespi does.

Examples
--------
>>> p = PARAMS["external.powersource.voltage"]
>>> p.type, p.unit
('number', 'V')
>>> src = p.source("teltonika")
>>> src.field, src.divisor, src.size
('AVL 66', 1000, 2)
>>> [s.field for s in PARAMS["position.speed"].sources][:2]
['speed', 'speed']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from telebench.params.model import TEL, Param, ParamType, Source
from telebench.params.tracking import TRACKING
from telebench.params.vehicle import VEHICLE

__all__ = [
    "PARAMS",
    "Param",
    "ParamType",
    "Source",
    "custom_name",
    "teltonika_io_sources",
]

_ALL: Final[tuple[Param, ...]] = TRACKING + VEHICLE

PARAMS: Final[Mapping[str, Param]] = {p.name: p for p in _ALL}


def custom_name(raw_field: str) -> str:
    """The stable name of a raw field the registry does not know.

    Examples
    --------
    >>> custom_name("rpm")
    'custom.rpm'
    """
    return f"custom.{raw_field}"


def teltonika_io_sources() -> Iterator[tuple[int, Param, Source]]:
    """Every Teltonika IO element the registry names, as ``(AVL id, param, source)``.

    Examples
    --------
    >>> ids = {avl_id: p.name for avl_id, p, _ in teltonika_io_sources()}
    >>> ids[239], ids[66]
    ('engine.ignition.status', 'external.powersource.voltage')
    """
    for param in _ALL:
        for src in param.sources:
            if src.protocol == TEL and src.field.startswith("AVL "):
                yield int(src.field.removeprefix("AVL ")), param, src
