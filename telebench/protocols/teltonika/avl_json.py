"""Teltonika AVL data straight to JSON, in C: the hub's hot path.

Theory of operation: the hub stores each record as one NDJSON line. The Python path
decodes a packet into dicts (:func:`~telebench.protocols.teltonika.avl.parse_avl_data`)
and ``orjson`` encodes them; :func:`record_bodies` does both in one pass of C
(``_avljson.c``, built with the package), writing each record's JSON object without its
braces, the same bytes the Python path gives: same keys in the same order, same numbers
(a ratio of integers with at most 15 digits is written as that decimal, which is the
shortest string of its float; any other float as Python's ``repr`` with ``orjson``'s
exponents). It covers the common case only and returns ``None`` for anything else (a
malformed packet, a repeated AVL id, text that needs escaping, an id whose name clashes
with a header key, more than 512 elements a record); the caller then takes the
Python path, which stays the reference and names the byte of any error. The AVL id table
is :data:`~telebench.protocols.teltonika.io_elements.DECODE`, handed to the C code at
import; no IO parameter name is written in C (only the record header's keys).

Where the extension is not built (no C compiler at install), :data:`COMPILED` is False and
:func:`record_bodies` always returns ``None``.

Examples
--------
>>> import orjson
>>> from telebench.protocols.teltonika.avl import parse_avl_data
>>> data = bytes.fromhex(
...     "08010000016B40D9AD80010000000000000000000000000000000103021503010101425E10000001")
>>> bodies = record_bodies(data, b'"356307042441013"')
>>> bodies is None or bodies == [
...     orjson.dumps(m)[1:-1] for m in parse_avl_data(data, ident="356307042441013")]
True
>>> record_bodies(b"\\x08\\x01\\x00", None) is None  # malformed: the Python path says why
True
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Final

from telebench.protocols.teltonika.io_elements import BITS, DECODE, HEADER_KEYS, KIND_BIT

#: Whether the C extension is built (otherwise :func:`record_bodies` always declines).
COMPILED: bool
try:
    from telebench.protocols.teltonika import _avljson
except ImportError:  # built without a C compiler: the Python path only
    COMPILED = False
else:
    COMPILED = True

__all__ = ["COMPILED", "record_bodies"]

#: A spec kind the C code leaves to Python: the name would overwrite another key.
_KIND_REFUSE: Final = 8
_CUSTOM_PREFIX: Final = "custom.param."


def _key(name: str) -> bytes:
    return json.dumps(name, ensure_ascii=False).encode() + b":"


def _table() -> tuple[dict[int, tuple[bytes, int, int, int, int]], tuple[bytes, ...]]:
    """The C code's table: ``{AVL id: (JSON key, kind, divisor, mask index, bit)}``."""
    masks = sorted({mask for mask, _ in BITS.values()})
    uses = Counter(name for name, _, _ in DECODE.values())
    table: dict[int, tuple[bytes, int, int, int, int]] = {}
    for avl_id, (name, kind, divisor) in DECODE.items():
        clash = name in HEADER_KEYS or uses[name] > 1 or name.startswith(_CUSTOM_PREFIX)
        mask, bit = BITS.get(name, (masks[0], 0))
        code = _KIND_REFUSE if clash else kind
        table[avl_id] = (
            _key(name),
            code,
            divisor,
            masks.index(mask) if kind == KIND_BIT else 0,
            bit,
        )
    return table, tuple(_key(mask) for mask in masks)


if COMPILED:
    _avljson.configure(*_table())


def record_bodies(data: bytes, ident_json: bytes | None) -> list[bytes] | None:
    """Each record's JSON without braces, or ``None``: take the Python path instead.

    ``data`` is an AVL data field (codec id .. number of data 2), ``ident_json`` the
    device's ident as JSON (``b'"356307042441013"'``), or ``None`` for no ``ident`` key.
    """
    return _avljson.bodies(data, ident_json) if COMPILED else None
