"""The HTML report is one offline file, and it renders in a real browser."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from matplotlib.figure import Figure

from telebench.errors import ConfigError
from telebench.report import Report
from tests.render import screenshot, share_of


def _chart() -> Figure:
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    ax.fill_between([0, 1, 2, 3], [0, 3, 1, 2], color="tab:orange")
    return fig


def test_report_inlines_figures_and_escapes_text(tmp_path: Path) -> None:
    png = tmp_path / "given.png"
    _chart().savefig(png)
    frame = pl.DataFrame({"ident": ["<a>", "b"], "distance": [1.23456, 2.0], "n": [1234, 5]})
    text = (
        Report("Run <1>", subtitle="sub")
        .headline({"records": 1_234_567, "F1": 0.98765})
        .section("Maps & charts", "text")
        .figure(_chart(), "made here")
        .figure(png, "from a file")
        .table(frame, "devices", max_rows=1)
        .html()
    )
    assert text.count("data:image/png;base64,") == 2
    assert "Run &lt;1&gt;" in text
    assert "Maps &amp; charts" in text
    assert "<b>1,234,567</b>" in text
    assert "<b>0.988</b>" in text
    assert "<td>&lt;a&gt;</td><td>1.235</td><td>1,234</td>" in text
    assert "(first 1 of 2 rows)" in text
    assert "<td>b</td>" not in text
    assert "<script" not in text
    assert "http:" not in text
    assert "https:" not in text


def test_a_figure_file_must_be_png(tmp_path: Path) -> None:
    bogus = tmp_path / "x.png"
    bogus.write_text("not a picture")
    with pytest.raises(ConfigError, match="not a PNG"):
        Report("r").figure(bogus)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    page = Report("Render check").headline({"ok": 1}).figure(_chart(), "orange")
    pixels = screenshot(page.write(tmp_path / "r.html"), tmp_path / "shot.png", height=900)
    assert pixels.shape[1] == 1280
    assert share_of(pixels, (0.09, 0.20, 0.30)) > 0.05  # the header band
    assert share_of(pixels, (1.0, 0.50, 0.05)) > 0.02  # the orange chart (tab:orange)
