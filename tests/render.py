"""Open HTML headless in Chromium and screenshot it: proof that a page really renders.

CI installs Debian's ``chromium`` (see ``.ci/run``); elsewhere the render tests skip when
no Chromium is on the PATH. The flags keep Chromium off the network (this machine has none).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str:
    """The Chromium binary, or skip the calling test."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed (CI installs it: apt-get install chromium)")


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 2400) -> np.ndarray:
    """Render ``page`` headless into ``out`` (PNG) and return its pixels (H x W x C floats)."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium(), *_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}",
             f"--window-size={width},{height}", page.resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    pixels: np.ndarray = image.imread(out)
    return pixels


def share_of(pixels: np.ndarray, rgb: tuple[float, float, float], tol: float = 0.08) -> float:
    """Share of pixels within ``tol`` of colour ``rgb`` (0..1 floats)."""
    near = np.abs(pixels[..., :3] - np.asarray(rgb)).max(axis=-1) <= tol
    return float(near.mean())


def drawn_image_share(html_text: str, folder: Path, *, height: int = 6000) -> float:
    """Share of the screenshot that changes when the page's inline PNGs are blanked out.

    Chromium renders the page twice: as given, and with every ``data:image/png`` source
    emptied (a broken image). Figures that really decode and draw make the two differ; if
    they failed to draw, both show the same broken images and the share is ~0.
    """
    blank = re.sub(r'src="data:image/png;base64,[^"]*"', 'src=""', html_text)
    shots = []
    for name, text in (("with", html_text), ("without", blank)):
        page = folder / f"{name}.html"
        page.write_text(text, encoding="utf-8")
        shots.append(screenshot(page, folder / f"{name}.png", height=height))
    return float((np.abs(shots[0] - shots[1]).max(axis=-1) > 0.1).mean())
