"""Turn a training checkpoint into shipped weights: transforms + integer coding tables.

This is the one place where probabilities are computed with floats; what it writes is
integers, which every decoder then uses as they are.

    python -m vidcodec.train.package runs/vaegan-s/best.safetensors vidcodec/weights
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

from ..coding.tables import IntTables, from_pmfs, laplace_tables, to_tensors
from ..errors import UsageError, VidcodecError
from ..models.card import check_name
from ..models.layers import FactorizedDensity
from ..models.zoo import file_sha256
from ..outputs import usual_mode
from . import checkpoint

log = logging.getLogger("vidcodec")

# Temporal residual tables: row 0 is unused (a channel with selector 0 sends no symbols).
DELTA_SCALES = np.concatenate([[0.05], 0.05 * 2.0 ** (np.arange(1, 15) * 0.6)])
TAIL = 2.0**-16  # probability mass left to the escape symbol on each side
GRID = 2048  # largest |symbol| considered when building key tables


@torch.no_grad()
def key_tables(density: FactorizedDensity) -> IntTables:
    """Per-channel integer tables of a learned factorized density over integer symbols."""
    c = density.channels
    k = torch.arange(-GRID, GRID + 1, dtype=torch.float32)
    lower = density.cdf_logits((k - 0.5).expand(c, -1))
    upper = density.cdf_logits((k + 0.5).expand(c, -1))
    sign = -torch.sign(lower + upper)
    pmf = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs().double().numpy()
    cdf_low = torch.sigmoid(lower).double().numpy()  # P(Y < k - 0.5)
    cdf_high = torch.sigmoid(upper).double().numpy()  # P(Y < k + 0.5)
    offsets, pmfs, tails = [], [], []
    for ch in range(c):
        inside = np.flatnonzero((cdf_high[ch] > TAIL) & (cdf_low[ch] < 1.0 - TAIL))
        lo, hi = (inside[0], inside[-1]) if inside.size else (GRID, GRID)
        lo, hi = max(lo - 1, 0), min(hi + 1, 2 * GRID)
        p = pmf[ch, lo : hi + 1]
        offsets.append(int(lo - GRID))
        pmfs.append(p)
        tails.append(max(1.0 - p.sum(), 0.0))
    return from_pmfs(offsets, pmfs, tails)


def package(ckpt: Path, out_dir: Path, name: str | None = None, notes: dict | None = None,
            default_quality: int | None = None) -> Path:
    """Write ``NAME.safetensors`` and ``NAME.json`` into ``out_dir``; return the weights path.
    UsageError (nothing written) for a checkpoint that is not there or a default quality off its ladder."""
    if name:
        check_name(name)
    model, meta = checkpoint.load_vaegan(ckpt)
    config = model.config
    if name:
        config.name = name
    if default_quality is not None and not 1 <= default_quality <= config.levels:
        raise UsageError(f"--default-quality must be in 1..{config.levels}, this model's levels (got {default_quality})")
    if out_dir.suffix in (".safetensors", ".json"):
        raise UsageError(f"{out_dir}: give the folder to write into; the files are named after the model "
                         f"({config.name}.safetensors and .json; --name sets it)")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file; give the folder to write the model into")
    model.eval()
    tensors: dict[str, np.ndarray] = {}
    for prefix, module in (("analysis", model.analysis), ("synthesis", model.synthesis)):
        for k, v in module.state_dict().items():
            tensors[f"{prefix}.{k}"] = v.detach().cpu().numpy().astype(np.float32)
    tensors["log_gain"] = model.log_gain.detach().numpy().astype(np.float32)
    for level, density in enumerate(model.densities):
        tensors.update(to_tensors(f"key.{level}", key_tables(density)))
    tensors.update(to_tensors("delta", laplace_tables(DELTA_SCALES)))
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{config.name}.safetensors"
    tmp = weights.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"name": config.name})
    usual_mode(tmp)
    sha256 = file_sha256(tmp)
    keep_earlier(weights, sha256)
    os.replace(tmp, weights)
    card = {
        "name": config.name,
        "config": config.to_dict(),
        "sha256": sha256,
        "training": {k: meta[k] for k in ("step", "lambdas", "distortion", "val", "train") if k in meta},
        **(notes or {}),
    }
    if default_quality is not None:
        card["default_quality"] = default_quality
    weights.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return weights


def keep_earlier(weights: Path, new_sha256: str) -> None:
    """Other weights under the same name become ``NAME@HASH12`` (.safetensors, .json and their side files:
    predictor table, int8 ranges, 14.x gains) beside it, as
    the shipped models' earlier weights are kept: streams name their model by hash, and those made
    with the earlier weights still decode."""
    card = weights.with_suffix(".json")
    old = file_sha256(weights) if weights.exists() else new_sha256
    if old == new_sha256:
        return
    kept = weights.with_name(f"{weights.stem}@{old[:12]}.safetensors")
    os.replace(weights, kept)
    if card.exists():
        os.replace(card, kept.with_suffix(".json"))
    # its side files belong to those weights (a predictor table is fitted on a model's latent; its
    # streams name it), and a new model gets its own
    from ..codec.subpel import legacy_path, table_path
    from ..int8 import ranges_path

    for side in (table_path, ranges_path, legacy_path):
        if side(weights).exists():
            os.replace(side(weights), side(kept))
    log.warning("kept the earlier %s as %s, so that its streams still decode", weights.name, kept.name)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vidcodec.train.package", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--name")
    p.add_argument("--default-quality", type=int, help="the level `vidcodec encode` uses without --quality")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(package(a.checkpoint, a.out_dir, a.name, default_quality=a.default_quality))
    except VidcodecError as e:
        p.exit(e.exit_code, f"{p.prog}: error: {e}\n")
    except OSError as e:  # a folder that cannot be made or written
        p.exit(1, f"{p.prog}: error: cannot write the model into {a.out_dir}: {e.strerror or e}\n")


if __name__ == "__main__":
    main()
