"""Stream message filters: a flespi-like expression, or a Polars SQL expression.

Two syntaxes, both evaluated vectorised over a frame of messages:

* flespi-like (default): parameters by name, optionally with ``$`` (``$position.speed``);
  literals ``12``, ``1.5``, ``'text'``/``"text"``, ``true``, ``false``, ``null``;
  comparisons ``== != < <= > >=``; ``&&``, ``||``, ``!`` and parentheses; ``exists('p')``.
  A bare parameter is a boolean test (``engine.ignition.status``). Example::

      position.speed > 0 && exists('position.latitude') || alarm.event

* ``sql:`` prefix: any :func:`polars.sql_expr` expression over the message columns, with
  dotted names double-quoted: ``sql: "position.speed" BETWEEN 10 AND 90``.

A parameter absent from a message is null; a comparison with null is false (flespi's
null-safe ``$param``), so messages lacking a parameter do not pass a test on it.
Not supported from flespi's language: ``#param``, ``previous()``, functions, ``~``, ``?:``.

Examples
--------
>>> import polars as pl
>>> f = compile_filter("position.speed > 10 && exists('din')")
>>> f.sql, f.columns
('(("position.speed" > 10) AND ("din" IS NOT NULL))', ('position.speed', 'din'))
>>> df = pl.DataFrame({"position.speed": [5.0, 20.0, 30.0], "din": [1, None, 3]})
>>> df.filter(f.mask(df))["position.speed"].to_list()
[30.0]
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

import polars as pl

from telebench.errors import ConfigError
from telebench.store.frames import REGISTRY_DTYPES

__all__ = ["MessageFilter", "compile_filter"]

_SQL_PREFIX: Final = "sql:"
_TOKEN_RE: Final = re.compile(
    r"""\s*(?:
      (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()])
    | (?P<name>\$?[A-Za-z_][A-Za-z0-9_.\-]*)
    )""",
    re.VERBOSE,
)
_CMP: Final = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_KEYWORDS: Final = {"true": "TRUE", "false": "FALSE", "null": "NULL"}


@dataclasses.dataclass(frozen=True, slots=True)
class MessageFilter:
    """A compiled filter: its SQL text, the columns it reads and the Polars expression."""

    text: str
    sql: str
    columns: tuple[str, ...]
    expr: pl.Expr

    @property
    def predicate(self) -> pl.Expr:
        """Boolean expression: true where a message passes (null counts as false)."""
        return self.expr.fill_null(False).cast(pl.Boolean)

    def with_missing(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with the columns the filter reads and no message has, as nulls."""
        missing = [c for c in self.columns if c not in frame.columns]
        if not missing:
            return frame
        return frame.with_columns(
            pl.lit(None, dtype=REGISTRY_DTYPES.get(c, pl.Float64())).alias(c) for c in missing
        )

    def mask(self, frame: pl.DataFrame) -> pl.Series:
        """Boolean mask over ``frame`` (missing columns read as null; null is false)."""
        try:
            result = self.with_missing(frame).select(self.predicate.alias("m"))
        except pl.exceptions.PolarsError as exc:
            raise ConfigError(f"stream filter {self.text!r} failed on the messages: {exc}") from exc
        return result["m"]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text.rstrip()):
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.lastgroup is None:
            raise ConfigError(f"stream filter {text!r}: cannot read from character {pos}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the flespi-like grammar, emitting SQL text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.columns: list[str] = []

    def fail(self, what: str) -> ConfigError:
        return ConfigError(f"stream filter {self.text!r}: {what} at token {self.pos + 1}")

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise self.fail("unexpected end")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def parse(self) -> str:
        sql = self.binary(0)
        if self.pos != len(self.tokens):
            raise self.fail(f"unexpected {self.peek()!r}")
        return sql

    def binary(self, level: int) -> str:
        op, word = (("||", "OR"), ("&&", "AND"))[level]
        parts = [self.binary(1) if level == 0 else self.unary()]
        while self.peek() == op:
            self.take()
            parts.append(self.binary(1) if level == 0 else self.unary())
        return parts[0] if len(parts) == 1 else "(" + f" {word} ".join(parts) + ")"

    def unary(self) -> str:
        if self.peek() == "!":
            self.take()
            return f"(NOT {self.unary()})"
        left = self.atom()
        op = self.peek()
        if op not in _CMP:
            return left
        self.take()
        right = self.atom()
        if "NULL" in (left, right) and op in {"==", "!="}:
            other = right if left == "NULL" else left
            return f"({other} IS {'NOT ' if op == '!=' else ''}NULL)"
        return f"({left} {_CMP[op]} {right})"

    def atom(self) -> str:
        kind, value = self.take()
        if kind == "num":
            return value
        if kind == "str":
            return "'" + value[1:-1].replace("\\", "").replace("'", "''") + "'"
        if kind == "op" and value == "(":
            inner = self.binary(0)
            if self.take()[1] != ")":
                raise self.fail("expected ')'")
            return f"({inner})"
        if kind == "name":
            return self.name(value)
        raise self.fail(f"unexpected {value!r}")

    def name(self, value: str) -> str:
        if value.lower() in _KEYWORDS:
            return _KEYWORDS[value.lower()]
        if value == "exists" and self.peek() == "(":
            self.take()
            kind, arg = self.take()
            if kind != "str" or self.take()[1] != ")":
                raise self.fail("exists() takes one quoted parameter name")
            return f"({self.column(arg[1:-1])} IS NOT NULL)"
        return self.column(value.removeprefix("$"))

    def column(self, name: str) -> str:
        if name not in self.columns:
            self.columns.append(name)
        return '"' + name.replace('"', '""') + '"'


def compile_filter(text: str) -> MessageFilter:
    """Compile a filter (module doc); raises ``ConfigError`` naming what is wrong.

    Examples
    --------
    >>> compile_filter("sql: \\"position.speed\\" BETWEEN 10 AND 90").columns
    ('position.speed',)
    >>> compile_filter("!alarm.event || $battery.level >= 20.5").sql
    '((NOT "alarm.event") OR ("battery.level" >= 20.5))'
    """
    stripped = text.strip()
    if not stripped:
        raise ConfigError("stream filter is empty")
    if stripped.startswith(_SQL_PREFIX):
        sql = stripped[len(_SQL_PREFIX) :].strip()
        columns: list[str] = []
    else:
        parser = _Parser(stripped)
        sql = parser.parse()
        columns = parser.columns
    try:
        expr = pl.sql_expr(sql)
        names = expr.meta.root_names()
    except pl.exceptions.PolarsError as exc:
        raise ConfigError(f"stream filter {text!r} is not a valid expression: {exc}") from exc
    found = tuple(dict.fromkeys([*columns, *names]))
    return MessageFilter(text=text, sql=sql, columns=found, expr=expr)
