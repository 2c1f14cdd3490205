"""Saving matplotlib figures as compact PNGs.

Plots (rate–distortion curves, training curves) are lines and text on white: rendered to 256
colours they look the same and take about a third of the bytes of matplotlib's RGBA output (an RD
plot of three clips: 222 → 74 KB). The repository keeps dozens of them, and everything it tracks
travels with every call to a lent GPU machine, whose limit is 64 MiB.
"""

from __future__ import annotations

import io
from pathlib import Path

from .outputs import write_file

COLOURS = 256


def save_png(fig, path: str | Path, dpi: int) -> Path:
    """Write ``fig`` (a matplotlib figure) to ``path`` as a palette PNG of at most :data:`COLOURS` colours."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    buf.seek(0)
    compact(Image.open(buf), path)
    return Path(path)


def compact(image, path: str | Path) -> None:
    """Save a PIL image as a palette PNG (alpha flattened onto white)."""
    from PIL import Image

    rgb = image.convert("RGBA")
    flat = Image.new("RGB", rgb.size, "white")
    flat.paste(rgb, mask=rgb.getchannel("A"))
    buf = io.BytesIO()
    flat.quantize(COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, "PNG", optimize=True)
    write_file(path, buf.getvalue())  # whole or not at all (a full disk)


if __name__ == "__main__":  # python -m vidcodec.figures PNG...: recompress saved plots in place
    import sys

    from PIL import Image

    for name in sys.argv[1:]:
        with Image.open(name) as im:
            im.load()
            compact(im, name)
