"""``telebench params``: the parameter registry, as a table or JSON."""

from __future__ import annotations

import json

import click

from telebench.params import PARAMS, Param
from telebench.protocols import PROTOCOLS

__all__ = ["params_command"]


def _row(param: Param, protocol: str | None) -> dict[str, object]:
    sources = {
        s.protocol: s.field + (f" / {s.divisor}" if s.divisor != 1 else "")
        for s in param.sources
        if protocol is None or s.protocol == protocol
    }
    return {
        "name": param.name,
        "type": param.type,
        "unit": param.unit or "",
        "description": param.description,
        "sources": sources,
    }


@click.command("params")
@click.option(
    "--protocol",
    "-p",
    type=click.Choice(sorted(PROTOCOLS)),
    help="Only parameters this protocol sends, with its raw field.",
)
@click.option("--search", "-s", help="Only names or descriptions containing this text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
def params_command(protocol: str | None, search: str | None, as_json: bool) -> None:
    """List message parameters: flespi name, type, unit, meaning and raw source per protocol.

    \b
    Examples:
      telebench params                       # everything
      telebench params -p teltonika          # what a Teltonika device sends, by AVL id
      telebench params -s voltage --json
    """
    rows = [
        _row(p, protocol)
        for p in PARAMS.values()
        if (protocol is None or p.source(protocol) is not None)
        and (search is None or search.lower() in (p.name + " " + p.description).lower())
    ]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    width = max((len(str(r["name"])) for r in rows), default=4)
    for row in rows:
        sources = row["sources"]
        assert isinstance(sources, dict)
        where = "; ".join(f"{k}: {v}" for k, v in sources.items())
        unit = f" [{row['unit']}]" if row["unit"] else ""
        click.echo(f"{row['name']:<{width}}  {row['type']:<7}  {row['description']}{unit}")
        if where:
            click.echo(f"{'':<{width}}           {where}")
