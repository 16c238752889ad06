"""Plugins from the hub's TOML file: ``[[plugin]]`` tables into :mod:`~telebench.hub.plugins`.

Errors name the entry and the key (``plugin[1].mapping: ...``), as every config error does.

>>> [type(p).__name__ for p in plugins_from_config([{"type": "rename", "mapping": {"a": "b"}}])]
['Rename']
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import polars as pl

from telebench.errors import ConfigError
from telebench.hub.plugins import Compute, Erase, Function, Plugin, Rename

__all__ = ["plugins_from_config"]


def _load_target(target: object) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Import ``package.module:callable`` (the attribute may be dotted)."""
    if not isinstance(target, str) or target.count(":") != 1:
        raise ConfigError(f"expected 'package.module:callable', got {target!r}")
    module_name, attr = target.split(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{target!r}: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{target!r} is not callable")
    return obj


_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "compute": ("parameter", "expression"),
    "rename": ("mapping",),
    "erase": ("parameters",),
    "function": ("target",),
}


def _build(entry: Mapping[str, object]) -> Plugin:
    kind = entry.get("type")
    if kind not in _KEYS:
        raise ConfigError(f"type: expected one of {', '.join(_KEYS)}, got {kind!r}")
    allowed = {"type", "selector", "name", *_KEYS[kind]}
    for key in entry:
        if key not in allowed:
            raise ConfigError(f"{key}: unknown key for a {kind} plugin; expected {sorted(allowed)}")
    for key in _KEYS[kind]:
        if key not in entry:
            raise ConfigError(f"{key}: missing (required by a {kind} plugin)")
    common: dict[str, str] = {}
    for key in ("selector", "name"):
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        if value is not None:
            common[key] = value
    return _construct(kind, entry, common)


def _construct(kind: str, entry: Mapping[str, object], common: dict[str, str]) -> Plugin:
    if kind == "compute":
        expression = entry["expression"]
        if not isinstance(expression, str):
            raise ConfigError(f"expression: expected SQL text, got {expression!r}")
        return Compute(str(entry["parameter"]), expression, **common)
    if kind == "rename":
        return Rename(entry["mapping"], **common)  # type: ignore[arg-type]
    if kind == "erase":
        return Erase(entry["parameters"], **common)  # type: ignore[arg-type]
    try:
        fn = _load_target(entry["target"])
    except ConfigError as exc:
        raise ConfigError(f"target: {exc}") from exc
    return Function(fn, **common)


def plugins_from_config(
    items: Sequence[Mapping[str, object]], *, where: str = "plugin"
) -> list[Plugin]:
    """Plugins from declarative entries (``[[plugin]]`` tables of the hub's TOML file).

    Entry ``i`` (0-based) is one of ``{type="compute", parameter, expression}``,
    ``{type="rename", mapping}``, ``{type="erase", parameters}`` or
    ``{type="function", target="package.module:callable"}``, each with optional
    ``selector`` and ``name``. Errors name the entry and the key: ``plugin[1].mapping: ...``.

    Examples
    --------
    >>> [p.name for p in plugins_from_config([
    ...     {"type": "compute", "parameter": "mph", "expression": '"position.speed" / 1.609'},
    ...     {"type": "erase", "parameters": ["can.raw"], "selector": "metadata.fleet=north"},
    ... ])]
    ['compute:mph', 'erase']
    >>> plugins_from_config([{"type": "erase", "params": ["x"]}])
    Traceback (most recent call last):
    ...
    telebench.errors.ConfigError: plugin[0].params: unknown key for a erase plugin; ...
    """
    plugins = []
    for i, entry in enumerate(items):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}[{i}]: expected a table, got {entry!r}")
        try:
            plugins.append(_build(entry))
        except ConfigError as exc:
            raise ConfigError(f"{where}[{i}].{exc}") from exc
    return plugins
