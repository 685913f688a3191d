"""The HTML report opens in headless Chromium (Debian's `chromium`) and its three plots render."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from backtest.engine import BacktestOptions, StrategyParams, replay
from backtest.report import to_html
from backtest.results import build_report
from backtest.synthetic import generate
from tests.backtest.busy import busy

CHROMIUM = shutil.which("chromium")
# matplotlib's tab colours the three plots draw with: the strategy's equity, the PnL bars, the Monte Carlo fan
PLOT_COLOURS = {"equity line": (31, 119, 180), "PnL histogram": (44, 160, 44), "Monte Carlo median": (148, 103, 189)}


def colour_pixels(image: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> int:
    return int((np.abs(image[:, :, :3].astype(int) - np.array(rgb)).max(axis=2) <= tol).sum())


@pytest.mark.timeout(180)
def test_report_renders_its_plots_in_headless_chromium(tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed although `make setup` should have installed it")
        pytest.skip("chromium is not installed (make setup installs it)")
    history = generate(busy(1, 1))
    report = build_report(history, replay(history), StrategyParams(), BacktestOptions())
    page = tmp_path / "backtest.html"
    page.write_text(to_html(report), encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,3600",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", page.as_uri()],
        check=True, timeout=150, capture_output=True,
    )
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[0] >= 3000
    counts = {name: colour_pixels(image, rgb) for name, rgb in PLOT_COLOURS.items()}
    assert all(n > 200 for n in counts.values()), counts
    # and the synthetic banner (its yellow background) is on the page
    assert colour_pixels(image, (255, 238, 153), tol=4) > 5_000
