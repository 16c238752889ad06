"""Message plugins: transformers the hub's flush thread runs on each batch before storing it.

A batch is a :class:`polars.DataFrame` of messages with flespi dotted column names. A
:class:`PluginChain` runs its plugins in order; each plugin sees only the rows whose
``ident`` its ``selector`` picks (a flespi device selector, resolved by the caller), and a
plugin that fails is reported and skipped, so a bad plugin never loses messages.

SQL expressions (:class:`Compute`) are parsed by :func:`polars.sql_expr`. Dotted names
must be double-quoted: ``"position.speed" * 0.621371``; unquoted, ``position.speed`` means
field ``speed`` of a struct column ``position`` and fails with "unable to find column".

Examples
--------
>>> import polars as pl
>>> batch = pl.DataFrame({"ident": ["a", "b"], "timestamp": [1.0, 2.0],
...                       "position.speed": [100.0, 50.0]})
>>> chain = PluginChain([
...     Compute("position.speed.mph", 'ROUND("position.speed" * 0.621371, 1)'),
...     Erase(["position.speed"], selector="ident=a"),
... ])
>>> chain.apply(batch, idents_for=lambda s: {"a"} if s == "ident=a" else None,
...             on_error=print).rows()
[('a', 1.0, None, 62.1), ('b', 2.0, 50.0, 31.1)]
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import polars as pl

from telebench.errors import ConfigError, SchemaError

__all__ = [
    "CORE_COLUMNS",
    "Compute",
    "Erase",
    "Function",
    "Plugin",
    "PluginChain",
    "Rename",
]

#: Columns every stored message relies on; plugins may not erase, rename or compute them.
CORE_COLUMNS: Final = frozenset(
    {"ident", "timestamp", "server.timestamp", "channel.id", "protocol.name", "peer", "device.id"}
)
#: Columns a plugin's output must keep (the store partitions and orders by them).
_REQUIRED: Final = ("ident", "timestamp")
#: Temporary column holding each row's position in the batch while the chain runs.
_ROW: Final = "\x00telebench.row"


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{what}: expected a non-empty parameter name, got {name!r}")
    return name


def _check_not_core(what: str, name: str) -> None:
    if name in CORE_COLUMNS:
        core = ", ".join(sorted(CORE_COLUMNS))
        raise ConfigError(f"{what}: {name!r} is a core column ({core}) that plugins cannot change")


@dataclasses.dataclass(frozen=True)
class Plugin(abc.ABC):
    """Base class: one transformation of a batch of messages.

    ``selector`` is a flespi device selector (``all``, ``1,2``, ``ident=35*&enabled=true``)
    naming the devices whose messages the plugin changes; ``name`` labels it in logs.
    """

    selector: str = dataclasses.field(default="all", kw_only=True)
    name: str = dataclasses.field(default="", kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.selector, str) or not self.selector.strip():
            raise ConfigError(f"selector: expected a non-empty string, got {self.selector!r}")
        if not self.name:
            object.__setattr__(self, "name", self._default_name())

    def _default_name(self) -> str:
        return type(self).__name__.lower()

    @abc.abstractmethod
    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Return the transformed batch (same rows, same order)."""


@dataclasses.dataclass(frozen=True)
class Compute(Plugin):
    """Add or overwrite ``parameter`` with a Polars expression or an SQL expression string.

    Examples
    --------
    >>> df = pl.DataFrame({"ident": ["a", "b"], "position.speed": [10.0, 3.0]})
    >>> moving = Compute("moving", 'CASE WHEN "position.speed" > 5 THEN true ELSE false END')
    >>> moving.apply(df)["moving"].to_list()
    [True, False]
    >>> Compute("kmh", pl.col("position.speed") * 2).apply(df)["kmh"].to_list()
    [20.0, 6.0]
    """

    parameter: str
    expression: pl.Expr | str
    _expr: pl.Expr = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_not_core("parameter", _check_name("parameter", self.parameter))
        expr = self.expression
        if isinstance(expr, str):
            try:
                expr = pl.sql_expr(expr)
            except pl.exceptions.PolarsError as exc:
                raise ConfigError(f"expression {self.expression!r}: invalid SQL: {exc}") from exc
        elif not isinstance(expr, pl.Expr):
            raise ConfigError(f"expression: expected SQL text or pl.Expr, got {expr!r}")
        object.__setattr__(self, "_expr", expr)
        super().__post_init__()

    def _default_name(self) -> str:
        return f"compute:{self.parameter}"

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Evaluate the expression over the batch into ``parameter``."""
        return frame.with_columns(self._expr.alias(self.parameter))


@dataclasses.dataclass(frozen=True)
class Rename(Plugin):
    """Rename parameters (old -> new); missing ones are ignored, an existing target is replaced.

    Examples
    --------
    >>> df = pl.DataFrame({"ident": ["a"], "can.speed": [5], "speed": [1]})
    >>> Rename({"can.speed": "speed", "absent": "x"}).apply(df).rows(named=True)
    [{'ident': 'a', 'speed': 5}]
    """

    mapping: Mapping[str, str]

    def __post_init__(self) -> None:
        if not isinstance(self.mapping, Mapping) or not self.mapping:
            raise ConfigError(
                f"mapping: expected a non-empty table old -> new, got {self.mapping!r}"
            )
        for old, new in self.mapping.items():
            for name in (old, new):
                _check_not_core("mapping", _check_name("mapping", name))
        targets = list(self.mapping.values())
        if len(set(targets)) != len(targets):
            raise ConfigError(f"mapping: several parameters renamed to one name in {self.mapping}")
        object.__setattr__(self, "mapping", dict(self.mapping))
        super().__post_init__()

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Rename the present parameters, dropping any column a rename lands on."""
        present = {old: new for old, new in self.mapping.items() if old in frame.columns}
        replaced = [new for new in present.values() if new in frame.columns and new not in present]
        return frame.drop(replaced).rename(present)


@dataclasses.dataclass(frozen=True)
class Erase(Plugin):
    """Remove parameters from the messages; missing ones are ignored.

    Examples
    --------
    >>> df = pl.DataFrame({"ident": ["a"], "din": [1], "ain.1": [0.5]})
    >>> Erase(["din", "absent"]).apply(df).columns
    ['ident', 'ain.1']
    """

    parameters: Sequence[str]

    def __post_init__(self) -> None:
        if isinstance(self.parameters, str) or not isinstance(self.parameters, Sequence):
            raise ConfigError(f"parameters: expected a list of names, got {self.parameters!r}")
        for param in self.parameters:
            _check_not_core("parameters", _check_name("parameters", param))
        object.__setattr__(self, "parameters", tuple(self.parameters))
        super().__post_init__()

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Drop the listed parameters that are present."""
        return frame.drop(self.parameters, strict=False)


@dataclasses.dataclass(frozen=True)
class Function(Plugin):
    """Arbitrary Python: ``fn(frame)`` must return the same rows, keeping ident and timestamp.

    Examples
    --------
    >>> df = pl.DataFrame({"ident": ["a"], "timestamp": [1.0]})
    >>> Function(lambda f: f.with_columns(hour=pl.lit(0)), name="hour").apply(df).columns
    ['ident', 'timestamp', 'hour']
    """

    fn: Callable[[pl.DataFrame], pl.DataFrame]

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise ConfigError(f"function: expected a callable, got {self.fn!r}")
        super().__post_init__()

    def _default_name(self) -> str:
        return f"function:{getattr(self.fn, '__qualname__', repr(self.fn))}"

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Call the function; the chain checks the result."""
        return self.fn(frame)


def _check_result(plugin: Plugin, before: pl.DataFrame, after: object) -> pl.DataFrame:
    """The plugin's output if it honours the contract, else ``SchemaError``."""
    if not isinstance(after, pl.DataFrame):
        raise SchemaError(f"plugin {plugin.name!r} returned {type(after).__name__}, not DataFrame")
    if after.height != before.height:
        raise SchemaError(
            f"plugin {plugin.name!r} returned {after.height} rows for {before.height}"
        )
    lost = [c for c in CORE_COLUMNS if c in before.columns and c not in after.columns]
    lost += [c for c in _REQUIRED if c not in after.columns and c not in lost]
    if lost:
        raise SchemaError(f"plugin {plugin.name!r} dropped core column(s) {sorted(lost)}")
    changed = [c for c in CORE_COLUMNS & set(before.columns) if after[c].dtype != before[c].dtype]
    if changed:
        raise SchemaError(f"plugin {plugin.name!r} changed the type of {sorted(changed)}")
    if not after["ident"].equals(before["ident"]):
        raise SchemaError(f"plugin {plugin.name!r} changed or reordered the ident column")
    return after


class PluginChain:
    """Plugins run in order on each batch; failures are reported and skipped.

    A plugin fails if it raises or breaks the contract: return a DataFrame with the same
    rows in the same order (``ident`` unchanged), keeping ``ident``, ``timestamp`` and the
    other core columns with their types. A failed plugin leaves the batch as it was.

    Examples
    --------
    >>> errors = []
    >>> chain = PluginChain([Function(lambda f: f.head(0), name="bad"), Erase(["x"])])
    >>> df = pl.DataFrame({"ident": ["a"], "timestamp": [1.0], "x": [1]})
    >>> chain.apply(df, idents_for=lambda s: None,
    ...             on_error=lambda p, e: errors.append(p.name)).columns, errors
    (['ident', 'timestamp'], ['bad'])
    """

    def __init__(self, plugins: Sequence[Plugin]) -> None:
        for i, plugin in enumerate(plugins):
            if not isinstance(plugin, Plugin):
                raise ConfigError(f"plugins[{i}]: expected a Plugin, got {plugin!r}")
        self.plugins: tuple[Plugin, ...] = tuple(plugins)

    def __len__(self) -> int:
        return len(self.plugins)

    def apply(
        self,
        frame: pl.DataFrame,
        *,
        idents_for: Callable[[str], set[str] | None],
        on_error: Callable[[Plugin, Exception], None],
    ) -> pl.DataFrame:
        """Run every plugin on the rows its selector picks (``idents_for`` None = all rows)."""
        if not self.plugins or frame.height == 0:
            return frame
        for plugin in self.plugins:
            try:
                frame = self._apply_one(plugin, frame, idents_for(plugin.selector))
            except Exception as exc:  # the contract: report, then skip the plugin
                on_error(plugin, exc)
        return frame

    @staticmethod
    def _apply_one(plugin: Plugin, frame: pl.DataFrame, idents: set[str] | None) -> pl.DataFrame:
        if idents is None:
            return _check_result(plugin, frame, plugin.apply(frame))
        indexed = frame.with_row_index(_ROW)
        chosen = pl.col("ident").is_in(list(idents))
        selected = indexed.filter(chosen)
        if selected.height == 0:
            return frame
        if selected.height == frame.height:
            return _check_result(plugin, frame, plugin.apply(frame))
        rows = selected.get_column(_ROW)
        before = selected.drop(_ROW)
        after = _check_result(plugin, before, plugin.apply(before)).with_columns(rows)
        rest = indexed.filter(~chosen)
        # Diagonal concat: columns the plugin added are null for the rows it did not see; a
        # column whose type it changed takes the common supertype (else: plugin failure).
        merged = pl.concat([after, rest], how="diagonal_relaxed").sort(_ROW).drop(_ROW)
        return merged.select(_column_order(frame.columns, merged.columns))


def _column_order(original: list[str], merged: list[str]) -> list[str]:
    """Original columns first (those still present), then the plugin's new ones."""
    present = set(merged)
    kept = [c for c in original if c in present]
    seen = set(kept)
    return kept + [c for c in merged if c not in seen]
