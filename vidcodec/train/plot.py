"""PNG plots of a run's training curves (log.csv and val.csv)."""

from __future__ import annotations

import csv
from pathlib import Path

from .. import figures


def _read(path: Path) -> dict[str, list[float]]:
    if not path.exists():
        return {}
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


def training_curves(run: Path) -> Path | None:
    """Write ``run``/curves.png: training loss/bpp/PSNR and per-level validation bpp and PSNR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log, val = _read(run / "log.csv"), _read(run / "val.csv")
    if not log.get("step"):
        return None
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ax[0].plot(log["step"], log["loss"], label="train loss")
    if val.get("step"):
        ax[0].plot(val["step"], val["loss"], "o-", label="val loss")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("step")
    ax[0].legend()
    # one colour per level in both panels (matplotlib's cycle had shifted by the train line between them)
    ax[1].plot(log["step"], log["psnr"], color="0.5", label="train PSNR (mixed levels)")
    levels = sorted(int(k[4:]) for k in val if k.startswith("psnr"))
    for i in levels:
        ax[1].plot(val["step"], val[f"psnr{i}"], ".-", color=f"C{i % 10}", label=f"val q{i}")
    ax[1].set_xlabel("step")
    ax[1].set_ylabel("PSNR (dB)")
    ax[1].legend(fontsize=7)
    ax[2].plot(log["step"], log["bpp"], color="0.5", label="train bpp (mixed levels)", alpha=0.5)
    for i in levels:
        ax[2].plot(val["step"], val[f"bpp{i}"], ".-", color=f"C{i % 10}", label=f"val q{i}")
    ax[2].set_yscale("log")
    ax[2].set_xlabel("step")
    ax[2].set_ylabel("bpp")
    ax[2].legend(fontsize=7)
    fig.suptitle(run.name)
    fig.tight_layout()
    out = run / "curves.png"
    figures.save_png(fig, out, dpi=80)
    plt.close(fig)
    return out
