"""Plots are saved as palette PNGs: the same picture in fewer bytes."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from vidcodec import figures


def test_a_plot_is_saved_in_256_colours_looking_the_same_and_smaller(tmp_path):
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.linspace(0.001, 0.1, 50)
    for k in range(6):
        ax.plot(x, 20 + k + 10 * np.log(x * 100), "o-", label=f"curve {k}")
    ax.set_xscale("log")
    ax.legend()
    ax.grid(True, alpha=0.3)
    full = io.BytesIO()
    fig.savefig(full, format="png", dpi=90, facecolor="white")
    out = figures.save_png(fig, tmp_path / "rd.png", dpi=90)
    plt.close(fig)
    with Image.open(out) as small, Image.open(full) as ref:
        assert small.mode == "P" and small.size == ref.size
        a = np.asarray(small.convert("RGB"), dtype=np.int16)
        b = np.asarray(ref.convert("RGB"), dtype=np.int16)
    assert np.abs(a - b).mean() < 1.0  # the same picture to the eye
    assert out.stat().st_size < 0.8 * len(full.getvalue())
