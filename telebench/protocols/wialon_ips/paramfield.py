"""The params field of a D record: ``NAME:TYPE:VALUE,...`` (protocols.md §4.2).

TYPE 1 is an integer, 2 a double, 3 a string. A name the registry maps
(``Source(protocol="wialon_ips", field="param <name>")``: ``pwr_ext``, ``ign``, ``SOS`` ...)
becomes the registry key when the wire type suits the registry type (boolean from type 1
with value 0/1, number from type 1 or 2, string from type 3); any other param is kept as
``custom.<NAME>`` with its typed value. ``NA`` values are left out.

Theory of operation (this is the hub's hot path): the field is split once into name, type,
value triples; each (name, type) pair is turned into a *plan* (key and conversion) once and
cached; short items that devices repeat verbatim (``ign:1:1``) are cached whole.

Examples
--------
>>> msg: Message = {}
>>> parse_params("pwr_ext:2:13.8,ign:1:1,hw:3:V4.5,x:1:NA", msg)
>>> msg
{'external.powersource.voltage': 13.8, 'engine.ignition.status': True, 'custom.hw': 'V4.5'}
"""

from __future__ import annotations

from typing import Final

from telebench.model import Message, Value
from telebench.params import PARAMS, ParamType
from telebench.protocols.wialon_ips.common import NA, PROTOCOL
from telebench.protocols.wialon_ips.common import FieldValueError as _Bad

__all__ = ["KEY_PARAMS", "WIRE_PARAMS", "parse_params", "suits"]


def _build_param_tables() -> tuple[
    dict[str, tuple[str, ParamType, int]], dict[str, tuple[str, ParamType, int]]
]:
    by_wire: dict[str, tuple[str, ParamType, int]] = {}
    by_key: dict[str, tuple[str, ParamType, int]] = {}
    for param in PARAMS.values():
        src = param.source(PROTOCOL)
        if src is None or not src.field.startswith("param "):
            continue
        wire = src.field.removeprefix("param ").split(" ", 1)[0]
        by_wire[wire] = (param.name, param.type, src.divisor)
        by_key[param.name] = (wire, param.type, src.divisor)
    return by_wire, by_key


#: Wialon param name -> (registry key, registry type, divisor), and the reverse.
WIRE_PARAMS, KEY_PARAMS = _build_param_tables()


def suits(ptype: ParamType, wire_type: str, value: Value) -> bool:
    """Whether a param of ``wire_type`` fills a registry parameter of type ``ptype``.

    Examples
    --------
    >>> suits("boolean", "1", 1), suits("boolean", "1", 2), suits("number", "2", 13.8)
    (True, False, True)
    """
    if ptype == "boolean":
        return wire_type == "1" and value in (0, 1)  # other values go to custom.<NAME>
    if ptype == "number":
        return wire_type in ("1", "2")
    if ptype == "integer":
        return wire_type == "1"
    return wire_type == "3"


# How a param is stored: int / float / str value, a registry boolean (0/1, else custom),
# or a registry number with a divisor (sent as type 1 or type 2).
_INT, _FLOAT, _STR, _BOOL, _SCALED_INT, _SCALED_FLOAT = range(6)
_MAX_PLANS: Final = 4096  # device-chosen names: keep the cache bounded
_PLANS: dict[str, tuple[str, int, str, int]] = {}


def _plan(name: str, wire_type: str) -> tuple[str, int, str, int]:
    """``(key, how, custom key, divisor)`` for params named ``name`` of ``wire_type``."""
    if wire_type not in ("1", "2", "3"):
        raise _Bad(f"param {name!r} has type {wire_type!r}, not 1, 2 or 3")
    how = "123".index(wire_type)
    custom = "custom." + name
    plan = (custom, how, custom, 1)
    entry = WIRE_PARAMS.get(name)
    if entry is not None and suits(entry[1], wire_type, 0):
        key, ptype, divisor = entry
        if ptype == "boolean":
            plan = (key, _BOOL, custom, 1)
        elif divisor != 1:
            plan = (key, _SCALED_INT + how, custom, divisor)
        else:
            plan = (key, how, custom, 1)
    if len(_PLANS) < _MAX_PLANS:
        _PLANS[name + wire_type] = plan  # wire_type is one character here
    return plan


# Whole "NAME:TYPE:VALUE" items -> (key, value). Devices repeat many items verbatim
# (ign:1:1, gsm:1:4, hw:3:V4.5), so a hit costs one lookup. Only items with short values
# (few distinct texts: flags, levels, versions) and short names are kept, so measured
# values (odo:2:12345.67) do not churn it; it is emptied when full.
_ITEMS: dict[str, tuple[str, Value]] = {}
_MAX_ITEMS: Final = 8192
_MAX_ITEM_LENGTH: Final = 40
_MAX_CACHED_VALUE: Final = 4


def parse_params(text: str, msg: Message) -> None:
    """Decode the params field into ``msg`` (raises ``ValueError`` naming a bad param).

    Fast path: with no ``:`` inside values, ``text`` splits into a flat list of
    name, type, value triples in one C call. Otherwise (a string value holding ``:``,
    empty or ``NA`` items) each item is read on its own.

    Examples
    --------
    >>> msg: Message = {}
    >>> parse_params("SOS:1:1,note:3:a:b,,odometer:2:12.5", msg)
    >>> msg
    {'alarm.event': True, 'custom.note': 'a:b', 'vehicle.mileage': 12.5}
    """
    items = text.split(",")
    flat = text.replace(",", ":").split(":")
    if len(flat) == 3 * len(items):
        _triples(items, flat, msg)
    else:
        for item in items:
            _param(item, msg)


def _triples(items: list[str], flat: list[str], msg: Message) -> None:
    """The fast path: ``flat`` is ``items`` split into name, type, value."""
    cache, plans = _ITEMS, _PLANS
    it = iter(flat)
    for item, name, wire_type, text_value in zip(items, it, it, it, strict=True):
        hit = cache.get(item)
        if hit is not None:
            msg[hit[0]] = hit[1]
            continue
        if text_value == NA:
            continue
        plan = plans.get(name + wire_type) if len(wire_type) == 1 else None
        if plan is None:
            plan = _plan(name, wire_type)
        try:
            key, how = plan[0], plan[1]
            value: Value
            if how == 1:  # _FLOAT
                value = float(text_value)
                if value - value:
                    raise _Bad("not a finite number")
            elif how == 0:  # _INT
                value = int(text_value)
            elif how == 2:  # _STR
                value = text_value
            else:
                key, value = _convert(plan, text_value)
        except ValueError as exc:
            raise _Bad(
                f"param {name}: {text_value!r} is not a valid type {wire_type} value"
            ) from exc
        msg[key] = value
        if len(text_value) <= _MAX_CACHED_VALUE:
            _remember(item, key, value)


def _remember(item: str, key: str, value: Value) -> None:
    if len(item) <= _MAX_ITEM_LENGTH:
        if len(_ITEMS) >= _MAX_ITEMS:
            _ITEMS.clear()
        _ITEMS[item] = (key, value)


def _param(item: str, msg: Message) -> None:
    """Decode one ``NAME:TYPE:VALUE`` item into ``msg`` (the general path)."""
    colon = item.find(":")
    end = item.find(":", colon + 1) if colon > 0 else -1
    if end < 0:
        if not item or item == NA:
            return
        raise _Bad(f"param {item!r} is not NAME:TYPE:VALUE")
    text = item[end + 1 :]
    if text == NA:
        return
    plan = _plan(item[:colon], item[colon + 1 : end])
    try:
        key, value = _convert(plan, text)
    except ValueError as exc:
        raise _Bad(f"param {item!r}: not a valid type {item[colon + 1 : end]} value") from exc
    msg[key] = value


def _convert(plan: tuple[str, int, str, int], text: str) -> tuple[str, Value]:
    """``(message key, value)`` of a param's text under ``plan``."""
    key, how, custom, divisor = plan
    if how == _STR:
        return key, text
    value = float(text) if how in (_FLOAT, _SCALED_FLOAT) else int(text)
    if value - value:
        raise _Bad("not a finite number")
    if how == _BOOL:
        return (key, value == 1) if value in (0, 1) else (custom, value)
    if how in (_SCALED_INT, _SCALED_FLOAT):
        return key, value / divisor
    return key, value
