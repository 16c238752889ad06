"""Interval selectors in flespi's model: each message is ON, OFF or UNKNOWN (null).

A selector turns messages into a Boolean Polars expression (null = UNKNOWN) and may also
give a *key* whose change starts a new interval (flespi's ``method: change`` and the
calendar split). Several selectors are AND-combined (Kleene logic: OFF wins, then UNKNOWN).

Examples
--------
>>> import polars as pl
>>> df = pl.DataFrame({"position.speed": [0.0, 12.0, None]})
>>> df.select(Speed(5).state()).to_series().to_list()
[False, True, None]
>>> Ignition().off_reason, Speed().on_reason
('ignition off', 'moving')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from telebench.calc._frame import IGNITION, MOVEMENT, SPEED, TS
from telebench.errors import ConfigError

__all__ = [
    "Calendar",
    "Expression",
    "Ignition",
    "IgnitionOrSpeed",
    "Inactive",
    "Movement",
    "Selector",
    "Speed",
    "combine",
]

_SPLITS: Final = {"hour": "1h", "day": "1d", "week": "1w", "month": "1mo", "year": "1y"}


class Selector:
    """Base class: ``state()`` is ON/OFF/UNKNOWN per message, ``key()`` optional."""

    on_reason: str = "on"
    off_reason: str = "off"

    def fields(self) -> tuple[str, ...]:
        """Columns the selector reads (missing ones are added as nulls = UNKNOWN)."""
        return ()

    def state(self) -> pl.Expr:
        """Boolean expression, null where the message says nothing."""
        return pl.lit(True)

    def key(self) -> pl.Expr | None:
        """A value whose change starts a new interval (None: no such split)."""
        return None

    def annotate(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Add columns the state needs (the geofence selector adds ``_inside``)."""
        return lf


@dataclass(frozen=True)
class Ignition(Selector):
    """ON while ``engine.ignition.status`` is true."""

    column: str = IGNITION
    on_reason = "ignition on"
    off_reason = "ignition off"

    def fields(self) -> tuple[str, ...]:
        return (self.column,)

    def state(self) -> pl.Expr:
        return pl.col(self.column).cast(pl.Boolean)


@dataclass(frozen=True)
class Speed(Selector):
    """ON while ``position.speed`` (km/h) is above ``threshold`` (GPS noise stays below)."""

    threshold: float = 3.0
    column: str = SPEED
    on_reason = "moving"
    off_reason = "stopped"

    def fields(self) -> tuple[str, ...]:
        return (self.column,)

    def state(self) -> pl.Expr:
        return pl.col(self.column) > self.threshold


@dataclass(frozen=True)
class IgnitionOrSpeed(Selector):
    """Ignition where the message has it, else speed above ``threshold`` (flespi's recipe for
    mixed fleets: ``if(exists('engine.ignition.status'), ..., ...)``)."""

    threshold: float = 3.0
    on_reason = "ignition on / moving"
    off_reason = "ignition off / stopped"

    def fields(self) -> tuple[str, ...]:
        return (IGNITION, SPEED)

    def state(self) -> pl.Expr:
        return pl.coalesce(pl.col(IGNITION).cast(pl.Boolean), pl.col(SPEED) > self.threshold)


@dataclass(frozen=True)
class Movement(Selector):
    """ON while the tracker's own ``movement.status`` says it moves."""

    column: str = MOVEMENT
    on_reason = "movement started"
    off_reason = "movement stopped"

    def fields(self) -> tuple[str, ...]:
        return (self.column,)

    def state(self) -> pl.Expr:
        return pl.col(self.column).cast(pl.Boolean)


@dataclass(frozen=True)
class Expression(Selector):
    """Any Polars expression: ``method="boolean"`` (ON when true) or ``"change"`` (a new
    interval whenever its value changes, every message ON)."""

    expr: pl.Expr
    method: str = "boolean"
    name: str = "expression"

    def __post_init__(self) -> None:
        if self.method not in {"boolean", "change"}:
            raise ConfigError(
                f"Expression method must be 'boolean' or 'change', not {self.method!r}"
            )

    def fields(self) -> tuple[str, ...]:
        return tuple(self.expr.meta.root_names())

    def state(self) -> pl.Expr:
        return pl.lit(True) if self.method == "change" else self.expr.cast(pl.Boolean)

    def key(self) -> pl.Expr | None:
        return self.expr if self.method == "change" else None

    @property
    def on_reason(self) -> str:  # type: ignore[override]
        return f"{self.name} true"

    @property
    def off_reason(self) -> str:  # type: ignore[override]
        return f"{self.name} false"


@dataclass(frozen=True)
class Calendar(Selector):
    """Every message ON, a new interval at each ``split`` boundary in ``timezone``."""

    split: str = "day"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.split not in _SPLITS:
            raise ConfigError(
                f"Calendar split must be one of {sorted(_SPLITS)}, not {self.split!r}"
            )

    def key(self) -> pl.Expr | None:
        t = pl.from_epoch((pl.col(TS) * 1e6).cast(pl.Int64), time_unit="us")
        local = t.dt.replace_time_zone("UTC").dt.convert_time_zone(self.timezone)
        return local.dt.truncate(_SPLITS[self.split])


@dataclass(frozen=True)
class Inactive(Selector):
    """Intervals *between* messages more than ``delay`` seconds apart (offline periods)."""

    delay: float = 3600.0
    on_reason = "message"
    off_reason = "message"


def combine(selectors: Sequence[Selector]) -> tuple[pl.Expr, pl.Expr | None]:
    """AND the states (Kleene) and join the keys into one struct (None if no keys).

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"position.speed": [9.0, 9.0, 0.0],
    ...                    "engine.ignition.status": [True, None, True]})
    >>> state, key = combine([Speed(), Ignition()])
    >>> df.select(state).to_series().to_list(), key is None
    ([True, None, False], True)
    """
    if not selectors:
        raise ConfigError("at least one selector is needed")
    state = pl.all_horizontal([s.state() for s in selectors])
    keys = [k.alias(f"_k{i}") for i, s in enumerate(selectors) if (k := s.key()) is not None]
    return state, (pl.struct(keys) if keys else None)
