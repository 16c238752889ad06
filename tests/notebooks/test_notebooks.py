"""Every notebook runs top to bottom, and its figures render in a real browser.

Each notebook is executed once (nbclient, a real IPython kernel, cwd = ``notebooks/``):
a cell that raises fails the test, so the notebooks' own ``assert`` cells are checks too.
Every PNG it draws must decode and show something; the executed notebook is then exported
to HTML (nbconvert, outputs only) and rendered in headless Chromium, with and without its
images: the figures must change the picture (see :func:`tests.render.drawn_image_share`).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image

from tests.render import chromium, drawn_image_share

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

FOLDER = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))


def _pngs(notebook: Any) -> list[np.ndarray]:
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if data:
                found.append(image.imread(io.BytesIO(base64.b64decode(data)), format="png"))
    return found


def test_there_are_six_notebooks() -> None:
    assert len(NOTEBOOKS) == 6, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_its_figures_render(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "commit notebooks without outputs"
    )
    client = nbclient.NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(FOLDER)}}
    )
    client.execute()
    pictures = _pngs(notebook)
    assert pictures, f"{path.name} draws no figure"
    for pixels in pictures:
        assert min(pixels.shape[:2]) > 100
        assert float(pixels[..., :3].std()) > 0.02  # not a blank canvas
    chromium()  # skips here when no browser is installed
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(exclude_input=True).from_notebook_node(notebook)
    assert body.count("data:image/png;base64,") >= len(pictures)
    assert drawn_image_share(body, tmp_path, height=12000) > 0.001  # figures drew in the browser
