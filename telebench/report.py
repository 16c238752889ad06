"""Self-contained HTML reports: key figures, charts and tables in one file that opens offline.

Charts are inlined as PNG (``data:`` URIs), styles are inline, and there is no script and
no external request, so a report opens from disk, from an e-mail attachment or in a
headless browser with no network. Built by chaining calls, then written once.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import polars as pl
>>> from matplotlib.figure import Figure
>>> fig = Figure(figsize=(4, 2))
>>> _ = fig.subplots().plot([0, 1, 2], [3, 1, 2])
>>> report = (
...     Report("Fleet run", subtitle="3 vehicles, 1 h")
...     .headline({"records": 1200, "lost": 0, "trips F1": 0.99})
...     .section("Load", "Records per second and ack latency.")
...     .figure(fig, "throughput")
...     .table(pl.DataFrame({"ident": ["a", "b"], "trips": [3, 4]}), "trips per device")
... )
>>> path = report.write(Path(tempfile.mkdtemp()) / "report.html")
>>> text = path.read_text()
>>> "data:image/png;base64," in text, "<td>a</td>" in text, "http:" in text
(True, True, False)
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path

import polars as pl
from matplotlib.figure import Figure

from telebench.errors import ConfigError

__all__ = ["Report"]

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2733;
background:#f4f6f8}
header{background:#17324d;color:#fff;padding:22px 36px}
header h1{margin:0;font-size:26px}header p{margin:4px 0 0;opacity:.8}
main{max-width:1180px;margin:0 auto;padding:12px 36px 48px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}
.card{background:#fff;border-radius:8px;padding:12px 16px;min-width:130px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
.card b{display:block;font-size:22px}.card span{font-size:12px;color:#5a6b7d;
text-transform:uppercase;letter-spacing:.04em}
h2{margin:30px 0 6px;border-bottom:2px solid #d5dde5;padding-bottom:4px}
figure{background:#fff;margin:14px 0;padding:10px;border-radius:8px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
figure img{max-width:100%;display:block;margin:0 auto}
figcaption{font-size:13px;color:#5a6b7d;margin-top:6px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:10px 0}
th,td{padding:4px 10px;border-bottom:1px solid #e3e8ed;text-align:right}
th{background:#e9eef3}td:first-child,th:first-child{text-align:left}
footer{font-size:12px;color:#5a6b7d;margin-top:36px}
"""


def _cell(value: object) -> str:
    if isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else f"{value:g}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        text = "" if value is None else str(value)
    return html.escape(text)


def _png(fig: Figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


class Report:
    """An HTML report under construction; every adding method returns the report itself."""

    def __init__(self, title: str, *, subtitle: str = "", footer: str = "") -> None:
        self.title, self.subtitle, self.footer = title, subtitle, footer
        self._parts: list[str] = []

    def headline(self, figures: Mapping[str, object]) -> Report:
        """Key figures as cards: ``{"records": 1200, "lost": 0}``."""
        cards = "".join(
            f'<div class="card"><b>{_cell(value)}</b><span>{html.escape(name)}</span></div>'
            for name, value in figures.items()
        )
        self._parts.append(f'<div class="cards">{cards}</div>')
        return self

    def section(self, heading: str, text: str = "") -> Report:
        """A heading and an optional paragraph (plain text, escaped)."""
        self._parts.append(f"<h2>{html.escape(heading)}</h2>")
        if text:
            self._parts.append(f"<p>{html.escape(text)}</p>")
        return self

    def figure(self, figure: Figure | Path, caption: str = "", *, dpi: int = 110) -> Report:
        """A matplotlib figure (rendered to PNG) or an existing PNG file, inlined."""
        if isinstance(figure, Path):
            data = figure.read_bytes()
            if data[:8] != b"\x89PNG\r\n\x1a\n":
                raise ConfigError(f"report figure {figure} is not a PNG file")
        else:
            data = _png(figure, dpi)
        encoded = base64.b64encode(data).decode("ascii")
        alt = html.escape(caption or "chart")
        self._parts.append(
            f'<figure><img alt="{alt}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        return self

    def table(self, frame: pl.DataFrame, caption: str = "", *, max_rows: int = 25) -> Report:
        """The first ``max_rows`` rows of ``frame`` (the caption says how many were left out)."""
        shown = frame.head(max_rows)
        head = "".join(f"<th>{html.escape(name)}</th>" for name in shown.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
            for row in shown.iter_rows()
        )
        more = frame.height - shown.height
        note = f" (first {shown.height:,} of {frame.height:,} rows)" if more > 0 else ""
        self._parts.append(
            f"<table><caption>{html.escape(caption + note)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
        return self

    def html(self) -> str:
        """The whole document."""
        subtitle = f"<p>{html.escape(self.subtitle)}</p>" if self.subtitle else ""
        footer = f"<footer>{html.escape(self.footer)}</footer>" if self.footer else ""
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
            f"<body><header><h1>{html.escape(self.title)}</h1>{subtitle}</header>"
            f"<main>{''.join(self._parts)}{footer}</main></body></html>\n"
        )

    def write(self, path: Path) -> Path:
        """Write the document to ``path`` (UTF-8) and return the path."""
        path.write_text(self.html(), encoding="utf-8")
        return path
