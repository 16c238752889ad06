"""flespi-style selectors as SQL: which devices a selector names, which log events a pattern.

A selector is ``all``, a list of device ids (``1,2,3``), or conditions joined by ``&``:
``ident=35209*``, ``name=truck ?``, ``protocol=teltonika``, ``enabled=true`` and
``metadata.<key>=<value>``. Values take flespi's wildcards, ``*`` and ``?``; ``[`` is an
ordinary character. Metadata values compare as text (``true``, ``false``, ``null``, the
number as written by SQLite).

Examples
--------
>>> where("ident=35209*&metadata.fleet=north")[1]
['35209*', '$."fleet"', '$."fleet"', 'north']
>>> where("3,1")
('id IN (?,?)', [3, 1])
"""

from __future__ import annotations

import re
from typing import Final

from telebench.errors import ConfigError

__all__ = ["INT_MAX", "glob", "where"]

#: One past SQLite's largest integer (a signed 64-bit one).
INT_MAX: Final = 2**63
_IDS_RE: Final = re.compile(r"\d+(?:,\d+)*")
_META_TEXT: Final = (
    "CASE json_type(metadata, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
    " WHEN 'null' THEN 'null' ELSE CAST(json_extract(metadata, ?) AS TEXT) END"
)


def glob(pattern: str) -> str:
    """A flespi wildcard (``*``, ``?``) as an SQLite ``GLOB`` pattern; ``[`` is literal.

    >>> glob("gps[1]*")
    'gps[[]1]*'
    """
    return pattern.replace("[", "[[]")


def where(selector: str) -> tuple[str, list[object]]:
    """The SQL ``WHERE`` clause and its parameters for a device selector.

    Raises :class:`~telebench.errors.ConfigError` naming the part that is wrong.

    >>> where("all")
    ('1', [])
    >>> where("enabled=yes")
    Traceback (most recent call last):
    ...
    telebench.errors.ConfigError: selector 'enabled=yes': expected enabled=true or enabled=false
    """
    if not isinstance(selector, str) or not selector.strip():
        raise ConfigError(f"selector {selector!r}: expected 'all', ids or <field>=<value>")
    sel = selector.strip()
    if sel == "all":
        return "1", []
    if _IDS_RE.fullmatch(sel):
        ids = [int(x) for x in sel.split(",")]
        if max(ids) >= INT_MAX:
            raise ConfigError(f"selector {selector!r}: id {max(ids)} is out of range")
        return f"id IN ({','.join('?' * len(ids))})", list(ids)
    clauses, params = [], []
    for cond in sel.split("&"):
        sql, p = _condition(cond)
        clauses.append(sql)
        params.extend(p)
    return " AND ".join(clauses), params


def _condition(cond: str) -> tuple[str, list[object]]:
    key, eq, value = cond.partition("=")
    key = key.strip()
    if not eq or not key:
        raise ConfigError(f"selector condition {cond!r}: expected <field>=<value>")
    if key in ("ident", "name", "protocol"):
        return f"{key} GLOB ?", [glob(value)]
    if key == "enabled":
        if value not in ("true", "false"):
            raise ConfigError(f"selector {cond!r}: expected enabled=true or enabled=false")
        return "enabled = ?", [int(value == "true")]
    if key.startswith("metadata.") and len(key) > len("metadata."):
        meta_key = key[len("metadata.") :]
        if '"' in meta_key or "\\" in meta_key:
            raise ConfigError(f"selector {cond!r}: metadata key may not contain '\"' or '\\'")
        path = f'$."{meta_key}"'
        return f"{_META_TEXT} GLOB ?", [path, path, glob(value)]
    raise ConfigError(
        f"selector field {key!r} unknown; expected ident, name, protocol, enabled or metadata.<key>"
    )
